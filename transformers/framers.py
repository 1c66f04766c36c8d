"""The last pure stages of a stream: client encoders combined, and framers that turn an encoder's payloads into the
client format's SSE bytes.

- Chat: ``data:`` lines; ``[DONE]`` after a clean end, nothing after an error chunk.
- Anthropic: ``event:`` + ``data:`` lines; never ``[DONE]``.
- Responses: ``event:`` + ``data:`` lines with ``sequence_number`` stamped here, and only here, as each event leaves;
  the stamped events are kept so a stored response can replay its stream.

A framer also says which payload is the terminal one, so the pump can hold it back until the answer is durable.
"""

from __future__ import annotations

from typing import Any, Protocol

from plano_proxy.transformers.canonical import Event
from plano_proxy.transformers.sse import DONE, frame_data, frame_named

Payload = dict[str, Any]


class ClientEncoder(Protocol):
    def feed(self, event: Event) -> list[Payload]: ...

    def finish(self) -> list[Payload]: ...


class TeeEncoder:
    """Feeds every event to two encoders and returns the first one's payloads (the second records, e.g. for the
    state store)."""

    def __init__(self, primary: ClientEncoder, recorder: ClientEncoder) -> None:
        self._primary = primary
        self._recorder = recorder

    def feed(self, event: Event) -> list[Payload]:
        self._recorder.feed(event)
        return self._primary.feed(event)

    def finish(self) -> list[Payload]:
        self._recorder.finish()
        return self._primary.finish()


class Framer(Protocol):
    """Turns a client encoder's payloads into the client format's SSE bytes."""

    def frame(self, payloads: list[Payload]) -> bytes: ...

    def end(self) -> bytes: ...

    def is_terminal(self, payload: Payload) -> bool: ...


class ChatFramer:
    """``data:`` lines only; ``[DONE]`` after a clean end, nothing after an error chunk."""

    def __init__(self) -> None:
        self._failed = False

    def frame(self, payloads: list[Payload]) -> bytes:
        self._failed = self._failed or any("error" in p for p in payloads)
        return b"".join(frame_data(p) for p in payloads)

    def end(self) -> bytes:
        return b"" if self._failed else DONE

    def is_terminal(self, payload: Payload) -> bool:
        """The finish chunk ends the answer; usage and ``[DONE]`` follow it."""
        return any(choice.get("finish_reason") for choice in payload.get("choices") or ())


class AnthropicFramer:
    """``event:`` + ``data:`` lines; never ``[DONE]``."""

    def frame(self, payloads: list[Payload]) -> bytes:
        return b"".join(frame_named(p) for p in payloads)

    def end(self) -> bytes:
        return b""

    def is_terminal(self, payload: Payload) -> bool:
        return False


RESPONSES_TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})


class ResponsesFramer:
    """``event:`` + ``data:`` lines with ``sequence_number`` stamped here, and only here, as each event leaves.

    The stamped events are kept in `sent` so a stored response can replay its stream later.
    """

    def __init__(self) -> None:
        self.sent: list[Payload] = []

    def frame(self, payloads: list[Payload]) -> bytes:
        out = []
        for payload in payloads:
            stamped = {**payload, "sequence_number": len(self.sent)}
            self.sent.append(stamped)
            out.append(frame_named(stamped))
        return b"".join(out)

    def end(self) -> bytes:
        return b""

    def is_terminal(self, payload: Payload) -> bool:
        return payload.get("type") in RESPONSES_TERMINAL
