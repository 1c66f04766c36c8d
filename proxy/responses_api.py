"""``POST /v1/responses`` on every provider.

The client's new input is merged with the stored history (`state.py`), translated for the routed provider, and the
answer is encoded as Responses events with sequence numbers. The turn is committed to the store before the terminal
event (or the non-streaming body) is sent: acknowledged means durable.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp import web

from plano_proxy.proxy.app_keys import ACCESS, resolve_route
from plano_proxy.proxy.background import answer_in_background, check_background
from plano_proxy.proxy.context_window import as_sent_to
from plano_proxy.proxy.errors import InvalidRequest, ModelNotFound
from plano_proxy.proxy.fallback import with_fallbacks
from plano_proxy.proxy.provider_calls import UpstreamCall, upstream_call
from plano_proxy.proxy.routing import Route
from plano_proxy.proxy.state import begin_turn
from plano_proxy.proxy.translate import ResponsesFramer, run_stream, run_whole
from plano_proxy.proxy.web_json import json_response, read_json_object, unix_time
from plano_proxy.transformers.ids import random_id, with_response_id
from plano_proxy.transformers.responses_encoder import ResponsesEncoder, echo_fields
from plano_proxy.transformers.responses_request import responses_request_to_canonical


async def create_response(request: web.Request) -> web.StreamResponse:
    body = await read_json_object(request)
    route = _route(request, body)
    canonical = responses_request_to_canonical(body)
    request[ACCESS].stream = canonical.stream
    background = body.get("background") is True
    if background:
        check_background(body, request)
    turn = await begin_turn(request, body, canonical)
    full = dataclasses.replace(canonical, items=(*turn.history, *turn.input_items))
    echo = {**echo_fields(body), **turn.echo()}
    ids = with_response_id(random_id("resp_"))

    def new_encoder() -> ResponsesEncoder:
        return ResponsesEncoder(request=canonical, echo=echo, ids=ids, clock=unix_time)

    def call_for(candidate: Route) -> UpstreamCall:
        return upstream_call(as_sent_to(full, candidate.provider, body.get("truncation")), candidate.provider)

    if background:
        return await answer_in_background(request, route, turn, new_encoder, call_for, stream=canonical.stream)

    async def answer(candidate: Route) -> web.StreamResponse:
        encoder = new_encoder()
        call = call_for(candidate)
        if canonical.stream:
            framer = ResponsesFramer()

            async def commit() -> None:
                await turn.commit(candidate, encoder.response(), encoder.output_items(), framer.sent)

            async def keep_partial() -> None:
                encoder.interrupt("client_disconnected")
                await commit()

            return await run_stream(
                request, candidate.provider, call, encoder, framer, before_terminal=commit, on_abort=keep_partial
            )
        final = await run_whole(request, candidate.provider, call, encoder, encoder.response)
        await turn.commit(candidate, final, encoder.output_items(), None)
        return json_response(final)

    return await with_fallbacks(request, route, answer)


def _route(request: web.Request, body: dict[str, Any]) -> Route:
    """The Responses API reports an unknown model as a 400 on ``model``, unlike Chat Completions' 404."""
    if "model" not in body:
        raise InvalidRequest("Missing required parameter: 'model'.", param="model", code="missing_required_parameter")
    try:
        return resolve_route(request, body["model"])
    except ModelNotFound as exc:
        raise InvalidRequest(exc.message, param="model", code="model_not_found") from exc
