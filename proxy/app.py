"""`create_app(config)`: the whole gateway wired on one aiohttp application."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from plano_proxy.proxy.app_keys import CONFIG, MODELS, SESSION
from plano_proxy.proxy.chat import chat_completions
from plano_proxy.proxy.config import Config
from plano_proxy.proxy.messages import count_tokens, messages
from plano_proxy.proxy.middleware import gateway_middleware
from plano_proxy.proxy.models_api import list_models
from plano_proxy.proxy.routing import ModelTable
from plano_proxy.proxy.upstream import create_session
from plano_proxy.proxy.web_json import json_response


def create_app(config: Config) -> web.Application:
    app = web.Application(client_max_size=config.max_body_bytes, middlewares=[gateway_middleware])
    app[CONFIG] = config
    app[MODELS] = ModelTable(config)
    app.cleanup_ctx.append(_upstream_session)
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_post("/v1/messages", messages)
    app.router.add_post("/v1/messages/count_tokens", count_tokens)
    app.router.add_get("/v1/models", list_models)
    app.router.add_get("/healthz", _healthz)
    return app


async def _upstream_session(app: web.Application) -> AsyncIterator[None]:
    async with create_session() as session:
        app[SESSION] = session
        yield


async def _healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})
