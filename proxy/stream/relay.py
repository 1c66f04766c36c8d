"""Relaying a provider's answer to the client unchanged, chunk by chunk as it arrives, and relaying a chat answer
while keeping it (`relay_recorded_sse`, `relay_recorded_json`: see `recording`)."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Protocol

from aiohttp import web

from plano_proxy.proxy.exchange import Exchange
from plano_proxy.proxy.stream.outlets import ClientOutlet
from plano_proxy.proxy.stream.recording import ChatStreamRecording, finish_reason_of, recorded_completion
from plano_proxy.proxy.stream.usage_tap import StreamUsageTap, UsageReader, read_chat_usage, usage_of_body
from plano_proxy.proxy.upstream.client import rate_limit_headers
from plano_proxy.proxy.upstream.http1_answer import UpstreamAnswer, UpstreamCut
from plano_proxy.transformers.anthropic_encoder import anthropic_error_event
from plano_proxy.transformers.chat_encoder import chat_error_chunk
from plano_proxy.transformers.error_types import STREAM_CUT
from plano_proxy.transformers.sse import frame_data, frame_named

# Headers of an upstream answer that describe the provider's request and are worth passing on (with its rate-limit
# state).
_PASSED_ON = ("request-id", "openai-processing-ms")


async def relay_json(
    exchange: Exchange, upstream: UpstreamAnswer, read_usage: UsageReader | None = None
) -> web.Response:
    body = await upstream.read()
    if read_usage is not None and (usage := usage_of_body(body, read_usage)) is not None:
        exchange.note_usage(usage)
    return web.Response(
        body=body, status=upstream.status, content_type="application/json", headers=_passed_on(upstream)
    )


async def relay_sse(
    exchange: Exchange,
    outlet: ClientOutlet,
    upstream: UpstreamAnswer,
    cut_error: bytes,
    read_usage: UsageReader,
) -> web.StreamResponse:
    """Stream the upstream's SSE bytes through; a cut upstream ends the stream with `cut_error`."""
    outlet.add_headers(_passed_on(upstream))
    await outlet.open()
    tap = StreamUsageTap(read_usage)
    with exchange.open_stream(), traced_relay(exchange):
        try:
            async for chunk in upstream.chunks():
                exchange.note_first_byte()
                tap.feed(chunk)
                await outlet.write(chunk)
        except (UpstreamCut, TimeoutError):
            await outlet.write(cut_error)
        finally:
            if tap.usage is not None:
                exchange.note_usage(tap.usage)
        await outlet.write_eof()
    return outlet.response


class AnswerKeeper(Protocol):
    """Stores a relayed answer as it was sent; returns once it is committed."""

    async def commit(self, answer: bytes, finish_reason: str | None) -> None: ...


async def relay_recorded_json(
    exchange: Exchange, upstream: UpstreamAnswer, completion_id: str, keeper: AnswerKeeper
) -> web.Response:
    """A whole chat completion with the gateway's id, sent once the keeper has committed it."""
    answer, completion = recorded_completion(await upstream.read(), completion_id)
    if completion is not None:
        if (usage := read_chat_usage(completion)) is not None:
            exchange.note_usage(usage)
        await keeper.commit(answer, finish_reason_of(completion))
    return web.Response(
        body=answer, status=upstream.status, content_type="application/json", headers=_passed_on(upstream)
    )


async def relay_recorded_sse(
    exchange: Exchange,
    outlet: ClientOutlet,
    upstream: UpstreamAnswer,
    completion_id: str,
    keeper: AnswerKeeper,
) -> web.StreamResponse:
    """A chat stream with the gateway's id, its end held back until the keeper has committed it. A stream that is
    cut, or never reaches its end, is not kept."""
    outlet.add_headers(_passed_on(upstream))
    await outlet.open()
    tap = StreamUsageTap(read_chat_usage)
    recording = ChatStreamRecording(completion_id)
    with exchange.open_stream(), traced_relay(exchange):
        try:
            async for chunk in upstream.chunks():
                exchange.note_first_byte()
                tap.feed(chunk)
                if passed := recording.feed(chunk):
                    await outlet.write(passed)
        except (UpstreamCut, TimeoutError):
            await outlet.write(recording.release() + CHAT_STREAM_CUT)
        else:
            recording.finish()
            if recording.complete:
                await keeper.commit(recording.answer, recording.finish_reason)
            await outlet.write(recording.release())
        finally:
            if tap.usage is not None:
                exchange.note_usage(tap.usage)
        await outlet.write_eof()
    return outlet.response


# The same error, in the same shape, as a translated stream that is cut ends with (see `error_types.STREAM_CUT`).
CHAT_STREAM_CUT = frame_data(chat_error_chunk(STREAM_CUT))
ANTHROPIC_STREAM_CUT = frame_named(anthropic_error_event(STREAM_CUT))


def traced_relay(exchange: Exchange) -> AbstractContextManager[None]:
    """The relay's span under the upstream attempt's, when tracing is on."""
    return nullcontext() if exchange.trace is None else exchange.trace.relay()


def _passed_on(upstream: UpstreamAnswer) -> dict[str, str]:
    own = {name: upstream.headers[name] for name in _PASSED_ON if name in upstream.headers}
    return {**own, **rate_limit_headers(upstream)}
