"""``GET /v1/models`` and ``GET /v1/models/{model_id}``: configured models and aliases, in OpenAI's shapes or, asked
by an Anthropic client (``anthropic-version`` header), in Anthropic's."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from plano_proxy.proxy.app_keys import MODELS
from plano_proxy.proxy.errors import ModelNotFound
from plano_proxy.proxy.upstream.routing import ModelTable
from plano_proxy.proxy.web_json import json_response

_CREATED = 1_700_000_000
"""A fixed creation time: the gateway does not know when a provider published a model."""
_CREATED_AT = datetime.fromtimestamp(_CREATED, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def asks_for_anthropic_shape(request: web.Request) -> bool:
    return "anthropic-version" in request.headers


async def list_models(request: web.Request) -> web.Response:
    table = request.app[MODELS]
    if asks_for_anthropic_shape(request):
        return json_response(_anthropic_list(table))
    return json_response({"object": "list", "data": [_openai_model(name, owner) for name, owner in _entries(table)]})


async def get_model(request: web.Request) -> web.Response:
    """One configured name (``provider/model``, bare model or alias); any other is a 404 listing what is configured,
    rendered in the asker's format by the error middleware."""
    table = request.app[MODELS]
    model_id = request.match_info["model_id"]
    owner = dict(_entries(table)).get(model_id)
    if owner is None:
        raise ModelNotFound(model_id, table.names())
    if asks_for_anthropic_shape(request):
        return json_response(_anthropic_model(model_id))
    return json_response(_openai_model(model_id, owner))


def _entries(table: ModelTable) -> list[tuple[str, str]]:
    entries = [(p.qualified_name, p.provider) for p in table.providers]
    entries += [(p.model, p.provider) for p in table.providers if p.model not in {e[0] for e in entries}]
    entries += [(alias, "alias") for alias in table.aliases()]
    return entries


def _openai_model(name: str, owner: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": _CREATED, "owned_by": owner}


def _anthropic_model(name: str) -> dict[str, Any]:
    return {"type": "model", "id": name, "display_name": name, "created_at": _CREATED_AT}


def _anthropic_list(table: ModelTable) -> dict[str, Any]:
    data = [_anthropic_model(name) for name, _ in _entries(table)]
    return {
        "data": data,
        "has_more": False,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }
