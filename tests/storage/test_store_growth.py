"""A turn writes only its new items: storage of an N-turn chain grows linearly, not quadratically."""

from __future__ import annotations

import sqlite3

import asyncpg
from storage_fixtures import POSTGRES_DSN, Stores

from plano_proxy.storage import Store, StoredResponse


async def footprint(stores: Stores) -> tuple[int, int]:
    """(item rows, bytes of item and response JSON) as the database holds them."""
    query = (
        "SELECT (SELECT COUNT(*) FROM items), "
        "(SELECT COALESCE(SUM(LENGTH(body)), 0) FROM items) + "
        "(SELECT COALESCE(SUM(LENGTH(request) + LENGTH(output)), 0) FROM responses)"
    )
    if stores.kind == "sqlite":
        with sqlite3.connect(stores.path) as conn:
            rows, size = conn.execute(query).fetchone()
            return int(rows), int(size)
    conn = await asyncpg.connect(POSTGRES_DSN, server_settings={"search_path": stores.schema})
    try:
        record = await conn.fetchrow(query)
        return int(record[0]), int(record[1])
    finally:
        await conn.close()


async def extend_chain(store: Store, start: int, stop: int, previous: str | None) -> str | None:
    for turn in range(start, stop):
        rid = f"resp_{turn:04d}"
        question = {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": f"question {turn:04d}"}],
        }
        answer = {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": f"answer {turn:04d}", "annotations": []}],
        }
        record = StoredResponse(rid, None, 1, "completed", "m", previous_response_id=previous, output=[answer])
        await store.save_turn(record, [question], [answer])
        previous = rid
    return previous


async def test_a_fifty_turn_chain_takes_linear_storage(durable_stores: Stores) -> None:
    """Rows and bytes after 50 turns are twice those after 25: each turn adds its own two items, nothing more."""
    store = await durable_stores.open()
    last = await extend_chain(store, 0, 25, None)
    rows_25, bytes_25 = await footprint(durable_stores)
    last = await extend_chain(store, 25, 50, last)
    rows_50, bytes_50 = await footprint(durable_stores)
    assert (rows_25, rows_50) == (50, 100)
    assert bytes_50 == 2 * bytes_25
    assert last is not None
    history = await store.history(last, None)
    assert history is not None and len(history) == 100
