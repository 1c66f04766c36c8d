"""`create_app(config)`: the whole gateway wired on one aiohttp application."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from aiohttp import web

from plano_proxy.proxy.api import conversations
from plano_proxy.proxy.api import stored_responses as stored
from plano_proxy.proxy.api.background import cancel_response, stop_background
from plano_proxy.proxy.api.chat import chat_completions
from plano_proxy.proxy.api.compact import compact_response
from plano_proxy.proxy.api.home import home_page
from plano_proxy.proxy.api.input_tokens import count_input_tokens
from plano_proxy.proxy.api.messages import count_tokens, messages
from plano_proxy.proxy.api.models import get_model, list_models
from plano_proxy.proxy.api.playground import add_playground
from plano_proxy.proxy.api.responses import create_response
from plano_proxy.proxy.app_keys import (
    BACKGROUND_TASKS,
    CONFIG,
    IGNORED_SEEN,
    LIVE,
    MEMBER,
    MODELS,
    RUNNING,
    SHUTDOWN,
    STORE,
    UPSTREAM_POOL,
    WRITER,
    Shutdown,
)
from plano_proxy.proxy.config import Config
from plano_proxy.proxy.cors import add_cors_headers, cors_middleware
from plano_proxy.proxy.metrics import METRICS, create_metrics, metrics_endpoint
from plano_proxy.proxy.middleware import add_gateway_headers, gateway_middleware
from plano_proxy.proxy.scale_out.member import member_of
from plano_proxy.proxy.sweeper import state_sweeper
from plano_proxy.proxy.tracing import add_trace_header, tracer_provider, tracing_middleware
from plano_proxy.proxy.upstream.client import create_pool
from plano_proxy.proxy.upstream.routing import ModelTable
from plano_proxy.proxy.web_json import json_response
from plano_proxy.storage import StorageUnavailable, open_store
from plano_proxy.storage.writer import BackgroundWriter


def create_app(config: Config, *, multiprocess_metrics: bool = False) -> web.Application:
    # Tracing adds its middleware only when configured, so that a gateway without it pays nothing for it.
    traced = [tracing_middleware] if config.tracing is not None else []
    app = web.Application(
        client_max_size=config.max_body_bytes, middlewares=[cors_middleware, *traced, gateway_middleware]
    )
    app[CONFIG] = config
    app[METRICS] = create_metrics(multiprocess_metrics)
    app[MODELS] = ModelTable(config)
    app[SHUTDOWN] = Shutdown()
    app.on_shutdown.append(_note_shutdown)
    app.on_response_prepare.append(add_gateway_headers)
    app.on_response_prepare.append(add_cors_headers)
    app[BACKGROUND_TASKS] = set()
    app[RUNNING] = {}
    app[LIVE] = {}
    app[IGNORED_SEEN] = set()
    if config.tracing is not None:
        app.on_response_prepare.append(add_trace_header)
        app.cleanup_ctx.append(
            tracer_provider(config.tracing)
        )  # first in, last out: background work's spans are exported too
    app.cleanup_ctx.append(_upstream_pool)
    if config.state_storage is not None:
        app.cleanup_ctx.append(_state_store)
        app.cleanup_ctx.append(state_sweeper)  # retention, and the store's size in the metrics
    _add_routes(app.router)
    if config.playground.enabled:
        add_playground(app)
    return app


def _add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/v1/chat/completions", chat_completions)
    router.add_post("/v1/messages", messages)
    router.add_post("/v1/messages/count_tokens", count_tokens)
    router.add_post("/v1/responses", create_response)
    router.add_post("/v1/responses/input_tokens", count_input_tokens)
    router.add_post("/v1/responses/compact", compact_response)
    router.add_get("/v1/responses/{response_id}", stored.get_response)
    router.add_delete("/v1/responses/{response_id}", stored.delete_response)
    router.add_get("/v1/responses/{response_id}/input_items", stored.list_input_items)
    router.add_post("/v1/responses/{response_id}/cancel", cancel_response)
    router.add_post("/v1/conversations", conversations.create_conversation)
    router.add_get("/v1/conversations/{conversation_id}", conversations.get_conversation)
    router.add_post("/v1/conversations/{conversation_id}", conversations.update_conversation)
    router.add_delete("/v1/conversations/{conversation_id}", conversations.delete_conversation)
    router.add_get("/v1/conversations/{conversation_id}/items", conversations.list_items)
    router.add_post("/v1/conversations/{conversation_id}/items", conversations.add_items)
    router.add_get("/v1/conversations/{conversation_id}/items/{item_id}", conversations.get_item)
    router.add_delete("/v1/conversations/{conversation_id}/items/{item_id}", conversations.delete_item)
    router.add_get("/v1/models", list_models)
    router.add_get("/v1/models/{model_id:.+}", get_model)
    router.add_get("/", home_page)
    router.add_get("/healthz", _healthz)
    router.add_get("/readyz", _readyz)
    router.add_get("/metrics", metrics_endpoint)


async def _upstream_pool(app: web.Application) -> AsyncIterator[None]:
    async with create_pool(app[CONFIG].listener.upstream_connections) as pool:
        app[UPSTREAM_POOL] = pool
        yield


async def _state_store(app: web.Application) -> AsyncIterator[None]:
    """The store and its background writer live exactly as long as the app; the writer drains on the way out."""
    settings = app[CONFIG].state_storage
    assert settings is not None
    store = await open_store(
        settings.type,
        path=settings.path,
        connection_string=settings.connection_string,
        max_responses=settings.max_responses,
        **({"schema": settings.schema} if settings.schema else {}),
    )
    await store.warm()
    writer = BackgroundWriter(store)
    await writer.start()
    app[STORE], app[WRITER] = store, writer
    member = member_of(
        store, app[METRICS], app[RUNNING], lease_seconds=settings.instance_lease, event_log_ttl=settings.event_log_ttl
    )
    try:
        if member is None:
            yield
            await _finish_work(app)
            return
        app[MEMBER] = member
        async with member.joined():
            yield
            await _finish_work(app)
    finally:
        await writer.stop()
        await store.close()


async def _finish_work(app: web.Application) -> None:
    """What still runs at shutdown ends within the grace period, then the writer drains."""
    await stop_background(app)
    await asyncio.gather(*app[BACKGROUND_TASKS], return_exceptions=True)


async def _note_shutdown(app: web.Application) -> None:
    app[SHUTDOWN].deadline = time.monotonic() + app[CONFIG].listener.shutdown_grace


async def _healthz(request: web.Request) -> web.Response:
    """Alive: the process answers."""
    return json_response({"status": "ok"})


READY_TIMEOUT = 0.8
"""Seconds the state store has to answer a readiness check: a load balancer's probe gets its answer within a second
even when the database host does not answer at all (a store known to be down answers at once)."""


async def _readyz(request: web.Request) -> web.Response:
    """Ready: the config is loaded and the state store (when configured) answers."""
    store = request.app.get(STORE)
    checks = {"config": "ok", "storage": "not configured"}
    if store is not None:
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                await store.ping()
            checks["storage"] = "ok"
        except (StorageUnavailable, TimeoutError) as exc:
            checks["storage"] = f"unavailable: {str(exc) or f'no answer within {READY_TIMEOUT:g}s'}"
            return json_response({"status": "unavailable", "checks": checks}, status=503)
    return json_response({"status": "ok", "checks": checks})
