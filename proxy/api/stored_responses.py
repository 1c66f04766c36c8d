"""Stored responses: ``GET`` / ``DELETE /v1/responses/{id}`` (with stream replay) and ``GET …/input_items``."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from plano_proxy.proxy.api.paging import list_object, page_params
from plano_proxy.proxy.app_keys import LIVE, STORE, owner_of
from plano_proxy.proxy.errors import InvalidRequest, NotFound, StorageNotConfigured
from plano_proxy.proxy.stream.live import LiveStream
from plano_proxy.proxy.stream.outlets import SSE_HEADERS
from plano_proxy.proxy.web_json import json_response
from plano_proxy.storage import Store, StoredResponse
from plano_proxy.transformers.sse import frame_named


def response_object(record: StoredResponse) -> dict[str, Any]:
    return {
        "id": record.id,
        "object": "response",
        "created_at": record.created_at,
        "status": record.status,
        **record.request,
        "output": record.output,
        "usage": record.usage,
        "error": record.error,
        "completed_at": record.completed_at,
    }


def require_store(request: web.Request) -> Store:
    store = request.app.get(STORE)
    if store is None:
        raise StorageNotConfigured(
            "State storage is not configured on this gateway, so nothing is stored "
            "(set state_storage in plano_config.yaml)."
        )
    return store


async def _stored(request: web.Request) -> StoredResponse:
    response_id = request.match_info["response_id"]
    record = await require_store(request).get_response(response_id, owner_of(request))
    if record is None:
        raise NotFound(f"Response with id '{response_id}' not found.")
    return record


async def get_response(request: web.Request) -> web.StreamResponse:
    record = await _stored(request)
    if request.query.get("stream", "false") != "true":
        return json_response(response_object(record))
    return await _replay(request, record)


async def _replay(request: web.Request, record: StoredResponse) -> web.StreamResponse:
    """The stored stream again, events after ``starting_after`` only, with their original sequence numbers; a
    background stream still being produced here is followed live to its end."""
    starting_after = _int_query(request, "starting_after", default=-1)
    live = request.app[LIVE].get(record.id)
    if live is not None:
        return await _follow(request, live, starting_after)
    if record.events is None:
        raise InvalidRequest(
            f"Response with id '{record.id}' was not created with stream=true, so it has no events to replay.",
            param="stream",
        )
    response = web.StreamResponse(status=200, headers=SSE_HEADERS)
    await response.prepare(request)
    await response.write(b"".join(frame_named(e) for e in record.events if e["sequence_number"] > starting_after))
    await response.write_eof()
    return response


async def _follow(request: web.Request, live: LiveStream, starting_after: int) -> web.StreamResponse:
    response = web.StreamResponse(status=200, headers=SSE_HEADERS)
    await response.prepare(request)
    async for chunk in live.follow(after=starting_after):
        await response.write(chunk)
    await response.write_eof()
    return response


async def delete_response(request: web.Request) -> web.Response:
    response_id = request.match_info["response_id"]
    if not await require_store(request).delete_response(response_id, owner_of(request)):
        raise NotFound(f"Response with id '{response_id}' not found.")
    # OpenAI's API reference shows the deleted response as "object": "response" (the SDK ignores the body).
    return json_response({"id": response_id, "object": "response", "deleted": True})


async def list_input_items(request: web.Request) -> web.Response:
    response_id = request.match_info["response_id"]
    page = await require_store(request).list_input_items(response_id, owner_of(request), **page_params(request))
    if page is None:
        raise NotFound(f"Response with id '{response_id}' not found.")
    return json_response(list_object(page))


def _int_query(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidRequest(f"Invalid '{name}': expected an integer, but got {raw!r}.", param=name) from None
