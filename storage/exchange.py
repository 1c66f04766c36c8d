"""Turns kept as the exchange they were, and the items they become when something reads them.

A relayed chat turn is stored as a `RecordedExchange` on its `StoredResponse` (the request body the client sent, the
answer as the client received it) and no items, so nothing is translated while the client waits. The first read that
needs its items (a turn continuing it, ``GET /v1/responses/{id}``, its input items, an item reference) `expand`s it
with the translation the translated path uses (`plano_proxy.transformers.chat_record`), and the store caches the
result (`ExpansionCache`, and the history cache for chains).

Item ids are derived from the response id and the item's position (`derived_item_id`): every reading, in any
process, gives the same ids, and an id leads back to its response (`recorded_response_ids`), so an item reference
finds an item of a recorded turn that was never written as a row.
"""

from __future__ import annotations

import itertools
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from plano_proxy.storage.base import Item, StoredResponse, item_id_prefix
from plano_proxy.transformers.chat_record import chat_echo, chat_turn
from plano_proxy.transformers.ids import IdFactory

RESPONSE_ID_PREFIX = "chatcmpl-"
"""Recorded turns have the ids the gateway mints for completions: this prefix and 48 hex digits."""
_DERIVED_ID = re.compile(r"[a-z]+_([0-9a-f]{48})([0-9a-f]{2,})")

_OWN_COLUMNS = ("id", "created_at", "status", "output", "usage", "error", "completed_at")
"""Fields of a response object that the store keeps in their own columns; everything else is kept as `request`."""


def to_record_fields(response: dict[str, Any]) -> dict[str, Any]:
    """The `StoredResponse` fields for a finished response object (lossless: `response_object` undoes it)."""
    return {
        "created_at": response["created_at"],
        "status": response["status"],
        "request": {key: value for key, value in response.items() if key not in _OWN_COLUMNS},
        "output": response.get("output") or [],
        "usage": response.get("usage"),
        "error": response.get("error"),
        "completed_at": response.get("completed_at"),
    }


def response_object(record: StoredResponse) -> dict[str, Any]:
    """The Responses object a stored response stands for (`to_record_fields` undone)."""
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


def derived_item_id(response_id: str, prefix: str, position: int) -> str:
    """The id of the item at `position` (inputs first, then outputs) of a recorded turn: the response's 48 random
    hex digits, then the position in hex."""
    return f"{prefix}{response_id.removeprefix(RESPONSE_ID_PREFIX)}{position:02x}"


def recorded_response_ids(item_ids: Iterable[str]) -> set[str]:
    """The recorded turns that items with these ids would belong to, for ids shaped as `derived_item_id` makes them."""
    return {RESPONSE_ID_PREFIX + match[1] for item_id in item_ids if (match := _DERIVED_ID.fullmatch(item_id))}


@dataclass(frozen=True, slots=True)
class Expanded:
    """A recorded turn read back: its whole record, and its items with their ids."""

    record: StoredResponse
    input_items: tuple[Item, ...]
    output_items: tuple[Item, ...]

    @property
    def items(self) -> tuple[Item, ...]:
        return self.input_items + self.output_items


def expand(record: StoredResponse) -> Expanded:
    """The record with the fields its answer gives (status, echoed parameters, output, usage), and its items."""
    exchange = record.exchange
    if exchange is None:
        raise ValueError(f"response {record.id} was not recorded as an exchange")

    def ids(inputs: int) -> IdFactory:
        positions = itertools.count(inputs)
        return lambda prefix: record.id if prefix == "resp_" else derived_item_id(record.id, prefix, next(positions))

    turn = chat_turn(
        exchange.request,
        exchange.answer,
        streamed=exchange.kind == "chat-stream",
        echo=chat_echo(record.model, record.previous_response_id),
        ids=ids,
        clock=_recorded_clock(record),
    )
    inputs = tuple(
        {"id": derived_item_id(record.id, item_id_prefix(item), position), **item}
        for position, item in enumerate(turn.input_items)
    )
    return Expanded(replace(record, **to_record_fields(turn.response)), inputs, tuple(turn.output_items))


def _recorded_clock(record: StoredResponse) -> Callable[[], int]:
    """The encoder reads the clock when the answer starts, then when it completes: the times the record kept."""
    times = iter((record.created_at,))
    ended = record.completed_at if record.completed_at is not None else record.created_at
    return lambda: next(times, ended)


class ExpansionCache:
    """The most recently read recorded turns, expanded (an LRU). A record is written once, so an entry stays right;
    it is checked against the record's exchange all the same, so a response id saved again is read afresh."""

    def __init__(self, max_entries: int = 1024) -> None:
        self._entries: OrderedDict[str, Expanded] = OrderedDict()
        self._max = max_entries

    def expand(self, record: StoredResponse) -> Expanded:
        cached = self._entries.get(record.id)
        if cached is not None and cached.record.exchange == record.exchange:
            self._entries.move_to_end(record.id)
            return cached
        expanded = expand(record)
        if self._max > 0:
            self._entries[record.id] = expanded
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return expanded

    def complete(self, record: StoredResponse) -> StoredResponse:
        """The record as a reader sees it: a recorded turn expanded, any other as it is."""
        return record if record.exchange is None else self.expand(record).record

    def discard(self, response_id: str) -> None:
        self._entries.pop(response_id, None)

    def clear(self) -> None:
        self._entries.clear()
