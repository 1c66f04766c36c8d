"""``POST /v1/chat/completions``.

Without state storage, a request to an OpenAI-compatible provider is relayed as sent, with only ``model`` rewritten
to the upstream id, and the answer (SSE or JSON) is relayed byte for byte as it arrives. To an Anthropic provider it
is translated through the canonical model, both ways, streaming included.

With state storage configured, every chat turn is also stored as a response whose id is the completion's id, and a
request naming one in ``metadata.response_id`` continues it: the gateway sends the stored history before the new
messages (Plano's documented chat continuation). To an OpenAI-compatible provider such a turn is still relayed byte
for byte (under the gateway's completion id) and stored as the exchange it was (`chat_turn`); to an Anthropic
provider it is translated and stored as Responses items. ``state_storage.store_chat_turns: false`` stores no chat
turn: requests without ``metadata.response_id`` are then relayed as without storage, and a continuation reads the
history it names without storing the new turn.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from plano_proxy.proxy.api.chat_turn import relay_stored_turn, relays_continuation
from plano_proxy.proxy.api.responses_turn import Attempt
from plano_proxy.proxy.api.state import begin_turn
from plano_proxy.proxy.app_keys import ACCESS, CONFIG, resolve_route
from plano_proxy.proxy.exchange import Exchange
from plano_proxy.proxy.stream.outlets import ClientOutlet
from plano_proxy.proxy.stream.pump import Stream, run_whole, stream_to_client
from plano_proxy.proxy.stream.relay import CHAT_STREAM_CUT, relay_json, relay_sse
from plano_proxy.proxy.stream.usage_tap import read_chat_usage
from plano_proxy.proxy.upstream.calls import upstream_call
from plano_proxy.proxy.upstream.client import open_upstream
from plano_proxy.proxy.upstream.fallback import with_fallbacks
from plano_proxy.proxy.upstream.routing import Route
from plano_proxy.proxy.web_json import json_response, read_json_object, unix_time
from plano_proxy.transformers.canonical import CanonicalRequest
from plano_proxy.transformers.chat_encoder import ChatEncoder
from plano_proxy.transformers.chat_request import ChatBody, chat_request_to_canonical, check_chat_request
from plano_proxy.transformers.framers import ChatFramer, TeeEncoder
from plano_proxy.transformers.ids import random_id, with_response_id
from plano_proxy.transformers.responses_encoder import ResponsesEncoder
from plano_proxy.transformers.responses_object import echo_fields


async def chat_completions(request: web.Request) -> web.StreamResponse:
    body = check_chat_request(await read_json_object(request))
    route = resolve_route(request, body.get("model"))
    stream = body.get("stream") is True
    request[ACCESS].stream = stream
    exchange = Exchange.of(request)
    return await with_fallbacks(exchange, route, lambda candidate: _answer(request, exchange, candidate, body, stream))


async def _answer(
    request: web.Request, exchange: Exchange, route: Route, body: ChatBody, stream: bool
) -> web.StreamResponse:
    if route.provider.interface == "anthropic" or _uses_state(request, body):
        canonical = chat_request_to_canonical(body)  # the checks of the translation, on the relayed turn too
        continued = _continued_id(body)
        if route.provider.interface == "anthropic" or (continued is not None and not relays_continuation(canonical)):
            return await _translated(request, exchange, route, body, canonical)
        keep = _stores_chat_turns(request)
        return await relay_stored_turn(request, exchange, route, body, canonical, continued=continued, keep=keep)
    upstream_body = orjson.dumps({**body, "model": route.provider.model})
    async with open_upstream(
        exchange.upstream_pool, route.provider, "chat", upstream_body, trace=exchange.trace
    ) as upstream:
        if stream:
            return await relay_sse(exchange, ClientOutlet(request), upstream, CHAT_STREAM_CUT, read_chat_usage)
        return await relay_json(exchange, upstream, read_chat_usage)


# The store is on the app exactly when state_storage is configured; the settings are read instead, since a
# membership test on the app costs a raised KeyError on every request of a gateway without storage.


def _stores_chat_turns(request: web.Request) -> bool:
    settings = request.app[CONFIG].state_storage
    return settings is not None and settings.store_chat_turns


def _uses_state(request: web.Request, body: dict[str, Any]) -> bool:
    settings = request.app[CONFIG].state_storage
    return settings is not None and (settings.store_chat_turns or _continued_id(body) is not None)


def _continued_id(body: dict[str, Any]) -> Any:
    return (body.get("metadata") or {}).get("response_id")


async def _translated(
    request: web.Request, exchange: Exchange, route: Route, body: ChatBody, canonical: CanonicalRequest
) -> web.StreamResponse:
    state = await begin_turn(
        request, {"previous_response_id": _continued_id(body), "store": _stores_chat_turns(request)}, canonical
    )
    call = upstream_call(state.continued(canonical), route.provider)
    chat = ChatEncoder(model=route.requested, ids=random_id, clock=unix_time, include_usage=canonical.include_usage)
    # The turn is stored as a Responses object under the completion's own id, so that id can be continued; a chat
    # turn its client left before the end is not stored.
    record = ResponsesEncoder(
        canonical, {**echo_fields({"model": route.requested}), **state.echo()}, with_response_id(chat.id), unix_time
    )
    attempt = Attempt(state, route, record, keep_partial=False)
    encoder = TeeEncoder(chat, record)
    if canonical.stream:
        stream = Stream(encoder, ChatFramer(), attempt)
        return await stream_to_client(exchange, ClientOutlet(request), route.provider, call, stream)
    await run_whole(exchange, route.provider, call, encoder)
    await attempt.commit()
    return json_response(chat.completion())
