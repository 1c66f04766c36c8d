"""``POST /v1/messages`` and ``POST /v1/messages/count_tokens`` (Anthropic Messages), answered in Anthropic's format.

To an Anthropic provider a request is a faithful pass-through: only ``model`` is rewritten, ``anthropic-version`` is
set by the gateway and ``anthropic-beta`` is forwarded. To any other provider it is translated through the
canonical model, streaming included.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from plano_proxy.proxy.app_keys import ACCESS, resolve_route
from plano_proxy.proxy.exchange import Exchange
from plano_proxy.proxy.stream.outlets import ClientOutlet
from plano_proxy.proxy.stream.pump import Stream, run_whole, stream_to_client
from plano_proxy.proxy.stream.relay import ANTHROPIC_STREAM_CUT, relay_json, relay_sse
from plano_proxy.proxy.stream.usage_tap import anthropic_usage
from plano_proxy.proxy.upstream.caller_keys import with_caller_key
from plano_proxy.proxy.upstream.calls import upstream_call
from plano_proxy.proxy.upstream.client import ANTHROPIC_FORWARDED, open_upstream
from plano_proxy.proxy.upstream.fallback import with_fallbacks
from plano_proxy.proxy.upstream.routing import Route
from plano_proxy.proxy.web_json import json_response, read_json_object
from plano_proxy.transformers.anthropic_encoder import AnthropicEncoder
from plano_proxy.transformers.anthropic_request import (
    MessagesBody,
    anthropic_request_to_canonical,
    check_messages_request,
)
from plano_proxy.transformers.framers import AnthropicFramer
from plano_proxy.transformers.ids import random_id
from plano_proxy.transformers.token_estimate import estimate_json_tokens

TOKEN_COUNT_HEADER = "x-plano-token-count"
"""``exact`` when the provider counted, ``estimate`` when the gateway did."""


async def messages(request: web.Request) -> web.StreamResponse:
    body = check_messages_request(await read_json_object(request), need_max_tokens=True)
    route = resolve_route(request, body.get("model"))
    stream = body.get("stream") is True
    request[ACCESS].stream = stream
    exchange = Exchange.of(request)
    return await with_fallbacks(exchange, route, lambda candidate: _answer(request, exchange, candidate, body, stream))


async def _answer(
    request: web.Request, exchange: Exchange, route: Route, body: MessagesBody, stream: bool
) -> web.StreamResponse:
    if route.provider.interface == "anthropic":
        upstream_body = orjson.dumps({**body, "model": route.provider.model})
        async with open_upstream(
            exchange.upstream_pool, route.provider, "messages", upstream_body, _forwarded(request), exchange.trace
        ) as upstream:
            if stream:
                return await relay_sse(
                    exchange, ClientOutlet(request), upstream, ANTHROPIC_STREAM_CUT, anthropic_usage()
                )
            return await relay_json(exchange, upstream, anthropic_usage())
    canonical = anthropic_request_to_canonical(body)
    call = upstream_call(canonical, route.provider)
    encoder = AnthropicEncoder(model=route.requested, ids=random_id)
    if canonical.stream:
        stream_stages = Stream(encoder, AnthropicFramer())
        return await stream_to_client(exchange, ClientOutlet(request), route.provider, call, stream_stages)
    await run_whole(exchange, route.provider, call, encoder)
    return json_response(encoder.message())


async def count_tokens(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    check_messages_request(body, need_max_tokens=False)
    exchange = Exchange.of(request)
    route = with_caller_key(exchange.caller_key, resolve_route(request, body.get("model")))
    if route.provider.interface == "anthropic":
        body["model"] = route.provider.model
        async with open_upstream(
            exchange.upstream_pool, route.provider, "count_tokens", orjson.dumps(body), _forwarded(request)
        ) as upstream:
            response = await relay_json(exchange, upstream)
        response.headers[TOKEN_COUNT_HEADER] = "exact"
        return response
    return json_response({"input_tokens": estimate_tokens(body)}, headers={TOKEN_COUNT_HEADER: "estimate"})


def estimate_tokens(body: dict[str, Any]) -> int:
    """The gateway's estimate (`token_estimate`) over what the model reads: system, messages and tools."""
    return estimate_json_tokens({key: body[key] for key in ("system", "messages", "tools") if key in body})


def _forwarded(request: web.Request) -> dict[str, str]:
    return {name: value for name, value in request.headers.items() if name.lower() in ANTHROPIC_FORWARDED}
