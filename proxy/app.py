"""`create_app(config)`: the whole gateway wired on one aiohttp application."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from plano_proxy.proxy import conversations_api as conversations
from plano_proxy.proxy import stored_responses as stored
from plano_proxy.proxy.app_keys import CONFIG, MODELS, SESSION, STORE, WRITER
from plano_proxy.proxy.chat import chat_completions
from plano_proxy.proxy.config import Config
from plano_proxy.proxy.messages import count_tokens, messages
from plano_proxy.proxy.middleware import gateway_middleware
from plano_proxy.proxy.models_api import list_models
from plano_proxy.proxy.responses_api import create_response
from plano_proxy.proxy.routing import ModelTable
from plano_proxy.proxy.upstream import create_session
from plano_proxy.proxy.web_json import json_response
from plano_proxy.storage import open_store
from plano_proxy.storage.writer import BackgroundWriter


def create_app(config: Config) -> web.Application:
    app = web.Application(client_max_size=config.max_body_bytes, middlewares=[gateway_middleware])
    app[CONFIG] = config
    app[MODELS] = ModelTable(config)
    app.cleanup_ctx.append(_upstream_session)
    if config.state_storage is not None:
        app.cleanup_ctx.append(_state_store)
    _add_routes(app.router)
    return app


def _add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/v1/chat/completions", chat_completions)
    router.add_post("/v1/messages", messages)
    router.add_post("/v1/messages/count_tokens", count_tokens)
    router.add_post("/v1/responses", create_response)
    router.add_get("/v1/responses/{response_id}", stored.get_response)
    router.add_delete("/v1/responses/{response_id}", stored.delete_response)
    router.add_get("/v1/responses/{response_id}/input_items", stored.list_input_items)
    router.add_post("/v1/conversations", conversations.create_conversation)
    router.add_get("/v1/conversations/{conversation_id}", conversations.get_conversation)
    router.add_post("/v1/conversations/{conversation_id}", conversations.update_conversation)
    router.add_delete("/v1/conversations/{conversation_id}", conversations.delete_conversation)
    router.add_get("/v1/conversations/{conversation_id}/items", conversations.list_items)
    router.add_post("/v1/conversations/{conversation_id}/items", conversations.add_items)
    router.add_get("/v1/conversations/{conversation_id}/items/{item_id}", conversations.get_item)
    router.add_delete("/v1/conversations/{conversation_id}/items/{item_id}", conversations.delete_item)
    router.add_get("/v1/models", list_models)
    router.add_get("/healthz", _healthz)


async def _upstream_session(app: web.Application) -> AsyncIterator[None]:
    async with create_session() as session:
        app[SESSION] = session
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
    writer = BackgroundWriter(store)
    await writer.start()
    app[STORE], app[WRITER] = store, writer
    try:
        yield
    finally:
        await writer.stop()
        await store.close()


async def _healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})
