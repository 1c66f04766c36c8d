"""Background responses (``background: true``) and ``POST /v1/responses/{id}/cancel``.

A background request is checked and its turn begun like any other. The response is then stored as ``queued``, and a
task of the gateway's own produces the answer: stored as ``in_progress`` when it starts, then as ``completed``,
``incomplete``, ``failed`` or ``cancelled``. Without ``stream`` the queued response is returned at once and clients
poll ``GET /v1/responses/{id}``; with ``stream`` the client follows the events live (`stream/live.py`), and when it goes
away the task carries on, so ``GET /v1/responses/{id}?stream=true&starting_after=N`` can pick the stream up again.

Cancelling a response whose task runs in this process stops the upstream call at once; its stream (if any) closes
its open items and ends. Otherwise the stored response is marked ``cancelled``; with PostgreSQL the cancel is
announced, and the instance producing it stops the same way within moments (`plano_proxy.proxy.scale_out`). A task
still running elsewhere (a worker sharing SQLite) keeps that mark when it ends: a response that has ended is never
saved over. With PostgreSQL a background response is leased to its instance, and taken over if that instance dies.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import structlog
from aiohttp import web

from plano_proxy.proxy.api.responses_turn import Attempt, ResponsesTurn
from plano_proxy.proxy.api.stored_responses import require_store
from plano_proxy.proxy.app_keys import BACKGROUND_TASKS, LIVE, MEMBER, RUNNING, SHUTDOWN, STORE, owner_of
from plano_proxy.proxy.errors import InvalidRequest, NotFound, UpstreamError
from plano_proxy.proxy.exchange import Exchange
from plano_proxy.proxy.scale_out.event_log import EventPublisher
from plano_proxy.proxy.scale_out.member import Member
from plano_proxy.proxy.stream.live import LiveStream
from plano_proxy.proxy.stream.outlets import SSE_HEADERS
from plano_proxy.proxy.stream.pump import Stream, run_whole, stream_in_background
from plano_proxy.proxy.upstream.fallback import with_fallbacks
from plano_proxy.proxy.upstream.routing import Route
from plano_proxy.proxy.web_json import json_response
from plano_proxy.storage.exchange import response_object
from plano_proxy.storage.shared_work import Lease
from plano_proxy.transformers.canonical import StreamError

log = structlog.get_logger("plano_proxy.background")

_SHUTDOWN = "gateway shutting down"


def check_background(body: dict[str, Any], request: web.Request) -> None:
    if body.get("store") is False or STORE not in request.app:
        raise InvalidRequest(
            "Background responses must be stored ('store' true and state_storage configured on the gateway).",
            param="background",
        )


async def answer_in_background(
    request: web.Request, exchange: Exchange, route: Route, turn: ResponsesTurn
) -> web.StreamResponse:
    """Store the response as queued and start producing it in a task of its own; answer with the queued object, or,
    for a stream, follow the live events for as long as the client stays (the task goes on without it)."""
    member = request.app.get(MEMBER)
    live = _live_stream(member, turn) if turn.request.stream else None
    run = BackgroundRun(exchange.for_background(), route, turn, live)
    queued = {**run.attempt.encoder.response(), "status": "queued"}
    if member is not None:  # leased before it is stored, so it is never unfinished without an instance on it
        await member.lease(Lease(queued["id"], turn.state.owner))
    await turn.state.commit(route, queued, [], run.events)
    _register(request.app, queued["id"], asyncio.get_running_loop().create_task(run.produce()), live)
    if live is None:
        return json_response(queued)
    if not await live.wait_opened() and live.failure is not None:
        raise live.failure  # the provider failed before answering: an HTTP error, as for any stream
    response = web.StreamResponse(status=200, headers=SSE_HEADERS)
    await response.prepare(request)
    with exchange.open_stream():
        async for chunk in live.follow():
            exchange.note_first_byte()
            await response.write(chunk)
    await response.write_eof()
    return response


def _live_stream(member: Member | None, turn: ResponsesTurn) -> LiveStream:
    """With other instances on the database, the events also go to the shared log, for readers there."""
    if member is None:
        return LiveStream()
    return LiveStream(EventPublisher(member.work, turn.ids("resp_")))


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
        if (member := app.get(MEMBER)) is not None:
            member.release(response_id)

    task.add_done_callback(forget)


class BackgroundRun:
    """Producing one background response: its attempts on the route and its fallbacks, then what is stored when it
    ends (the answer, the failure, or the cancellation). A streamed one writes into its `LiveStream`, and its attempt
    commits before the terminal event as a foreground stream does; otherwise the end stores it."""

    def __init__(self, exchange: Exchange, route: Route, turn: ResponsesTurn, live: LiveStream | None) -> None:
        self._exchange = exchange
        self._turn = turn
        self._live = live
        self._started = time.perf_counter()
        self.attempt = self._new_attempt(route)

    @property
    def events(self) -> list[dict[str, Any]] | None:
        """The stream's events so far, as stored with the response (a copy: the stream goes on adding to its own
        list, which a memory store would otherwise keep); a streamed one has a list, empty at first."""
        return None if self._live is None else list(self._live.framer.sent)

    def _new_attempt(self, route: Route) -> Attempt:
        attempt = self._turn.attempt(route, self._live.framer if self._live is not None else None)
        attempt.keep_partial = False  # a background response goes on without its client
        return attempt

    async def produce(self) -> None:
        """The whole background work; with tracing, a trace of its own linked to the request that queued it."""
        trace = self._exchange.trace
        if trace is None:
            await self._produce()
            return
        with trace.tracing.linked(trace, "background_response") as own:
            own.span.set_attribute("plano.response.id", self.attempt.encoder.response()["id"])
            self._exchange = dataclasses.replace(self._exchange, trace=own)
            self._turn.state.trace = own  # its commits are spans of this trace: the request's has ended
            await self._produce()

    async def _produce(self) -> None:
        try:
            in_progress = self.attempt.encoder.response()
            await self._turn.state.commit(self.attempt.route, in_progress, [], self.events)
            await with_fallbacks(self._exchange, self.attempt.route, self._try)
        except UpstreamError as error:
            self.attempt.encoder.feed(StreamError(error.status, error.type, error.message, error.code))
            if self._live is not None:
                self._live.failure = error
        except asyncio.CancelledError as cancelled:
            if _SHUTDOWN in cancelled.args:
                message = "The gateway stopped before this response was finished."
                self.attempt.encoder.feed(StreamError(503, "server_error", message))
            else:
                closing = self.attempt.encoder.cancel()
                if self._live is not None:  # its readers see the open items end before the stream does
                    await self._live.write(self._live.framer.frame(closing))
        except Exception:
            log.exception("background_response_failed", response_id=self.attempt.encoder.response()["id"])
            self.attempt.encoder.feed(StreamError(500, "server_error", "The gateway failed to produce this response."))
        finally:
            if self._live is not None:
                await self._live.end()
        if not self.attempt.committed:
            # Stored unless its end is already (a cancel through another instance or process): see `ends_once`.
            await self._turn.state.commit(
                self.attempt.route, self.attempt.encoder.response(), self.attempt.encoder.output_items(), self.events
            )
        self._log_end()

    async def _try(self, route: Route) -> None:
        self.attempt = self._new_attempt(route)
        call = self._turn.call_for(route)
        if self._live is None:
            await run_whole(self._exchange, route.provider, call, self.attempt.encoder)
            return
        stream = Stream(self.attempt.encoder, self._live.framer, self.attempt)
        await stream_in_background(self._exchange, route.provider, call, stream, self._live)

    def _log_end(self) -> None:
        """The background work's own access line: the request's was written when the queued answer left."""
        record, final = self._exchange.record, self.attempt.encoder.response()
        log.info(
            "background_response",
            request_id=record.request_id,
            response_id=final["id"],
            status=final["status"],
            model=record.model,
            provider=record.provider,
            fallback_from=record.fallback_from,
            latency_ms=round((time.perf_counter() - self._started) * 1000, 2),
            input_tokens=record.input_tokens,
            output_tokens=record.output_tokens,
        )


async def stop_background(app: web.Application) -> None:
    """On shutdown: what is still being produced has until the end of the grace period to finish; what has not by
    then is stopped and stored as failed (a client polling sees why)."""
    running = list(app[RUNNING].values())
    deadline = app[SHUTDOWN].deadline
    if running and deadline is not None:
        await asyncio.wait(running, timeout=max(0.0, deadline - time.monotonic()))
    for task in running:
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
    elif await store.cancel_unfinished(response_id, owner_of(request)) and (member := request.app.get(MEMBER)):
        await member.work.announce_cancel(response_id)  # the instance producing it stops at once
    record = await store.get_response(response_id, owner_of(request))
    if record is None:
        raise NotFound(f"Response with id '{response_id}' not found.")
    return json_response(response_object(record))
