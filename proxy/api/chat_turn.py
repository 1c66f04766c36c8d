"""A stored chat turn on an OpenAI-compatible provider: relayed byte for byte, kept as the exchange it was.

The answer goes to the client as the provider sent it, under the gateway's completion id (`stream.recording`), and
the turn is stored as the request the client sent and that answer (a `RecordedExchange`), committed before the
client sees the end of the answer. Nothing is translated on the way: the turn becomes Responses items only when a
later turn continues it or a client reads it (`plano_proxy.storage.exchange`).

A turn that continues a stored response (``metadata.response_id``) sends the stored history before the new messages,
so its upstream body is built from the canonical request (with the client's own ``stream_options``, so the stream
it gets is the one it asked for); its answer is relayed and kept the same way. Such a turn goes through the
translated path instead when a tool's name is too long for the provider: the provider is then sent a shortened name,
which a relayed answer would show the client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson
from aiohttp import web

from plano_proxy.proxy.api.state import TurnState, begin_turn, new_turn
from plano_proxy.proxy.exchange import Exchange
from plano_proxy.proxy.stream.outlets import ClientOutlet
from plano_proxy.proxy.stream.relay import (
    CHAT_STREAM_CUT,
    relay_json,
    relay_recorded_json,
    relay_recorded_sse,
    relay_sse,
)
from plano_proxy.proxy.stream.usage_tap import read_chat_usage
from plano_proxy.proxy.upstream.calls import upstream_call
from plano_proxy.proxy.upstream.client import open_upstream
from plano_proxy.proxy.upstream.routing import Route
from plano_proxy.proxy.web_json import unix_time
from plano_proxy.storage.base import RecordedExchange
from plano_proxy.transformers.canonical import CanonicalRequest
from plano_proxy.transformers.chat_record import chat_status
from plano_proxy.transformers.chat_request import ChatBody
from plano_proxy.transformers.chat_upstream import MAX_TOOL_NAME
from plano_proxy.transformers.ids import random_id


def relays_continuation(canonical: CanonicalRequest) -> bool:
    """Whether a continued turn's answer can be relayed: its tools keep their names on the way to the provider."""
    return all(len(tool.flat_name) <= MAX_TOOL_NAME for tool in canonical.tools)


async def relay_stored_turn(
    request: web.Request,
    exchange: Exchange,
    route: Route,
    body: ChatBody,
    canonical: CanonicalRequest,
    *,
    continued: Any,
    keep: bool,
) -> web.StreamResponse:
    """Relay the turn (continuing ``continued`` when it is not None) and, with ``keep``, store it as its exchange."""
    if continued is None:
        state = new_turn(request)
        upstream_body = orjson.dumps({**body, "model": route.provider.model})
    else:
        state = await begin_turn(request, {"previous_response_id": continued, "store": keep}, canonical)
        upstream_call_body = upstream_call(state.continued(canonical), route.provider).body
        upstream_body = orjson.dumps(_streamed_as_asked(upstream_call_body, body))
    stream = canonical.stream
    async with open_upstream(
        exchange.upstream_pool, route.provider, "chat", upstream_body, trace=exchange.trace
    ) as upstream:
        if not state.keep:
            if stream:
                return await relay_sse(exchange, ClientOutlet(request), upstream, CHAT_STREAM_CUT, read_chat_usage)
            return await relay_json(exchange, upstream, read_chat_usage)
        turn = RecordedTurn(state, route, random_id("chatcmpl-"), await request.read(), unix_time(), stream)
        if stream:
            return await relay_recorded_sse(exchange, ClientOutlet(request), upstream, turn.completion_id, turn)
        return await relay_recorded_json(exchange, upstream, turn.completion_id, turn)


def _streamed_as_asked(upstream: dict[str, Any], body: ChatBody) -> dict[str, Any]:
    """The upstream body with the client's ``stream_options``: the translated path asks every stream for its usage,
    which a relayed stream would pass on to a client that did not ask for it."""
    kept = {key: value for key, value in upstream.items() if key != "stream_options"}
    if "stream_options" in body:
        kept["stream_options"] = body["stream_options"]
    return kept


@dataclass(frozen=True, slots=True)
class RecordedTurn:
    """The keeper of one relayed chat turn: stores the answer as it was sent, under the gateway's completion id."""

    state: TurnState
    route: Route
    completion_id: str
    request: bytes
    """The request body as the client sent it."""
    created_at: int
    streamed: bool

    async def commit(self, answer: bytes, finish_reason: str | None) -> None:
        kind: Literal["chat", "chat-stream"] = "chat-stream" if self.streamed else "chat"
        recorded = RecordedExchange(kind, self.request, answer)
        await self.state.commit_exchange(
            self.route, self.completion_id, self.created_at, recorded, chat_status(finish_reason)
        )
