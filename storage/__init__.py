"""State storage for the Responses and Conversations APIs.

`open_store` opens one of three `Store`s (``memory``, ``sqlite``, ``postgres``); `BackgroundWriter`
(`plano_proxy.storage.writer`) commits turns through it in batches. `StorageUnavailable` means the database is away.
"""

from __future__ import annotations

from typing import Any

from plano_proxy.storage.base import (
    Conversation,
    Item,
    ItemPage,
    Order,
    StorageUnavailable,
    Store,
    StoredResponse,
    StoredTurn,
    with_item_ids,
)

__all__ = [
    "Conversation",
    "Item",
    "ItemPage",
    "Order",
    "StorageUnavailable",
    "Store",
    "StoredResponse",
    "StoredTurn",
    "open_store",
    "with_item_ids",
]

STORE_KINDS = ("memory", "sqlite", "postgres")


async def open_store(
    kind: str,
    *,
    path: str | None = None,
    connection_string: str | None = None,
    max_responses: int = 10_000,
    **options: Any,
) -> Store:
    """Open a store, applying schema migrations for the durable ones.

    ``memory`` takes ``max_responses``; ``sqlite`` needs ``path``; ``postgres`` needs ``connection_string`` (a
    ``postgresql://`` URL, URL-encoded password fine). Extra ``options`` go to the store's ``open`` (for example
    ``schema=`` for PostgreSQL, ``cache_size=`` for both SQL stores). Raises `StorageUnavailable` if the database
    cannot be reached, `ValueError` for a bad kind or a missing location.
    """
    if kind == "memory":
        from plano_proxy.storage.memory import MemoryStore

        return MemoryStore(max_responses)
    if kind == "sqlite":
        if not path:
            raise ValueError("the sqlite store needs a path")
        from plano_proxy.storage.sqlite import SqliteStore

        return await SqliteStore.open(path, **options)
    if kind == "postgres":
        if not connection_string:
            raise ValueError("the postgres store needs a connection_string")
        from plano_proxy.storage.postgres import PostgresStore

        return await PostgresStore.open(connection_string, **options)
    raise ValueError(f"unknown store kind {kind!r}: expected one of {', '.join(STORE_KINDS)}")
