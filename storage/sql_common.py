"""Rows to records and back for the SQL stores: encoding, cursor bounds, assembling a chain's history and the items
found by id. Pure functions; `plano_proxy.storage.sql_store` runs the statements."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from plano_proxy.storage.base import (
    Conversation,
    Item,
    ItemPage,
    Order,
    RecordedExchange,
    StoredResponse,
    StoredTurn,
    with_item_ids,
)

NO_UPPER_BOUND = 2**31 - 1  # fits every position column (a 32-bit INTEGER in PostgreSQL)


class Row(Protocol):
    """A result row as both drivers give it (`sqlite3.Row`, `asyncpg.Record`): by position or by column name."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def __iter__(self) -> Iterator[Any]: ...


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def dumps_optional(value: Any) -> str | None:
    return None if value is None else dumps(value)


def loads_optional(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def loads_item(body: str) -> Item:
    item: Item = orjson.loads(body)
    return item


@dataclass(frozen=True, slots=True)
class PreparedTurn:
    """A turn with every item given its id, so the database and the history cache hold the same ids."""

    response: StoredResponse
    input_items: list[Item]
    output_items: list[Item]

    @property
    def items(self) -> list[Item]:
        return self.input_items + self.output_items

    def item_rows(self) -> list[tuple[str, int, bool, str, str]]:
        """(response_id, position, is_input, item_id, body) for each item, inputs first."""
        inputs = len(self.input_items)
        return [
            (self.response.id, position, position < inputs, item["id"], dumps(item))
            for position, item in enumerate(self.items)
        ]


def prepare(turns: Iterable[StoredTurn]) -> list[PreparedTurn]:
    return [
        PreparedTurn(turn.response, with_item_ids(turn.input_items), with_item_ids(turn.output_items)) for turn in turns
    ]


def response_values(record: StoredResponse) -> tuple[Any, ...]:
    """Column values in the order of `RESPONSE_COLUMNS`."""
    return (
        record.id,
        record.owner,
        record.created_at,
        record.completed_at,
        record.status,
        record.model,
        record.provider,
        record.previous_response_id,
        record.conversation_id,
        dumps(record.request),
        dumps(record.output),
        dumps_optional(record.usage),
        dumps_optional(record.error),
        dumps_optional(record.events),
        *_exchange_values(record.exchange),
    )


def _exchange_values(exchange: RecordedExchange | None) -> tuple[str | None, bytes | None, bytes | None]:
    if exchange is None:
        return None, None, None
    return exchange.kind, exchange.request, exchange.answer


RESPONSE_COLUMNS = (
    "id",
    "owner",
    "created_at",
    "completed_at",
    "status",
    "model",
    "provider",
    "previous_response_id",
    "conversation_id",
    "request",
    "output",
    "usage",
    "error",
    "events",
    "exchange_kind",
    "exchange_request",
    "exchange_answer",
)


def response_from_row(row: Row) -> StoredResponse:
    return StoredResponse(
        id=row["id"],
        owner=row["owner"],
        created_at=row["created_at"],
        status=row["status"],
        model=row["model"],
        provider=row["provider"],
        previous_response_id=row["previous_response_id"],
        conversation_id=row["conversation_id"],
        request=orjson.loads(row["request"]),
        output=orjson.loads(row["output"]),
        usage=loads_optional(row["usage"]),
        error=loads_optional(row["error"]),
        events=loads_optional(row["events"]),
        completed_at=row["completed_at"],
        exchange=_exchange_from_row(row),
    )


def _exchange_from_row(row: Row) -> RecordedExchange | None:
    kind = row["exchange_kind"]
    if kind is None:
        return None
    return RecordedExchange(kind, bytes(row["exchange_request"]), bytes(row["exchange_answer"]))


def conversation_from_row(row: Row) -> Conversation:
    return Conversation(row["id"], row["owner"], row["created_at"], orjson.loads(row["metadata"]))


def cursor_bounds(order: Order, after: int | None, before: int | None) -> tuple[int, int]:
    """Exclusive (low, high) position bounds of a page, from the cursors' positions in the stored order."""
    first, second = (after, before) if order == "asc" else (before, after)
    return (-1 if first is None else first), (NO_UPPER_BOUND if second is None else second)


def page_from_bodies(bodies: list[str], limit: int) -> ItemPage:
    """The page from up to ``limit + 1`` fetched bodies: the extra one only says there is more."""
    return ItemPage([orjson.loads(body) for body in bodies[:limit]], len(bodies) > limit)


def assemble_history(rows: Sequence[Row]) -> tuple[int, list[Item | StoredResponse]] | None:
    """(revision of the last response, its history) from (depth, previous id, revision, body, recorded response's
    columns) rows, oldest first. The history holds the items, and in their place the record of each turn kept as
    its exchange (the caller reads those, see `plano_proxy.storage.exchange`).

    None when no row came back, or when the oldest response found still names a previous one that is missing.
    """
    if not rows or rows[0][1] is not None:
        return None
    revision: int = next(row[2] for row in rows if row[0] == 0)
    history: list[Item | StoredResponse] = []
    for row in rows:
        if row[3] is not None:
            history.append(orjson.loads(row[3]))
        elif row[4] is not None:
            history.append(response_from_row(row))
    return revision, history


def items_by_id(rows: Iterable[Row]) -> dict[str, Item]:
    """The found items by id from (item_id, body) rows, each body decoded once though an item carried into later
    turns comes back per copy."""
    bodies: dict[str, str] = {row[0]: row[1] for row in rows}
    return {item_id: loads_item(body) for item_id, body in bodies.items()}
