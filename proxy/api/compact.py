"""``POST /v1/responses/compact``: a long conversation compacted into its user messages and one summary, on every
provider.

The routed model writes the summary (one ordinary non-streamed call, with the model's retries and fallbacks); the
gateway wraps it in a compaction item of its own (`transformers.compaction`), which a later request may send back as
input to any provider. The answer is OpenAI's ``response.compaction`` object; nothing is stored.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from plano_proxy.proxy.api.responses_context import read_context
from plano_proxy.proxy.exchange import Exchange
from plano_proxy.proxy.stream.pump import run_whole
from plano_proxy.proxy.upstream.calls import upstream_call
from plano_proxy.proxy.upstream.fallback import with_fallbacks
from plano_proxy.proxy.upstream.routing import Route
from plano_proxy.proxy.web_json import json_response, read_json_object, unix_time
from plano_proxy.transformers.compaction import answer_text, compacted_output, summary_request
from plano_proxy.transformers.ids import random_id, with_response_id
from plano_proxy.transformers.responses_encoder import ResponsesEncoder

COMPACT_PARAMETERS = ("model", "input", "instructions", "previous_response_id")
"""What the compaction reads; OpenAI's other parameters (``prompt_cache_key``, ``service_tier`` …) are ignored."""


async def compact_response(request: web.Request) -> web.Response:
    body = await read_json_object(request)
    context = await read_context(request, body, COMPACT_PARAMETERS, model_required=True)
    summarise = summary_request(context.request)
    ids = with_response_id(random_id("resp_"))
    exchange = Exchange.of(request)

    async def attempt(candidate: Route) -> dict[str, Any]:
        encoder = ResponsesEncoder(request=summarise, echo={}, ids=ids, clock=unix_time)
        await run_whole(exchange, candidate.provider, upstream_call(summarise, candidate.provider), encoder)
        return encoder.response()

    answer = await with_fallbacks(exchange, context.route, attempt)
    return json_response(
        {
            "id": answer["id"],
            "object": "response.compaction",
            "created_at": answer["created_at"],
            "output": compacted_output(context.request.items, answer_text(answer), random_id),
            "usage": answer["usage"],
        }
    )
