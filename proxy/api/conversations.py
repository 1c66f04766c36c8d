"""The OpenAI Conversations API: ``/v1/conversations`` and its items."""

from __future__ import annotations

from typing import Any, TypeVar

from aiohttp import web

from plano_proxy.proxy.api.paging import list_object, page_params
from plano_proxy.proxy.api.stored_responses import require_store
from plano_proxy.proxy.app_keys import owner_of
from plano_proxy.proxy.errors import InvalidRequest, NotFound
from plano_proxy.proxy.web_json import json_response, read_json_object, unix_time
from plano_proxy.storage import Conversation, ItemPage
from plano_proxy.transformers.ids import random_id
from plano_proxy.transformers.metadata import parse_metadata
from plano_proxy.transformers.responses_items import normalise_input_items

T = TypeVar("T")
MAX_ITEMS_PER_CALL = 20


def conversation_object(conversation: Conversation) -> dict[str, Any]:
    return {
        "id": conversation.id,
        "object": "conversation",
        "created_at": conversation.created_at,
        "metadata": conversation.metadata,
    }


async def create_conversation(request: web.Request) -> web.Response:
    body = await _optional_body(request)
    items = _items(body.get("items"), required=False)
    metadata = parse_metadata(body.get("metadata"))
    conversation = Conversation(
        id=random_id("conv_"), owner=owner_of(request), created_at=unix_time(), metadata=metadata
    )
    await require_store(request).create_conversation(conversation, items)
    return json_response(conversation_object(conversation))


async def get_conversation(request: web.Request) -> web.Response:
    conversation_id = request.match_info["conversation_id"]
    conversation = await require_store(request).get_conversation(conversation_id, owner_of(request))
    return json_response(conversation_object(_found(conversation, conversation_id)))


async def update_conversation(request: web.Request) -> web.Response:
    conversation_id = request.match_info["conversation_id"]
    body = await read_json_object(request)
    if "metadata" not in body:
        raise InvalidRequest("Missing required parameter: 'metadata'.", param="metadata")
    updated = await require_store(request).update_conversation_metadata(
        conversation_id, owner_of(request), parse_metadata(body["metadata"])
    )
    return json_response(conversation_object(_found(updated, conversation_id)))


async def delete_conversation(request: web.Request) -> web.Response:
    conversation_id = request.match_info["conversation_id"]
    if not await require_store(request).delete_conversation(conversation_id, owner_of(request)):
        raise _not_found(conversation_id)
    return json_response({"id": conversation_id, "object": "conversation.deleted", "deleted": True})


async def list_items(request: web.Request) -> web.Response:
    conversation_id = request.match_info["conversation_id"]
    page = await require_store(request).list_conversation_items(
        conversation_id, owner_of(request), **page_params(request)
    )
    return json_response(list_object(_found(page, conversation_id)))


async def add_items(request: web.Request) -> web.Response:
    conversation_id = request.match_info["conversation_id"]
    body = await read_json_object(request)
    items = _items(body.get("items"), required=True)
    added = await require_store(request).add_conversation_items(conversation_id, owner_of(request), items)
    return json_response(list_object(ItemPage(_found(added, conversation_id), has_more=False)))


async def get_item(request: web.Request) -> web.Response:
    conversation_id, item_id = request.match_info["conversation_id"], request.match_info["item_id"]
    store = require_store(request)
    item = await store.get_conversation_item(conversation_id, owner_of(request), item_id)
    if item is None:
        _found(await store.get_conversation(conversation_id, owner_of(request)), conversation_id)
        raise NotFound(f"Item with id '{item_id}' not found.")
    return json_response(item)


async def delete_item(request: web.Request) -> web.Response:
    """Deleting an item answers with the conversation object, as OpenAI does."""
    conversation_id, item_id = request.match_info["conversation_id"], request.match_info["item_id"]
    store = require_store(request)
    conversation = _found(await store.get_conversation(conversation_id, owner_of(request)), conversation_id)
    if not await store.delete_conversation_item(conversation_id, owner_of(request), item_id):
        raise NotFound(f"Item with id '{item_id}' not found.")
    return json_response(conversation_object(conversation))


async def _optional_body(request: web.Request) -> dict[str, Any]:
    return await read_json_object(request) if request.can_read_body else {}


def _items(raw: Any, *, required: bool) -> list[dict[str, Any]]:
    if raw is None and not required:
        return []
    if not isinstance(raw, list):
        raise InvalidRequest("Invalid type for 'items': expected an array of items.", param="items")
    if len(raw) > MAX_ITEMS_PER_CALL:
        raise InvalidRequest(
            f"Invalid 'items': array too long. Expected an array with maximum length {MAX_ITEMS_PER_CALL}, "
            f"but got an array with length {len(raw)} instead.",
            param="items",
        )
    return normalise_input_items(raw, param="items")


def _found(value: T | None, conversation_id: str) -> T:
    if value is None:
        raise _not_found(conversation_id)
    return value


def _not_found(conversation_id: str) -> NotFound:
    return NotFound(f"Conversation with id '{conversation_id}' not found.")
