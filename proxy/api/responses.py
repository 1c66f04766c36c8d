"""``POST /v1/responses`` on every provider.

The client's new input is merged with the stored history (`api/state.py`), translated for the routed provider, and the
answer is encoded as Responses events with sequence numbers. The turn is committed to the store before the terminal
event (or the non-streaming body) is sent: acknowledged means durable.
"""

from __future__ import annotations

import contextlib
from typing import Any

from aiohttp import web

from plano_proxy.proxy.api.background import answer_in_background, check_background
from plano_proxy.proxy.api.responses_turn import Attempt, ResponsesTurn
from plano_proxy.proxy.api.state import begin_turn
from plano_proxy.proxy.app_keys import ACCESS, MEMBER, resolve_route
from plano_proxy.proxy.errors import InvalidRequest, ModelNotFound
from plano_proxy.proxy.exchange import Exchange
from plano_proxy.proxy.stream.outlets import ClientOutlet
from plano_proxy.proxy.stream.pump import Stream, run_whole, stream_to_client
from plano_proxy.proxy.upstream.fallback import with_fallbacks
from plano_proxy.proxy.upstream.routing import Route
from plano_proxy.proxy.web_json import json_response, read_json_object
from plano_proxy.storage.shared_work import Lease, stub_of
from plano_proxy.transformers.framers import ResponsesFramer
from plano_proxy.transformers.ids import random_id, with_response_id
from plano_proxy.transformers.responses_object import echo_fields
from plano_proxy.transformers.responses_request import responses_request_to_canonical


async def create_response(request: web.Request) -> web.StreamResponse:
    body = await read_json_object(request)
    route = _route(request, body)
    canonical = responses_request_to_canonical(body)
    request[ACCESS].stream = canonical.stream
    background = body.get("background") is True
    if background:
        check_background(body, request)
    state = await begin_turn(request, body, canonical)
    turn = ResponsesTurn(
        state=state,
        request=canonical,
        full=state.continued(canonical),
        # Without a model the default provider answers, and the response names the model that did.
        echo={**echo_fields(body), **state.echo(), **({} if body.get("model") else {"model": route.requested})},
        ids=with_response_id(random_id("resp_")),
        truncation=body.get("truncation"),
    )
    exchange = Exchange.of(request)
    if background:
        return await answer_in_background(request, exchange, route, turn)

    async def answer(candidate: Route) -> web.StreamResponse:
        call = turn.call_for(candidate)
        if canonical.stream:
            framer = ResponsesFramer()
            attempt = turn.attempt(candidate, framer)
            stream = Stream(attempt.encoder, framer, attempt)
            with _leased(request, attempt):
                return await stream_to_client(exchange, ClientOutlet(request), candidate.provider, call, stream)
        attempt = turn.attempt(candidate)
        await run_whole(exchange, candidate.provider, call, attempt.encoder)
        await attempt.commit()
        return json_response(attempt.encoder.response())

    return await with_fallbacks(exchange, route, answer)


def _leased(request: web.Request, attempt: Attempt) -> contextlib.AbstractContextManager[None]:
    """With other instances on the database, a stored stream is leased while it runs: its client has its id from
    the first event on, so if this instance dies, another records it as failed rather than leave it unknown. The
    lease is written without holding the stream up."""
    member = request.app.get(MEMBER)
    if member is None or not attempt.state.keep:
        return contextlib.nullcontext()
    record = attempt.state.record(attempt.route, attempt.encoder.response(), None)
    return member.holding(Lease(record.id, record.owner, stub_of(record)))


def _route(request: web.Request, body: dict[str, Any]) -> Route:
    """The Responses API reports an unknown model as a 400 on ``model``, unlike Chat Completions' 404. Without a
    model the default provider answers, as on every client API (a 400 when none is marked default)."""
    try:
        return resolve_route(request, body.get("model"))
    except ModelNotFound as exc:
        raise InvalidRequest(exc.message, param="model", code="model_not_found") from exc
