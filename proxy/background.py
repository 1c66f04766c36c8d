"""Background responses (``background: true``) and ``POST /v1/responses/{id}/cancel``.

A background request is checked and its turn begun like any other. The response is then stored as ``queued``, and a
task of the gateway's own produces the answer: stored as ``in_progress`` when it starts, then as ``completed``,
``incomplete``, ``failed`` or ``cancelled``. Without ``stream`` the queued response is returned at once and clients
poll ``GET /v1/responses/{id}``; with ``stream`` the client follows the events live (`live.py`), and when it goes
away the task carries on, so ``GET /v1/responses/{id}?stream=true&starting_after=N`` can pick the stream up again.

Cancelling a response whose task runs in this process stops the upstream call at once. Otherwise (another worker or
instance runs it, or the process that ran it is gone) the stored response is marked ``cancelled``, and a task still
running elsewhere leaves that mark in place when it ends instead of storing its answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web

from plano_proxy.proxy.app_keys import BACKGROUND_TASKS, LIVE, RUNNING, STORE, owner_of
from plano_proxy.proxy.errors import InvalidRequest, NotFound, UpstreamError
from plano_proxy.proxy.fallback import with_fallbacks
from plano_proxy.proxy.live import LiveStream
from plano_proxy.proxy.metrics import note_first_byte, open_stream
from plano_proxy.proxy.provider_calls import UpstreamCall
from plano_proxy.proxy.relay import SSE_HEADERS
from plano_proxy.proxy.routing import Route
from plano_proxy.proxy.state import TurnState
from plano_proxy.proxy.stored_responses import require_store, response_object
from plano_proxy.proxy.translate import run_whole, stream_into
from plano_proxy.proxy.web_json import json_response
from plano_proxy.transformers.canonical import StreamError
from plano_proxy.transformers.responses_encoder import ResponsesEncoder

log = structlog.get_logger("plano_proxy.background")

Produce = Callable[[Route, ResponsesEncoder], Awaitable[bool]]
"""Runs one attempt on one route into the given encoder; True if it stored the finished response itself (a stream
commits before its terminal event)."""

_SHUTDOWN = "gateway shutting down"


def check_background(body: dict[str, Any], request: web.Request) -> None:
    if body.get("store") is False or STORE not in request.app:
        raise InvalidRequest(
            "Background responses must be stored ('store' true and state_storage configured on the gateway).",
            param="background",
        )


async def answer_in_background(
    request: web.Request,
    route: Route,
    turn: TurnState,
    new_encoder: Callable[[], ResponsesEncoder],
    call_for: Callable[[Route], UpstreamCall],
    *,
    stream: bool,
) -> web.StreamResponse:
    if not stream:

        async def produce_whole(candidate: Route, encoder: ResponsesEncoder) -> bool:
            await run_whole(request, candidate.provider, call_for(candidate), encoder, encoder.response)
            return False

        return await start_background(request, route, turn, new_encoder, produce_whole)
    live = LiveStream()

    async def produce_stream(candidate: Route, encoder: ResponsesEncoder) -> bool:
        committed = False

        async def commit() -> None:
            nonlocal committed
            await turn.commit(candidate, encoder.response(), encoder.output_items(), live.framer.sent)
            committed = True

        call = call_for(candidate)
        await stream_into(request, candidate.provider, call, encoder, live.framer, live, before_terminal=commit)
        return committed

    return await start_background(request, route, turn, new_encoder, produce_stream, live)


async def start_background(
    request: web.Request,
    route: Route,
    turn: TurnState,
    new_encoder: Callable[[], ResponsesEncoder],
    produce: Produce,
    live: LiveStream | None = None,
) -> web.StreamResponse:
    """Store the response as queued and start producing it in a task of its own; answer with the queued object, or,
    for a stream, follow the live events for as long as the client stays (the task goes on without it)."""
    first = new_encoder()
    queued = {**first.response(), "status": "queued"}
    await turn.commit(route, queued, [], None)
    task = asyncio.get_running_loop().create_task(_produce(request, route, turn, new_encoder, produce, first, live))
    _register(request.app, queued["id"], task, live)
    if live is None:
        return json_response(queued)
    if not await live.wait_opened() and live.failure is not None:
        raise live.failure  # the provider failed before answering: an HTTP error, as for any stream
    response = web.StreamResponse(status=200, headers=SSE_HEADERS)
    await response.prepare(request)
    with open_stream(request):
        async for chunk in live.follow():
            note_first_byte(request)
            await response.write(chunk)
    await response.write_eof()
    return response


def _register(app: web.Application, response_id: str, task: asyncio.Task[None], live: LiveStream | None) -> None:
    running, tasks, streams = app[RUNNING], app[BACKGROUND_TASKS], app[LIVE]
    running[response_id] = task
    tasks.add(task)
    if live is not None:
        streams[response_id] = live

    def forget(done: asyncio.Task[None]) -> None:
        tasks.discard(done)
        running.pop(response_id, None)
        streams.pop(response_id, None)

    task.add_done_callback(forget)


async def _produce(
    request: web.Request,
    route: Route,
    turn: TurnState,
    new_encoder: Callable[[], ResponsesEncoder],
    produce: Produce,
    encoder: ResponsesEncoder,
    live: LiveStream | None,
) -> None:
    used, stored = route, False

    async def attempt(candidate: Route) -> bool:
        nonlocal encoder, used
        encoder, used = new_encoder(), candidate
        return await produce(candidate, encoder)

    try:
        await turn.commit(route, encoder.response(), [], None)  # in_progress
        stored = await with_fallbacks(request, route, attempt)
    except UpstreamError as error:
        encoder.feed(StreamError(error.status, error.type, error.message))
        if live is not None:
            live.failure = error
    except asyncio.CancelledError as cancelled:
        if _SHUTDOWN in cancelled.args:
            encoder.feed(StreamError(503, "server_error", "The gateway stopped before this response was finished."))
        else:
            encoder.cancel()
    except Exception:
        log.exception("background_response_failed", response_id=encoder.response()["id"])
        encoder.feed(StreamError(500, "server_error", "The gateway failed to produce this response."))
    finally:
        if live is not None:
            live.end()
    if not stored:
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
    else:
        await store.cancel_unfinished(response_id, owner_of(request))
    record = await store.get_response(response_id, owner_of(request))
    if record is None:
        raise NotFound(f"Response with id '{response_id}' not found.")
    return json_response(response_object(record))
