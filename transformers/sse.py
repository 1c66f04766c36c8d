"""Server-sent events: an incremental decoder for upstream bytes and the framing of outgoing events.

The decoder follows the WHATWG event-stream grammar: lines end with CRLF, LF or CR; ``data:`` lines accumulate;
a blank line dispatches; lines starting with ``:`` are comments. Chunks may split anywhere, including between the
CR and LF of one line ending or inside a multi-byte UTF-8 character.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import Any

import orjson

_LINE_END = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class SSEMessage:
    event: str | None
    data: str

    def json(self) -> Any:
        return orjson.loads(self.data)


class SSEDecoder:
    """``decode(chunk) -> [SSEMessage]`` as bytes arrive, ``flush() -> [SSEMessage]`` at the end of the stream."""

    def __init__(self) -> None:
        self._text = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
        self._trailing_cr = False
        self._event: str | None = None
        self._data: list[str] = []

    def decode(self, chunk: bytes) -> list[SSEMessage]:
        text = self._text.decode(chunk)
        if self._trailing_cr and text.startswith("\n"):
            text = text[1:]
        if text:
            self._trailing_cr = text.endswith("\r")
        # str.splitlines() would also split on U+2028 and other characters that JSON strings may hold raw.
        *lines, self._pending = _LINE_END.split(self._pending + text)
        messages: list[SSEMessage] = []
        for line in lines:
            message = self._line(line)
            if message is not None:
                messages.append(message)
        return messages

    def flush(self) -> list[SSEMessage]:
        messages = self.decode(b"\n") if self._pending else []
        end = self._line("")
        return messages + ([end] if end is not None else [])

    def _line(self, line: str) -> SSEMessage | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        return None

    def _dispatch(self) -> SSEMessage | None:
        if not self._data:
            self._event = None
            return None
        message = SSEMessage(self._event, "\n".join(self._data))
        self._event = None
        self._data = []
        return message


def frame_data(payload: dict[str, Any]) -> bytes:
    """A ``data:``-only event, as Chat Completions streams use."""
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def frame_named(payload: dict[str, Any]) -> bytes:
    """An event whose ``event:`` line repeats the payload's ``type``, as Anthropic and Responses streams use."""
    return b"event: " + str(payload["type"]).encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


DONE = b"data: [DONE]\n\n"
