"""``POST /v1/responses/input_tokens``: how many input tokens a Responses request would take, on every provider.

The count covers what the routed provider would read: the stored history of ``previous_response_id`` or
``conversation``, the new input, instructions and tools, with compaction items expanded and, with
``truncation: "auto"``, the oldest turns dropped. A provider that counts answers exactly: an Anthropic upstream's
``/v1/messages/count_tokens``, a native Responses upstream's own ``/responses/input_tokens``. For any other provider
(or one that turns out not to have the endpoint) the gateway estimates. ``x-plano-token-count`` says which.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from plano_proxy.proxy.api.messages import TOKEN_COUNT_HEADER
from plano_proxy.proxy.api.responses_context import read_context
from plano_proxy.proxy.app_keys import UPSTREAM_POOL
from plano_proxy.proxy.config import ProviderConfig
from plano_proxy.proxy.errors import UpstreamError
from plano_proxy.proxy.exchange import Exchange
from plano_proxy.proxy.upstream.calls import UpstreamCall, call_as_sent
from plano_proxy.proxy.upstream.client import Operation, open_upstream
from plano_proxy.proxy.upstream.context_window import as_sent_to
from plano_proxy.proxy.upstream.fallback import with_fallbacks
from plano_proxy.proxy.upstream.routing import Route
from plano_proxy.proxy.web_json import json_response, read_json_object
from plano_proxy.transformers.token_estimate import estimate_request_tokens

COUNTED_PARAMETERS = (
    "model", "input", "instructions", "previous_response_id", "conversation", "tools", "tool_choice",
    "parallel_tool_calls", "reasoning", "text", "truncation",
)  # fmt: skip
"""The request fields that decide the count (``input_token_count_params``); others are ignored."""
# What each counting endpoint accepts of the body the gateway would send for an answer.
_COUNTING: dict[Operation, tuple[Operation, tuple[str, ...]]] = {
    "messages": ("count_tokens", ("model", "messages", "system", "tools", "tool_choice", "thinking")),
    "responses": (
        "input_tokens",
        ("model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls", "reasoning", "text"),
    ),
}
_NO_COUNTING_ENDPOINT = frozenset({404, 405, 501})


async def count_input_tokens(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    context = await read_context(request, body, COUNTED_PARAMETERS, model_required=False)

    async def count(candidate: Route) -> web.Response:
        sent = as_sent_to(context.request, candidate.provider, body.get("truncation"))
        exact = await _provider_count(request, candidate.provider, call_as_sent(sent, candidate.provider))
        if exact is not None:
            return _answer(exact, "exact")
        return _answer(estimate_request_tokens(sent), "estimate")

    return await with_fallbacks(Exchange.of(request), context.route, count)


async def _provider_count(request: web.Request, provider: ProviderConfig, call: UpstreamCall) -> int | None:
    """The provider's own count of `call`, or None when it has no counting endpoint."""
    if call.operation not in _COUNTING:
        return None
    operation, accepted = _COUNTING[call.operation]
    counted = {key: call.body[key] for key in accepted if key in call.body}
    try:
        async with open_upstream(request.app[UPSTREAM_POOL], provider, operation, orjson.dumps(counted)) as upstream:
            answer: Any = orjson.loads(await upstream.read())
    except UpstreamError as error:
        if error.status in _NO_COUNTING_ENDPOINT:
            return None
        raise
    tokens = answer.get("input_tokens") if isinstance(answer, dict) else None
    return tokens if isinstance(tokens, int) and not isinstance(tokens, bool) else None


def _answer(tokens: int, how: str) -> web.Response:
    return json_response({"object": "response.input_tokens", "input_tokens": tokens}, headers={TOKEN_COUNT_HEADER: how})
