"""Running a translated request: provider bytes → SSE decoder → provider decoder → client encoder → framer → client.

Every upstream chunk is decoded and re-encoded as it arrives; nothing waits for the end of the upstream stream.
A non-streaming request feeds the provider's whole answer through the same encoder, so both cannot drift apart.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

import orjson
from aiohttp import web

from plano_proxy.proxy.config import ProviderConfig
from plano_proxy.proxy.exchange import Exchange
from plano_proxy.proxy.stream.outlets import ClientOutlet, Outlet
from plano_proxy.proxy.upstream.calls import UpstreamCall
from plano_proxy.proxy.upstream.client import open_upstream
from plano_proxy.proxy.upstream.http1_answer import UpstreamAnswer, UpstreamCut
from plano_proxy.transformers.canonical import Event, StreamError, Usage
from plano_proxy.transformers.error_types import STREAM_CUT
from plano_proxy.transformers.framers import ClientEncoder, Framer, Payload
from plano_proxy.transformers.sse import SSEDecoder


class Keeper(Protocol):
    """How an answer is kept: `commit` runs before the terminal event is sent (acknowledged means durable), `abort`
    when the client goes away mid-stream."""

    async def commit(self) -> None: ...

    async def abort(self) -> None: ...


async def run_whole(
    exchange: Exchange,
    provider: ProviderConfig,
    call: UpstreamCall,
    encoder: ClientEncoder,
    forwarded: Mapping[str, str] | None = None,
) -> None:
    """Send a non-streaming call and feed the provider's whole answer to `encoder`, which then holds the answer."""
    exchange.note_ignored(call.ignored)
    body, trace = orjson.dumps(call.body), exchange.trace
    async with open_upstream(exchange.upstream_pool, provider, call.operation, body, forwarded, trace) as up:
        answer = orjson.loads(await up.read())
        events = call.decode_whole(answer)
        if trace is not None:
            trace.note_events(events)
        for event in events:
            if isinstance(event, Usage):
                exchange.note_usage(event)
            encoder.feed(event)
    encoder.finish()


async def stream_to_client(
    exchange: Exchange,
    outlet: ClientOutlet,
    provider: ProviderConfig,
    call: UpstreamCall,
    stream: Stream,
    forwarded: Mapping[str, str] | None = None,
) -> web.StreamResponse:
    """Relay a streaming call to the client. When the client goes away mid-stream the handler is cancelled: leaving
    the upstream block closes the provider's request at once, and the keeper's `abort` (storing the partial answer)
    runs in a task of its own, which that cancellation cannot reach."""
    await _relay_upstream(exchange, provider, call, stream, outlet, forwarded, abortable=True)
    return outlet.response


async def stream_in_background(
    exchange: Exchange, provider: ProviderConfig, call: UpstreamCall, stream: Stream, outlet: Outlet
) -> None:
    """The same relay into an outlet that is not the client's (a background response outlives its client)."""
    await _relay_upstream(exchange, provider, call, stream, outlet, None, abortable=False)


@dataclass(frozen=True, slots=True)
class Stream:
    """One streamed answer's stages after the provider decoder: the client encoder, the framer and the keeper."""

    encoder: ClientEncoder
    framer: Framer
    keeper: Keeper | None = None


async def _relay_upstream(
    exchange: Exchange,
    provider: ProviderConfig,
    call: UpstreamCall,
    stream: Stream,
    outlet: Outlet,
    forwarded: Mapping[str, str] | None,
    *,
    abortable: bool,
) -> None:
    exchange.note_ignored(call.ignored)
    body, trace = orjson.dumps(call.body), exchange.trace
    async with open_upstream(exchange.upstream_pool, provider, call.operation, body, forwarded, trace) as up:
        await outlet.open()
        with exchange.open_stream(), _aborting(exchange, stream.keeper if abortable else None):
            if trace is None:
                await _pump(up, call, _Relay(exchange, outlet, stream))
                return
            with trace.relay():
                await _pump(up, call, _Relay(exchange, outlet, stream))


async def _pump(upstream: UpstreamAnswer, call: UpstreamCall, relay: _Relay) -> None:
    decoder = call.new_decoder()
    sse = SSEDecoder()
    try:
        async for chunk in upstream.chunks():
            await relay.send([e for message in sse.decode(chunk) for e in decoder.feed(message)])
            if relay.stopped:
                break
        else:
            await relay.send([e for message in sse.flush() for e in decoder.feed(message)] + decoder.finish())
    except (UpstreamCut, TimeoutError):
        await relay.send([STREAM_CUT])
    await relay.close()


@contextlib.contextmanager
def _aborting(exchange: Exchange, keeper: Keeper | None) -> Iterator[None]:
    try:
        yield
    except (asyncio.CancelledError, ConnectionResetError):
        if keeper is not None:
            exchange.keep_running(keeper.abort())
        raise


class _Relay:
    """Feeds canonical events to the client encoder and writes the framed result, holding the terminal event back
    until the keeper has committed the answer."""

    def __init__(self, exchange: Exchange, outlet: Outlet, stream: Stream) -> None:
        self._exchange = exchange
        self._outlet = outlet
        self._encoder = stream.encoder
        self._framer = stream.framer
        self._keeper = stream.keeper
        self.stopped = False

    async def send(self, events: list[Event]) -> None:
        if self.stopped:
            return
        if self._exchange.trace is not None:
            self._exchange.trace.note_events(events)
        for event in events:
            if isinstance(event, Usage):
                self._exchange.note_usage(event)
            elif isinstance(event, StreamError):
                self._exchange.note_upstream_error(event.status)
        payloads = [p for event in events for p in self._encoder.feed(event)]
        self.stopped = any(isinstance(event, StreamError) for event in events)
        await self._write(payloads)

    async def close(self) -> None:
        if not self.stopped:
            await self._write(self._encoder.finish())
        await self._outlet.write(self._framer.end())
        await self._outlet.write_eof()

    async def _write(self, payloads: list[Payload]) -> None:
        if not payloads:
            return
        self._exchange.note_first_byte()
        terminal = next((i for i, p in enumerate(payloads) if self._framer.is_terminal(p)), None)
        if terminal is None or self._keeper is None:
            await self._outlet.write(self._framer.frame(payloads))
            return
        # Frame (and so record) the terminal event first, so the stored turn holds the whole stream; send it only
        # once the turn is committed.
        head, tail = self._framer.frame(payloads[:terminal]), self._framer.frame(payloads[terminal:])
        await self._outlet.write(head)
        await self._keeper.commit()
        self._keeper = None
        await self._outlet.write(tail)
