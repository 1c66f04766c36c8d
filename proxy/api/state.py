"""Conversation state for one Responses turn: the stored history it continues, and its durable commit.

A turn continues either a previous response (``previous_response_id``: that response's whole chain) or a
conversation (``conversation``: its ordered items), never both. It stores only its own new items.
"""

from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from plano_proxy.proxy.app_keys import STORE, WRITER, owner_of
from plano_proxy.proxy.errors import InvalidRequest, NotFound, StorageNotConfigured
from plano_proxy.proxy.metrics import METRICS, Metrics
from plano_proxy.proxy.tracing import TRACE, RequestTrace, content_attribute
from plano_proxy.proxy.upstream.routing import Route
from plano_proxy.proxy.web_json import unix_time
from plano_proxy.storage import Conversation, Store, StoredResponse, StoredTurn, with_item_ids
from plano_proxy.storage.base import RecordedExchange
from plano_proxy.storage.exchange import to_record_fields
from plano_proxy.storage.writer import BackgroundWriter
from plano_proxy.transformers.canonical import CanonicalRequest, Item


@dataclass(slots=True)
class TurnState:
    store: Store | None
    writer: BackgroundWriter | None
    owner: str | None
    keep: bool
    """The client's ``store`` flag: false means nothing of this turn is kept."""
    history: tuple[Item, ...] = ()
    input_items: tuple[Item, ...] = ()
    previous_response_id: str | None = None
    conversation_id: str | None = None
    metrics: Metrics | None = None
    trace: RequestTrace | None = None
    """The trace the commit's span goes in, when tracing is on (a background response's own, once it runs)."""

    def continued(self, request: CanonicalRequest) -> CanonicalRequest:
        """`request` with the stored history before its new input: what providers are sent. A chain's history is
        named as such (see `history_memo`): the stores cache it, so the next turn gets the same items. A
        conversation's is read afresh on every turn, and would only fill the memo."""
        items = (*self.history, *self.input_items)
        if self.previous_response_id is None:
            return dataclasses.replace(request, items=items)
        return dataclasses.replace(request, items=items, history=self.history)

    def echo(self) -> dict[str, Any]:
        """Response fields that come from the state rather than the request body."""
        return {
            "previous_response_id": self.previous_response_id,
            "conversation": {"id": self.conversation_id} if self.conversation_id else None,
            "store": self.keep,
        }

    def record(self, route: Route, response: dict[str, Any], events: list[dict[str, Any]] | None) -> StoredResponse:
        """The response as this turn stores it."""
        return StoredResponse(
            id=response["id"],
            owner=self.owner,
            model=route.requested,
            provider=route.provider.qualified_name,
            previous_response_id=self.previous_response_id,
            conversation_id=self.conversation_id,
            events=events,
            **to_record_fields(response),
        )

    async def commit(
        self, route: Route, response: dict[str, Any], output_items: list[Item], events: list[dict[str, Any]] | None
    ) -> None:
        """Store the turn and return once it is committed; a no-op for ``store: false`` or without storage."""
        if not self.keep or self.writer is None:
            return
        record = self.record(route, response, events)
        if self.trace is not None and self.trace.tracing.capture_content:
            output = {"gen_ai.output.messages": content_attribute(output_items)}
            await self._submit(StoredTurn(record, list(self.input_items), output_items), output)
            return
        await self._submit(StoredTurn(record, list(self.input_items), output_items))

    async def commit_exchange(
        self, route: Route, response_id: str, created_at: int, exchange: RecordedExchange, status: str
    ) -> None:
        """Store a turn as the exchange it was (its items are read from it later, see `plano_proxy.storage.exchange`)
        and return once it is committed; a no-op for ``store: false`` or without storage."""
        if not self.keep or self.writer is None:
            return
        record = StoredResponse(
            id=response_id,
            owner=self.owner,
            created_at=created_at,
            status=status,
            model=route.requested,
            provider=route.provider.qualified_name,
            previous_response_id=self.previous_response_id,
            completed_at=unix_time(),
            exchange=exchange,
        )
        await self._submit(StoredTurn(record, [], []))

    async def _submit(self, turn: StoredTurn, content: dict[str, str] | None = None) -> None:
        assert self.writer is not None
        started = time.perf_counter()
        if self.trace is None:
            await self.writer.submit(turn)
        else:
            with self.trace.child("commit", {"plano.response.id": turn.response.id, **(content or {})}):
                await self.writer.submit(turn)
        if self.metrics is not None:
            self.metrics.commit_latency.observe(time.perf_counter() - started)


def new_turn(request: web.Request) -> TurnState:
    """The state of a turn that continues nothing, to be stored."""
    store = request.app.get(STORE)
    turn = TurnState(store, request.app.get(WRITER), owner_of(request), store is not None)
    turn.metrics = request.app.get(METRICS)
    if (trace := request.get(TRACE)) is not None:
        turn.trace = trace
    return turn


async def begin_turn(request: web.Request, body: dict[str, Any], canonical: CanonicalRequest) -> TurnState:
    previous = body.get("previous_response_id")
    conversation = _conversation_id(body.get("conversation"))
    if previous is not None and conversation is not None:
        raise InvalidRequest(
            "Mutually exclusive parameters: Ensure you are only providing one of: 'previous_response_id' or "
            "'conversation'.",
            code="mutually_exclusive_parameters",
        )
    if previous is not None and not isinstance(previous, str):
        raise InvalidRequest(
            "Invalid type for 'previous_response_id': expected a string.", param="previous_response_id"
        )
    store = request.app.get(STORE)
    keep = body.get("store", True) is not False
    if (previous or conversation) and store is None:
        raise StorageNotConfigured(
            "This request continues stored state, but state storage is not configured on this gateway "
            "(set state_storage in plano_config.yaml).",
            param="previous_response_id" if previous else "conversation",
        )
    turn = TurnState(store, request.app.get(WRITER), owner_of(request), keep and store is not None)
    turn.metrics = request.app.get(METRICS)
    turn.previous_response_id = previous
    turn.conversation_id = conversation
    trace = request.get(TRACE)
    if trace is not None:
        turn.trace = trace
        if conversation is not None:
            trace.span.set_attribute("gen_ai.conversation.id", conversation)
    if store is not None and trace is not None:
        with trace.child("load_history", _continued(turn)) as span:
            turn.history = await _history(store, turn)
            span.set_attribute("plano.history.items", len(turn.history))
    elif store is not None:
        turn.history = await _history(store, turn)
    turn.input_items = tuple(with_item_ids(await _resolve_references(turn, canonical.items)))
    return turn


def _continued(turn: TurnState) -> dict[str, str]:
    if turn.conversation_id is not None:
        return {"gen_ai.conversation.id": turn.conversation_id}
    if turn.previous_response_id is not None:
        return {"plano.previous_response_id": turn.previous_response_id}
    return {}


async def _history(store: Store, turn: TurnState) -> tuple[Item, ...]:
    if turn.previous_response_id is not None:
        history = await store.history(turn.previous_response_id, turn.owner)
        if history is None:
            raise InvalidRequest(
                f"Previous response with id '{turn.previous_response_id}' not found.",
                param="previous_response_id",
                code="previous_response_not_found",
            )
        return history
    if turn.conversation_id is not None:
        items = await store.conversation_history(turn.conversation_id, turn.owner)
        if items is None:
            if not await _start_named_conversation(store, turn.conversation_id, turn.owner):
                raise NotFound(f"Conversation with id '{turn.conversation_id}' not found.")
            return ()
        return tuple(items)
    return ()


_MINTED_CONVERSATION_ID = re.compile(r"conv_[0-9a-f]{48}")


async def _start_named_conversation(store: Store, conversation_id: str, owner: str | None) -> bool:
    """A conversation id the client chose (``conv_my_session``) starts that conversation on first use, as Plexus
    documents; an id shaped like the ones this gateway and OpenAI mint must exist already, as OpenAI requires, so a
    mistyped or deleted one is a 404 rather than a silent fresh start."""
    if _MINTED_CONVERSATION_ID.fullmatch(conversation_id):
        return False
    return await store.ensure_conversation(Conversation(id=conversation_id, owner=owner, created_at=unix_time()))


def _conversation_id(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and value:
        return value
    if isinstance(value, dict) and isinstance(value.get("id"), str) and value["id"]:
        return str(value["id"])
    raise InvalidRequest(
        "Invalid type for 'conversation': expected a conversation id string or an object with an 'id'.",
        param="conversation",
    )


async def _resolve_references(turn: TurnState, items: tuple[Item, ...]) -> list[Item]:
    """Replace ``item_reference`` items by the stored items they name, as OpenAI does: any item the caller stored,
    looked for first in the history this turn continues (already in hand), then in the store with one lookup for all
    the rest (another response's input or output, another conversation's items)."""
    wanted = {item["id"] for item in items if item.get("type") == "item_reference"}
    if not wanted:
        return list(items)  # the usual case: no index of the whole history needed
    known = {item["id"]: item for item in turn.history if "id" in item}
    elsewhere = wanted - known.keys()
    if elsewhere and turn.store is not None:
        known.update(await turn.store.find_items(elsewhere, turn.owner))
    resolved = []
    for item in items:
        if item.get("type") != "item_reference":
            resolved.append(item)
            continue
        target = known.get(item["id"])
        if target is None:
            raise NotFound(f"Item with id '{item['id']}' not found.", param="input")
        resolved.append(target)
    return resolved
