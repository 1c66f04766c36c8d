"""Background responses (``background: true``) and ``POST /v1/responses/{id}/cancel``.

A background request is checked and its turn begun like any other. The response is then stored as ``queued`` and
returned at once, and a task of the gateway's own produces the answer: stored as ``in_progress`` when it starts, then
as ``completed``, ``incomplete``, ``failed`` or ``cancelled``. Clients poll ``GET /v1/responses/{id}``.

Cancelling a response whose task runs in this process stops the upstream call at once. Otherwise (another worker or
instance runs it, or the process that ran it is gone) the stored response is marked ``cancelled``, and a task still
running elsewhere leaves that mark in place when it ends instead of storing its answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import structlog
from aiohttp import web

from plano_proxy.proxy.app_keys import BACKGROUND_TASKS, RUNNING, STORE, WRITER, owner_of
from plano_proxy.proxy.errors import InvalidRequest, NotFound, UpstreamError
from plano_proxy.proxy.fallback import with_fallbacks
from plano_proxy.proxy.routing import Route
from plano_proxy.proxy.state import TurnState
from plano_proxy.proxy.stored_responses import require_store, response_object
from plano_proxy.proxy.web_json import json_response
from plano_proxy.storage import StoredResponse, StoredTurn
from plano_proxy.transformers.canonical import StreamError
from plano_proxy.transformers.responses_encoder import ResponsesEncoder

log = structlog.get_logger("plano_proxy.background")

Produce = Callable[[Route, ResponsesEncoder], Awaitable[dict[str, Any]]]
"""Runs one attempt on one route into the given encoder and returns the final response object."""

_UNFINISHED = frozenset({"queued", "in_progress"})
_SHUTDOWN = "gateway shutting down"


def check_background(body: dict[str, Any], request: web.Request) -> None:
    if body.get("stream") is True:
        raise InvalidRequest(
            "This gateway does not stream background responses: send 'background: true' without 'stream' and poll "
            "GET /v1/responses/{id}, or stream without 'background'.",
            param="background",
        )
    if body.get("store") is False or STORE not in request.app:
        raise InvalidRequest(
            "Background responses must be stored ('store' true and state_storage configured on the gateway).",
            param="background",
        )


async def start_background(
    request: web.Request,
    route: Route,
    turn: TurnState,
    new_encoder: Callable[[], ResponsesEncoder],
    produce: Produce,
) -> web.Response:
    """Store the response as queued, start producing it in a task of its own, and answer with the queued object."""
    first = new_encoder()
    queued = {**first.response(), "status": "queued"}
    await turn.commit(route, queued, [], None)
    task = asyncio.get_running_loop().create_task(_produce(request, route, turn, new_encoder, produce, first))
    running, tasks = request.app[RUNNING], request.app[BACKGROUND_TASKS]
    running[queued["id"]] = task
    tasks.add(task)

    def forget(done: asyncio.Task[None]) -> None:
        tasks.discard(done)
        running.pop(queued["id"], None)

    task.add_done_callback(forget)
    return json_response(queued)


async def _produce(
    request: web.Request,
    route: Route,
    turn: TurnState,
    new_encoder: Callable[[], ResponsesEncoder],
    produce: Produce,
    encoder: ResponsesEncoder,
) -> None:
    used = route

    async def attempt(candidate: Route) -> dict[str, Any]:
        nonlocal encoder, used
        encoder, used = new_encoder(), candidate
        return await produce(candidate, encoder)

    try:
        await turn.commit(route, encoder.response(), [], None)  # in_progress
        await with_fallbacks(request, route, attempt)
    except UpstreamError as error:
        encoder.feed(StreamError(error.status, error.type, error.message))
    except asyncio.CancelledError as cancelled:
        if _SHUTDOWN in cancelled.args:
            encoder.feed(StreamError(503, "server_error", "The gateway stopped before this response was finished."))
        else:
            encoder.cancel()
    except Exception:
        log.exception("background_response_failed", response_id=encoder.response()["id"])
        encoder.feed(StreamError(500, "server_error", "The gateway failed to produce this response."))
    await _store_unless_cancelled(request, used, turn, encoder)


async def _store_unless_cancelled(
    request: web.Request, route: Route, turn: TurnState, encoder: ResponsesEncoder
) -> None:
    final = encoder.response()
    if final["status"] != "cancelled":
        stored = await request.app[STORE].get_response(final["id"], turn.owner)
        if stored is not None and stored.status == "cancelled":
            return  # cancelled through another process while this one was producing it
    await turn.commit(route, final, encoder.output_items(), None)


async def stop_background(app: web.Application) -> None:
    """On shutdown: what is still being produced is stopped and stored as failed (a client polling sees why)."""
    for task in list(app[RUNNING].values()):
        task.cancel(_SHUTDOWN)


async def cancel_response(request: web.Request) -> web.Response:
    """``POST /v1/responses/{id}/cancel``: only background responses; a finished one is returned unchanged."""
    response_id = request.match_info["response_id"]
    store = require_store(request)
    record = await store.get_response(response_id, owner_of(request))
    if record is None:
        raise NotFound(f"Response with id '{response_id}' not found.")
    if record.request.get("background") is not True:
        raise InvalidRequest("Only responses created with 'background: true' can be cancelled.")
    task = request.app[RUNNING].get(response_id)
    if task is not None:
        task.cancel()
        await asyncio.wait([task])
    elif record.status in _UNFINISHED:
        await _mark_cancelled(request, record)
    record = await store.get_response(response_id, owner_of(request))
    if record is None:
        raise NotFound(f"Response with id '{response_id}' not found.")
    return json_response(response_object(record))


async def _mark_cancelled(request: web.Request, record: StoredResponse) -> None:
    """Store the response again, as cancelled, with the input items it already has (its output is still empty)."""
    store, inputs = request.app[STORE], []
    after = None
    while (page := await store.list_input_items(record.id, record.owner, after=after, limit=100, order="asc")) and (
        page.items
    ):
        inputs += page.items
        if not page.has_more:
            break
        after = page.items[-1]["id"]
    await request.app[WRITER].submit(StoredTurn(replace(record, status="cancelled"), inputs, []))
