"""In-process store for development: bounded (the oldest responses are evicted past ``max_responses``), lost on
exit, and private to one process, so it cannot serve several workers.

Histories of recent chains are cached (`plano_proxy.storage.cache`), as the SQL stores do, so that a turn deep in a
chain neither walks it nor builds a new tuple. Responses are evicted in the order they were saved, each numbered as
it is saved: a cached history stays right while the lowest number of its chain is still in the store, and the cache
is emptied when a response is saved again or pruned.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import orjson

from plano_proxy.storage.base import (
    TERMINAL_STATUSES,
    Conversation,
    Item,
    ItemPage,
    Order,
    Store,
    StoredResponse,
    StoredTurn,
    ends_once,
    page_of,
    with_item_ids,
)
from plano_proxy.storage.cache import CachedHistory, HistoryCache
from plano_proxy.storage.exchange import expand, recorded_response_ids
from plano_proxy.storage.retention import PruneResult, ResponseSpan, StoreStats, expired, size_cutoff, unit_spans

_Listed = TypeVar("_Listed", StoredResponse, Conversation)


@dataclass(slots=True)
class _Entry:
    response: StoredResponse
    input_items: tuple[Item, ...]
    output_items: tuple[Item, ...]
    saved: int
    """Its number in the order of saving, which is the order of eviction."""
    deleted: bool = False
    expanded: bool = False
    """For a recorded turn (see `plano_proxy.storage.exchange`): whether it was read into its record and items."""


@dataclass(slots=True)
class _ConversationEntry:
    conversation: Conversation
    items: list[Item]


def _detached(items: Sequence[Item]) -> tuple[Item, ...]:
    """Copies through JSON, so the store holds exactly what a database would and the caller's dicts stay theirs."""
    return tuple(orjson.loads(orjson.dumps(item)) for item in with_item_ids(items))


class MemoryStore(Store):
    def __init__(self, max_responses: int = 10_000, cache_size: int = 2048) -> None:
        if max_responses < 1:
            raise ValueError(f"max_responses must be at least 1, not {max_responses}")
        self._max = max_responses
        self._responses: OrderedDict[str, _Entry] = OrderedDict()
        self._conversations: dict[str, _ConversationEntry] = {}
        self._saves = itertools.count()
        self._histories = HistoryCache(cache_size)
        """Chain histories, each with the lowest saving number of its chain as its ``revision``."""

    async def save_turns(self, turns: Sequence[StoredTurn]) -> None:
        for turn in turns:
            self._save(turn)
        while len(self._responses) > self._max:
            self._responses.popitem(last=False)

    def _save(self, turn: StoredTurn) -> None:
        record = turn.response
        previous = self._responses.get(record.id)
        if previous is not None and not ends_once(previous.response.status, record.status):
            return
        inputs, outputs = _detached(turn.input_items), _detached(turn.output_items)
        if self._responses.pop(record.id, None) is not None:
            self._histories.clear()  # its items may sit inside cached chains
        self._responses[record.id] = _Entry(record, inputs, outputs, next(self._saves))
        conversation = self._conversation(record.conversation_id, record.owner)
        if conversation is not None:
            seen = {item["id"] for item in (*previous.input_items, *previous.output_items)} if previous else set()
            conversation.items.extend(item for item in (*inputs, *outputs) if item["id"] not in seen)

    def _entry(self, response_id: str, owner: str | None) -> _Entry | None:
        entry = self._responses.get(response_id)
        if entry is None or entry.deleted or entry.response.owner != owner:
            return None
        return _read(entry)

    def _conversation(self, conversation_id: str | None, owner: str | None) -> _ConversationEntry | None:
        entry = self._conversations.get(conversation_id) if conversation_id is not None else None
        if entry is None or entry.conversation.owner != owner:
            return None
        return entry

    async def get_response(self, response_id: str, owner: str | None) -> StoredResponse | None:
        entry = self._entry(response_id, owner)
        return entry.response if entry else None

    async def delete_response(self, response_id: str, owner: str | None) -> bool:
        entry = self._entry(response_id, owner)
        if entry is None:
            return False
        entry.deleted = True
        return True

    async def history(self, response_id: str, owner: str | None) -> tuple[Item, ...] | None:
        if self._entry(response_id, owner) is None:
            return None
        cached = self._histories.get(response_id)
        if cached is not None and cached.revision >= self._oldest_saved():
            return cached.items
        chain: list[_Entry] = []
        next_id: str | None = response_id
        while next_id is not None:
            entry = self._responses.get(next_id)
            if entry is None or entry.response.owner != owner:
                return None  # an ancestor was evicted: a partial history would silently change the conversation
            chain.append(_read(entry))
            next_id = entry.response.previous_response_id
        items: list[Item] = []
        for entry in reversed(chain):
            items.extend(entry.input_items)
            items.extend(entry.output_items)
        cached = CachedHistory(owner, min(entry.saved for entry in chain), tuple(items))
        self._histories.put(response_id, cached)
        return cached.items

    def _oldest_saved(self) -> int:
        return next(iter(self._responses.values())).saved

    async def list_input_items(
        self,
        response_id: str,
        owner: str | None,
        *,
        after: str | None = None,
        before: str | None = None,
        limit: int = 20,
        order: Order = "desc",
    ) -> ItemPage | None:
        entry = self._entry(response_id, owner)
        if entry is None:
            return None
        return page_of(entry.input_items, after=after, before=before, limit=limit, order=order)

    async def create_conversation(self, conversation: Conversation, items: Sequence[Item] = ()) -> list[Item]:
        stored = list(_detached(items))
        self._conversations[conversation.id] = _ConversationEntry(conversation, stored)
        return list(stored)

    async def cancel_unfinished(self, response_id: str, owner: str | None) -> bool:
        entry = self._entry(response_id, owner)
        if entry is None or entry.response.status in TERMINAL_STATUSES:
            return False
        entry.response = replace(entry.response, status="cancelled")
        return True

    async def ensure_conversation(self, conversation: Conversation) -> bool:
        if conversation.id not in self._conversations:
            self._conversations[conversation.id] = _ConversationEntry(conversation, [])
        return self._conversation(conversation.id, conversation.owner) is not None

    async def get_conversation(self, conversation_id: str, owner: str | None) -> Conversation | None:
        entry = self._conversation(conversation_id, owner)
        return entry.conversation if entry else None

    async def update_conversation_metadata(
        self, conversation_id: str, owner: str | None, metadata: dict[str, Any]
    ) -> Conversation | None:
        entry = self._conversation(conversation_id, owner)
        if entry is None:
            return None
        entry.conversation = replace(entry.conversation, metadata=dict(metadata))
        return entry.conversation

    async def delete_conversation(self, conversation_id: str, owner: str | None) -> bool:
        if self._conversation(conversation_id, owner) is None:
            return False
        del self._conversations[conversation_id]
        return True

    async def list_conversation_items(
        self,
        conversation_id: str,
        owner: str | None,
        *,
        after: str | None = None,
        before: str | None = None,
        limit: int = 20,
        order: Order = "desc",
    ) -> ItemPage | None:
        entry = self._conversation(conversation_id, owner)
        if entry is None:
            return None
        return page_of(entry.items, after=after, before=before, limit=limit, order=order)

    async def add_conversation_items(
        self, conversation_id: str, owner: str | None, items: Sequence[Item]
    ) -> list[Item] | None:
        entry = self._conversation(conversation_id, owner)
        if entry is None:
            return None
        stored = _detached(items)
        entry.items.extend(stored)
        return list(stored)

    async def get_conversation_item(self, conversation_id: str, owner: str | None, item_id: str) -> Item | None:
        entry = self._conversation(conversation_id, owner)
        if entry is None:
            return None
        return next((item for item in entry.items if item["id"] == item_id), None)

    async def delete_conversation_item(self, conversation_id: str, owner: str | None, item_id: str) -> bool:
        entry = self._conversation(conversation_id, owner)
        if entry is None:
            return False
        kept = [item for item in entry.items if item["id"] != item_id]
        found = len(kept) != len(entry.items)
        entry.items = kept
        return found

    async def conversation_history(self, conversation_id: str, owner: str | None) -> list[Item] | None:
        entry = self._conversation(conversation_id, owner)
        return list(entry.items) if entry else None

    async def find_items(self, item_ids: Collection[str], owner: str | None) -> dict[str, Item]:
        wanted = set(item_ids)
        found = {item["id"]: item for item in self._owned_items(owner) if item["id"] in wanted}
        for response_id in recorded_response_ids(wanted - found.keys()):  # recorded turns nobody has read yet
            entry = self._entry(response_id, owner)
            items = (*entry.input_items, *entry.output_items) if entry is not None else ()
            found.update((item["id"], item) for item in items if item["id"] in wanted)
        return found

    def _owned_items(self, owner: str | None) -> Iterator[Item]:
        """Every item of the owner's live responses and conversations: a scan, as this store keeps no index by
        item id (it is bounded and for development)."""
        for entry in self._responses.values():
            if not entry.deleted and entry.response.owner == owner:
                yield from entry.input_items
                yield from entry.output_items
        for conversation in self._conversations.values():
            if conversation.conversation.owner == owner:
                yield from conversation.items

    async def list_conversations(self, owner: str | None, *, limit: int = 20) -> list[Conversation]:
        owned = [entry.conversation for entry in self._conversations.values() if entry.conversation.owner == owner]
        return _newest_first(owned, limit)

    async def list_chains(self, owner: str | None, *, limit: int = 20) -> list[StoredResponse]:
        live = [
            entry.response for entry in self._responses.values() if not entry.deleted and entry.response.owner == owner
        ]
        continued = {record.previous_response_id for record in live}
        ends = [record for record in live if record.conversation_id is None and record.id not in continued]
        return [replace(_read(self._responses[r.id]).response, events=None) for r in _newest_first(ends, limit)]

    async def list_conversation_responses(self, conversation_id: str, owner: str | None) -> list[StoredResponse] | None:
        if self._conversation(conversation_id, owner) is None:
            return None
        turns = [
            replace(entry.response, events=None)
            for entry in self._responses.values()
            if not entry.deleted and entry.response.owner == owner and entry.response.conversation_id == conversation_id
        ]
        return sorted(turns, key=lambda record: (record.created_at, record.id))

    # Retention

    async def prune(self, *, idle_before: int | None, max_bytes: int | None = None) -> PruneResult:
        cutoff = idle_before
        if max_bytes is not None:
            stats = await self.stats()
            spans = unit_spans(self._spans(), self._conversation_spans())
            by_size = size_cutoff(spans, stats.bytes, max_bytes)
            if by_size is not None:
                cutoff = by_size if cutoff is None else max(cutoff, by_size)
        if cutoff is None:
            return PruneResult()
        conversations = [(c.conversation.id, c.conversation.created_at) for c in self._conversations.values()]
        responses, gone_conversations = expired(self._spans(), conversations, cutoff)
        for response_id in responses:
            del self._responses[response_id]
        if responses:
            self._histories.clear()
        for conversation_id in gone_conversations:
            del self._conversations[conversation_id]
        return PruneResult(len(responses), len(gone_conversations))

    async def stats(self) -> StoreStats:
        responses = self._spans()
        conversations = self._conversation_spans()
        return StoreStats(
            responses=len(responses),
            items=sum(len(e.input_items) + len(e.output_items) for e in self._responses.values() if not e.expanded),
            conversations=len(conversations),
            conversation_items=sum(len(c.items) for c in self._conversations.values()),
            bytes=sum(span.bytes for span in responses) + sum(size for _, _, size in conversations),
        )

    def _spans(self) -> list[ResponseSpan]:
        return [
            ResponseSpan(r.id, r.previous_response_id, r.conversation_id, r.created_at, _record_bytes(entry))
            for entry in self._responses.values()
            if (r := entry.response)
        ]

    def _conversation_spans(self) -> list[tuple[str, int, int]]:
        return [
            (entry.conversation.id, entry.conversation.created_at, sum(len(orjson.dumps(i)) for i in entry.items))
            for entry in self._conversations.values()
        ]

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None


def _newest_first(records: Iterable[_Listed], limit: int) -> list[_Listed]:
    """Newest first: ``created_at`` descending, then id descending."""
    return sorted(records, key=lambda record: (record.created_at, record.id), reverse=True)[:limit]


def _record_bytes(entry: _Entry) -> int:
    """Bytes of JSON a SQL store would keep for this response: its record's JSON columns and its items."""
    record = entry.response
    if record.exchange is not None:  # kept as its exchange: that, and the empty JSON columns beside it
        return len(b"{}[]") + len(record.exchange.request) + len(record.exchange.answer)
    columns = (record.request, record.output, record.usage, record.error, record.events)
    return sum(len(orjson.dumps(c)) for c in columns if c is not None) + sum(
        len(orjson.dumps(item)) for item in (*entry.input_items, *entry.output_items)
    )


def _read(entry: _Entry) -> _Entry:
    """The entry, with a recorded turn read into its record and items the first time it is read."""
    if entry.response.exchange is not None and not entry.expanded:
        expanded = expand(entry.response)
        entry.response = expanded.record
        entry.input_items, entry.output_items = expanded.input_items, expanded.output_items
        entry.expanded = True
    return entry
