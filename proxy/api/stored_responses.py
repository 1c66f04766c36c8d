"""Stored responses: ``GET`` / ``DELETE /v1/responses/{id}`` (with stream replay) and ``GET …/input_items``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from plano_proxy.proxy.api.paging import list_object, page_params
from plano_proxy.proxy.app_keys import LIVE, MEMBER, STORE, owner_of
from plano_proxy.proxy.errors import InvalidRequest, NotFound, StorageNotConfigured
from plano_proxy.proxy.scale_out.event_log import follow_shared
from plano_proxy.proxy.stream.outlets import SSE_HEADERS
from plano_proxy.proxy.web_json import json_response
from plano_proxy.storage import Store, StoredResponse
from plano_proxy.storage.base import TERMINAL_STATUSES
from plano_proxy.storage.exchange import response_object
from plano_proxy.transformers.sse import frame_named


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
    background stream still being produced is followed live to its end, here or (PostgreSQL) on any instance."""
    starting_after = _int_query(request, "starting_after", default=-1)
    live = request.app[LIVE].get(record.id)
    if live is not None:
        return await _stream(request, live.follow(after=starting_after))
    if record.events is None:
        raise InvalidRequest(
            f"Response with id '{record.id}' was not created with stream=true, so it has no events to replay.",
            param="stream",
        )
    if record.status not in TERMINAL_STATUSES:
        return await _stream(request, _follow_elsewhere(request, record, starting_after))
    return await _stream(request, _stored_events(record.events, starting_after))


def _follow_elsewhere(request: web.Request, record: StoredResponse, starting_after: int) -> AsyncIterator[bytes]:
    """A stream another process is producing: followed live through the shared log with PostgreSQL."""
    member = request.app.get(MEMBER)
    if member is None or member.notifications is None:
        raise InvalidRequest(
            f"Response with id '{record.id}' is still being produced by another gateway process; with this state "
            "storage its live events can be followed only there (PostgreSQL state shares them between instances).",
            param="stream",
        )
    return follow_shared(
        member.work, member.notifications, require_store(request), record.id, record.owner, starting_after
    )


async def _stored_events(events: list[dict[str, Any]], starting_after: int) -> AsyncIterator[bytes]:
    yield b"".join(frame_named(event) for event in events if event["sequence_number"] > starting_after)


async def _stream(request: web.Request, chunks: AsyncIterator[bytes]) -> web.StreamResponse:
    response = web.StreamResponse(status=200, headers=SSE_HEADERS)
    await response.prepare(request)
    async for chunk in chunks:
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
