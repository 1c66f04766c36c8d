"""The playground's reads where the public API has none, under ``/playground/api/``, all with the caller's key and
scoped to its owner like every stored object:

- ``GET info``: who the caller is, what the gateway stores, and which provider each model name reaches;
- ``GET conversations`` and ``GET chains``: the caller's conversations and response chains, newest first;
- ``GET conversations/{id}`` and ``GET chains/{response_id}``: their turns, each with the model and provider that
  answered it;
- ``GET responses/{id}/events``: a stored turn's stream events (null when it was not streamed);
- ``GET requests/{request_id}``: what a request sent upstream after translation, when
  ``playground.keep_upstream_requests`` is on.

Answers are 200 wherever the page asks in the ordinary course (a missing stream or an upstream request not kept is
said in the body), so a browser console stays clean.
"""

from __future__ import annotations

from typing import Any, cast

import orjson
from aiohttp import web

from plano_proxy.proxy.api.paging import MAX_LIMIT
from plano_proxy.proxy.api.stored_responses import require_store
from plano_proxy.proxy.app_keys import CONFIG, MODELS, STORE, owner_of
from plano_proxy.proxy.errors import InvalidRequest, NotFound
from plano_proxy.proxy.upstream.capture import UpstreamLog
from plano_proxy.proxy.upstream.client import Operation, upstream_url
from plano_proxy.proxy.web_json import json_response
from plano_proxy.storage import Item, Store, StoredResponse

UPSTREAM_LOG = web.AppKey("playground_upstream_log", UpstreamLog)

MAX_TURNS = 500
"""Turns shown of one chain, the latest ones; an older start is said with ``complete: false``."""
_TITLE_CHARS = 80


def add_routes(router: web.UrlDispatcher, prefix: str) -> None:
    router.add_get(prefix + "info", info)
    router.add_get(prefix + "conversations", list_conversations)
    router.add_get(prefix + "conversations/{conversation_id}", conversation_turns)
    router.add_get(prefix + "chains", list_chains)
    router.add_get(prefix + "chains/{response_id}", chain_turns)
    router.add_get(prefix + "responses/{response_id}/events", response_events)
    router.add_get(prefix + "requests/{request_id}", upstream_requests)


async def info(request: web.Request) -> web.Response:
    config, table = request.app[CONFIG], request.app[MODELS]
    storage = config.state_storage
    return json_response(
        {
            "owner": owner_of(request),
            "gateway_keys": bool(config.gateway_keys),
            "storage": storage.type if storage is not None and STORE in request.app else None,
            "store_chat_turns": storage is not None and storage.store_chat_turns,
            "keep_upstream_requests": UPSTREAM_LOG in request.app,
            "routes": {name: table.resolve(name).provider.qualified_name for name in table.names()},
        }
    )


async def list_conversations(request: web.Request) -> web.Response:
    store, owner = _store_or_none(request), owner_of(request)
    if store is None:
        return json_response({"data": []})
    data = []
    for conversation in await store.list_conversations(owner, limit=_limit(request)):
        title = conversation.metadata.get("title")
        if not isinstance(title, str) or not title:
            page = await store.list_conversation_items(conversation.id, owner, limit=10, order="asc")
            title = _user_text(page.items if page else [])
        data.append({"id": conversation.id, "created_at": conversation.created_at, "title": title})
    return json_response({"data": data})


async def list_chains(request: web.Request) -> web.Response:
    store, owner = _store_or_none(request), owner_of(request)
    if store is None:
        return json_response({"data": []})
    data = []
    for record in await store.list_chains(owner, limit=_limit(request)):
        page = await store.list_input_items(record.id, owner, limit=20, order="desc")
        data.append({**_summary(record), "title": _user_text(page.items if page else [])})
    return json_response({"data": data})


async def chain_turns(request: web.Request) -> web.Response:
    """The chain ending at this response, oldest turn first, walked back through ``previous_response_id``."""
    store, owner = require_store(request), owner_of(request)
    response_id = request.match_info["response_id"]
    turns: list[dict[str, Any]] = []
    next_id: str | None = response_id
    while next_id is not None and len(turns) < MAX_TURNS:
        record = await store.get_response(next_id, owner)
        if record is None:
            if not turns:
                raise NotFound(f"Response with id '{response_id}' not found.")
            break  # an ancestor deleted (or evicted from the memory store): the turns after it are still shown
        turns.append(await _turn(store, record, owner))
        next_id = record.previous_response_id
    turns.reverse()
    return json_response({"id": response_id, "turns": turns, "complete": next_id is None})


async def conversation_turns(request: web.Request) -> web.Response:
    """The conversation's items in order, grouped into the turns of the responses that added them; items added
    through the Conversations API are a turn of their own without a model."""
    store, owner = require_store(request), owner_of(request)
    conversation_id = request.match_info["conversation_id"]
    conversation = await store.get_conversation(conversation_id, owner)
    responses = await store.list_conversation_responses(conversation_id, owner)
    items = await store.conversation_history(conversation_id, owner)
    if conversation is None or responses is None or items is None:
        raise NotFound(f"Conversation with id '{conversation_id}' not found.")
    position: dict[str, int] = {}
    for index, item in enumerate(items):
        position.setdefault(item["id"], index)
    placed: list[tuple[int, dict[str, Any]]] = []
    claimed: set[str] = set()
    for record in responses:
        turn = await _turn(store, record, owner)
        ids = [item["id"] for item in (*turn["input"], *turn["output"]) if "id" in item]
        claimed.update(ids)
        placed.append((min((position[i] for i in ids if i in position), default=len(items)), turn))
    placed += _loose_runs(items, claimed)
    placed.sort(key=lambda entry: entry[0])
    return json_response(
        {
            "id": conversation.id,
            "created_at": conversation.created_at,
            "metadata": conversation.metadata,
            "turns": [turn for _, turn in placed],
        }
    )


async def response_events(request: web.Request) -> web.Response:
    record = await require_store(request).get_response(request.match_info["response_id"], owner_of(request))
    if record is None:
        raise NotFound(f"Response with id '{request.match_info['response_id']}' not found.")
    return json_response({"id": record.id, "events": record.events})


async def upstream_requests(request: web.Request) -> web.Response:
    log = request.app.get(UPSTREAM_LOG)
    if log is None:
        return json_response({"kept": False, "reason": "playground.keep_upstream_requests is off", "requests": []})
    sent = log.sent(request.match_info["request_id"], owner_of(request))
    if sent is None:
        return json_response({"kept": False, "reason": "no longer kept", "requests": []})
    providers = {provider.qualified_name: provider for provider in request.app[MODELS].providers}
    requests = [
        {
            "provider": call.provider,
            "operation": call.operation,
            "url": upstream_url(providers[call.provider], cast(Operation, call.operation)).partition("?")[0],
            "sent_at": call.sent_at,
            "body": _json_or_text(call.body),
        }
        for call in sent
    ]
    return json_response({"kept": True, "requests": requests})


async def _turn(store: Store, record: StoredResponse, owner: str | None) -> dict[str, Any]:
    inputs: list[Item] = []
    after = None
    while True:
        page = await store.list_input_items(record.id, owner, after=after, limit=MAX_LIMIT, order="asc")
        if page is None:
            break
        inputs += page.items
        if not page.has_more:
            break
        after = page.last_id
    return {
        **_summary(record),
        "previous_response_id": record.previous_response_id,
        "conversation_id": record.conversation_id,
        "input": inputs,
        "output": record.output,
        "usage": record.usage,
        "error": record.error,
    }


def _summary(record: StoredResponse) -> dict[str, Any]:
    return {
        "id": record.id,
        "created_at": record.created_at,
        "status": record.status,
        "model": record.model,
        "provider": record.provider,
    }


def _loose_runs(items: list[Item], claimed: set[str]) -> list[tuple[int, dict[str, Any]]]:
    """Runs of consecutive items no response holds, each as a turn placed where the run starts."""
    runs: list[tuple[int, dict[str, Any]]] = []
    current: list[Item] = []
    for index, item in enumerate([*items, None]):
        if item is not None and item["id"] not in claimed:
            current.append(item)
            continue
        if current:
            added = {"id": None, "status": "added", "model": None, "provider": None, "input": current, "output": []}
            runs.append((index - len(current), added))
            current = []
    return runs


def _user_text(items: list[Item]) -> str:
    """The first text a user wrote among the items, cut to a title (given newest first: the last one)."""
    for item in items:
        if item.get("type", "message") == "message" and item.get("role") == "user":
            text = _text_of(item.get("content"))
            if text:
                return text[:_TITLE_CHARS]
    return ""


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content.strip()
    if isinstance(content, list):
        parts = [part.get("text", "") for part in content if isinstance(part, dict)]
        return " ".join(part for part in parts if isinstance(part, str)).strip()
    return ""


def _store_or_none(request: web.Request) -> Store | None:
    return request.app.get(STORE)


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", "30")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise InvalidRequest(f"Invalid 'limit': expected an integer from 1 to {MAX_LIMIT}, got {raw!r}.", param="limit")
    return int(raw)


def _json_or_text(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return body.decode("utf-8", "replace")
