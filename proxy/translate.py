"""Running a translated request: provider bytes → SSE decoder → provider decoder → client encoder → framer → client.

Every upstream chunk is decoded and re-encoded as it arrives; nothing waits for the end of the upstream stream.
A non-streaming request feeds the provider's whole answer through the same encoder, so both cannot drift apart.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping
from typing import Any, Protocol

import aiohttp
import orjson
from aiohttp import web

from plano_proxy.proxy.app_keys import BACKGROUND_TASKS, SESSION
from plano_proxy.proxy.config import ProviderConfig
from plano_proxy.proxy.ignored_params import note_ignored
from plano_proxy.proxy.metrics import note_first_byte, note_upstream_error, note_usage, open_stream
from plano_proxy.proxy.provider_calls import UpstreamCall
from plano_proxy.proxy.relay import SSE_HEADERS
from plano_proxy.proxy.upstream import open_upstream
from plano_proxy.transformers.canonical import Event, StreamError, Usage
from plano_proxy.transformers.error_types import STREAM_CUT
from plano_proxy.transformers.sse import DONE, SSEDecoder, frame_data, frame_named

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


class Sink(Protocol):
    """Where framed bytes go: the client's response, or an `Outlet`."""

    async def write(self, data: bytes) -> None: ...

    async def write_eof(self, data: bytes = b"") -> None: ...


class Outlet(Sink, Protocol):
    def opened(self) -> None: ...


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


BeforeTerminal = Callable[[], Awaitable[None]]
OnAbort = Callable[[], Coroutine[Any, Any, None]]


async def run_whole(
    request: web.Request,
    provider: ProviderConfig,
    call: UpstreamCall,
    encoder: ClientEncoder,
    final_body: Callable[[], Payload],
    forwarded: Mapping[str, str] | None = None,
) -> Payload:
    """Send a non-streaming call and build the client's final body from the provider's whole answer."""
    note_ignored(request, call.ignored)
    async with open_upstream(request.app[SESSION], provider, call.operation, orjson.dumps(call.body), forwarded) as up:
        answer = orjson.loads(await up.read())
    for event in call.decode_whole(answer):
        if isinstance(event, Usage):
            note_usage(request, event)
        encoder.feed(event)
    encoder.finish()
    return final_body()


async def run_stream(
    request: web.Request,
    provider: ProviderConfig,
    call: UpstreamCall,
    encoder: ClientEncoder,
    framer: Framer,
    forwarded: Mapping[str, str] | None = None,
    before_terminal: BeforeTerminal | None = None,
    on_abort: OnAbort | None = None,
) -> web.StreamResponse:
    """Relay a streaming call; `before_terminal` runs (e.g. a durable store) before the terminal event is sent.

    When the client goes away mid-stream the handler is cancelled: leaving this block closes the upstream request
    at once, and `on_abort` (e.g. storing the partial answer) runs shielded from that cancellation.
    """
    note_ignored(request, call.ignored)
    body = orjson.dumps(call.body)
    async with open_upstream(request.app[SESSION], provider, call.operation, body, forwarded) as upstream:
        response = web.StreamResponse(status=200, headers=SSE_HEADERS)
        await response.prepare(request)
        with open_stream(request), _aborting(request, on_abort):
            await _pump(upstream, call, _Relay(request, response, encoder, framer, before_terminal))
    return response


async def stream_into(
    request: web.Request,
    provider: ProviderConfig,
    call: UpstreamCall,
    encoder: ClientEncoder,
    framer: Framer,
    outlet: Outlet,
    before_terminal: BeforeTerminal | None = None,
) -> None:
    """The same relay into an `outlet` of the caller's instead of the client's response (a background response
    that outlives its client); `outlet.opened()` is called once the provider has answered, before anything is sent."""
    note_ignored(request, call.ignored)
    body = orjson.dumps(call.body)
    async with open_upstream(request.app[SESSION], provider, call.operation, body) as upstream:
        outlet.opened()
        await _pump(upstream, call, _Relay(request, outlet, encoder, framer, before_terminal))


async def _pump(upstream: aiohttp.ClientResponse, call: UpstreamCall, relay: _Relay) -> None:
    decoder = call.new_decoder()
    sse = SSEDecoder()
    try:
        async for chunk in upstream.content.iter_any():
            await relay.send([e for message in sse.decode(chunk) for e in decoder.feed(message)])
            if relay.stopped:
                break
        else:
            await relay.send([e for message in sse.flush() for e in decoder.feed(message)] + decoder.finish())
    except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, TimeoutError):
        await relay.send([STREAM_CUT])
    await relay.close()


@contextlib.contextmanager
def _aborting(request: web.Request, on_abort: OnAbort | None) -> Iterator[None]:
    try:
        yield
    except (asyncio.CancelledError, ConnectionResetError):
        if on_abort is not None:
            # A task of its own, so the partial answer is kept although this handler is being cancelled.
            tasks = request.app[BACKGROUND_TASKS]
            task: asyncio.Task[None] = asyncio.get_running_loop().create_task(on_abort())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        raise


class _Relay:
    """Feeds canonical events to the client encoder and writes the framed result, holding the terminal event back
    until `before_terminal` has run."""

    def __init__(
        self,
        request: web.Request,
        response: Sink,
        encoder: ClientEncoder,
        framer: Framer,
        before: BeforeTerminal | None,
    ) -> None:
        self._request = request
        self._response = response
        self._encoder = encoder
        self._framer = framer
        self._before = before
        self.stopped = False

    async def send(self, events: list[Event]) -> None:
        if self.stopped:
            return
        for event in events:
            if isinstance(event, Usage):
                note_usage(self._request, event)
            elif isinstance(event, StreamError):
                note_upstream_error(self._request, event.status)
        payloads = [p for event in events for p in self._encoder.feed(event)]
        self.stopped = any(isinstance(event, StreamError) for event in events)
        await self._write(payloads)

    async def close(self) -> None:
        if not self.stopped:
            await self._write(self._encoder.finish())
        await self._response.write(self._framer.end())
        await self._response.write_eof()

    async def _write(self, payloads: list[Payload]) -> None:
        if not payloads:
            return
        note_first_byte(self._request)
        terminal = next((i for i, p in enumerate(payloads) if self._framer.is_terminal(p)), None)
        if terminal is None or self._before is None:
            await self._response.write(self._framer.frame(payloads))
            return
        # Frame (and so record) the terminal event first, so the stored turn holds the whole stream; send it only
        # once the turn is committed.
        head, tail = self._framer.frame(payloads[:terminal]), self._framer.frame(payloads[terminal:])
        await self._response.write(head)
        await self._before()
        self._before = None
        await self._response.write(tail)
