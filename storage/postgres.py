"""The production store: PostgreSQL through an asyncpg pool, shared by any number of gateway instances.

Errors that mean the database is away (connection lost or refused, server shutting down, too many connections, out
of resources, a deadlock to retry) become `StorageUnavailable`; everything else is raised as asyncpg raised it.
Appending to a conversation takes its row lock (``UPDATE … RETURNING next_position``), so concurrent turns on one
conversation from several instances get distinct, ordered positions.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg

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
from plano_proxy.storage.cache import CachedHistory, HistoryCache
from plano_proxy.storage.migrations import migrate_postgres
from plano_proxy.storage.sql_common import (
    ITEMS_BY_ID_POSTGRES,
    RESPONSE_COLUMNS,
    PreparedTurn,
    assemble_history,
    conversation_from_row,
    cursor_bounds,
    dumps,
    items_by_id,
    loads_item,
    page_from_bodies,
    prepare,
    response_from_row,
    response_values,
)

T = TypeVar("T")

_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,  # refused, unreachable, reset
    TimeoutError,
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08
    asyncpg.CannotConnectNowError,  # 57P03, starting up or shutting down
    asyncpg.OperatorInterventionError,  # class 57: admin shutdown, terminated backend
    asyncpg.InsufficientResourcesError,  # class 53: too many connections, disk full
    asyncpg.TransactionRollbackError,  # class 40: deadlock or serialization failure, worth a retry
)

# A connection the server dropped while it sat idle in the pool fails its next use with one of these.
_BROKEN_CONNECTION: tuple[type[BaseException], ...] = (
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,
)

_UPSERT = (
    f"INSERT INTO responses ({', '.join(RESPONSE_COLUMNS)}) "
    f"VALUES ({', '.join(f'${n}' for n in range(1, len(RESPONSE_COLUMNS) + 1))}) "
    "ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{column} = excluded.{column}" for column in RESPONSE_COLUMNS[1:])
    + ", revision = responses.revision + 1, deleted = FALSE RETURNING revision"
)

_HISTORY = """
WITH RECURSIVE chain(id, prev, depth, revision) AS (
    SELECT id, previous_response_id, 0, revision FROM responses
    WHERE id = $1 AND owner IS NOT DISTINCT FROM $2 AND NOT deleted
    UNION ALL
    SELECT r.id, r.previous_response_id, chain.depth + 1, r.revision
    FROM responses AS r JOIN chain ON r.id = chain.prev
    WHERE r.owner IS NOT DISTINCT FROM $2
)
SELECT chain.depth, chain.prev, chain.revision, items.body
FROM chain LEFT JOIN items ON items.response_id = chain.id
ORDER BY chain.depth DESC, items.position
"""

_LIVE_RESPONSE = "SELECT revision FROM responses WHERE id = $1 AND owner IS NOT DISTINCT FROM $2 AND NOT deleted"
_OWNED_CONVERSATION = "SELECT * FROM conversations WHERE id = $1 AND owner IS NOT DISTINCT FROM $2"
_CANCEL_UNFINISHED = (
    "UPDATE responses SET status = 'cancelled' WHERE id = $1 AND owner IS NOT DISTINCT FROM $2 AND NOT deleted "
    "AND status IN ('queued', 'in_progress')"
)
_INSERT_ITEMS = "INSERT INTO items (response_id, position, is_input, item_id, body) VALUES ($1, $2, $3, $4, $5)"


class PostgresStore(Store):
    """Open with `PostgresStore.open(dsn)`, which creates the pool and applies migrations.

    ``schema`` puts every table in that schema (created if missing), so several deployments or test runs can
    share one database.
    """

    def __init__(self, pool: asyncpg.Pool, *, cache_size: int = 2048) -> None:
        self._pool = pool
        self._cache = HistoryCache(cache_size)

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        schema: str | None = None,
        min_size: int = 1,
        max_size: int = 10,
        command_timeout: float = 30.0,
        cache_size: int = 2048,
        application_name: str = "plano-proxy",
    ) -> PostgresStore:
        settings = {"application_name": application_name}
        if schema:
            settings["search_path"] = schema
        try:
            if schema:
                await _create_schema(dsn, schema)
            pool = await asyncpg.create_pool(
                dsn, min_size=min_size, max_size=max_size, command_timeout=command_timeout, server_settings=settings
            )
        except _UNAVAILABLE as exc:
            raise StorageUnavailable(f"PostgreSQL: {exc}") from exc
        store = cls(pool, cache_size=cache_size)
        try:
            async with store._connection() as conn:
                await migrate_postgres(conn)
        except BaseException:
            await pool.close()
            raise
        return store

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        try:
            async with self._pool.acquire() as conn:
                try:
                    yield conn
                except _BROKEN_CONNECTION:
                    conn.terminate()  # so the pool opens a fresh one instead of handing this one out again
                    raise
        except (*_UNAVAILABLE, *_BROKEN_CONNECTION) as exc:
            raise StorageUnavailable(f"PostgreSQL: {exc}") from exc

    async def _run(self, fn: Callable[[asyncpg.Connection], Awaitable[T]], *, transaction: bool = False) -> T:
        async with self._connection() as conn:
            if not transaction:
                return await fn(conn)
            async with conn.transaction():
                return await fn(conn)

    # Responses

    async def save_turns(self, turns: Sequence[StoredTurn]) -> None:
        prepared = prepare(turns)

        async def write(conn: asyncpg.Connection) -> list[int]:
            return [await _save_turn(conn, turn) for turn in prepared]

        revisions = await self._run(write, transaction=True)
        for turn, revision in zip(prepared, revisions, strict=True):
            record = turn.response
            if revision > 0:
                self._cache.clear()  # a response saved again may sit inside cached chains
            else:
                self._cache.extend(record.previous_response_id, record.id, record.owner, revision, turn.items)

    async def get_response(self, response_id: str, owner: str | None) -> StoredResponse | None:
        row = await self._run(
            lambda conn: conn.fetchrow(
                "SELECT * FROM responses WHERE id = $1 AND owner IS NOT DISTINCT FROM $2 AND NOT deleted",
                response_id,
                owner,
            )
        )
        return None if row is None else response_from_row(row)

    async def delete_response(self, response_id: str, owner: str | None) -> bool:
        self._cache.discard(response_id)
        status = await self._run(
            lambda conn: conn.execute(
                "UPDATE responses SET deleted = TRUE WHERE id = $1 AND owner IS NOT DISTINCT FROM $2 AND NOT deleted",
                response_id,
                owner,
            )
        )
        return bool(status != "UPDATE 0")

    async def history(self, response_id: str, owner: str | None) -> list[Item] | None:
        cached = self._cache.get(response_id)
        if cached is not None and cached.owner == owner:
            revision = await self._run(lambda conn: conn.fetchval(_LIVE_RESPONSE, response_id, owner))
            if revision is None:
                self._cache.discard(response_id)
                return None
            if revision == cached.revision:
                return list(cached.items)
        rows = await self._run(lambda conn: conn.fetch(_HISTORY, response_id, owner))
        found = assemble_history([tuple(row) for row in rows])
        if found is None:
            return None
        revision, items = found
        self._cache.put(response_id, CachedHistory(owner, revision, tuple(items)))
        return items

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
        async def read(conn: asyncpg.Connection) -> ItemPage | None:
            if await conn.fetchval(_LIVE_RESPONSE, response_id, owner) is None:
                return None
            return await _page(conn, "items", "response_id = $1 AND is_input", response_id, after, before, limit, order)

        return await self._run(read, transaction=True)

    # Conversations

    async def create_conversation(self, conversation: Conversation, items: Sequence[Item] = ()) -> list[Item]:
        stored = with_item_ids(items)

        async def write(conn: asyncpg.Connection) -> None:
            await conn.execute(
                "INSERT INTO conversations (id, owner, created_at, metadata) VALUES ($1, $2, $3, $4)",
                conversation.id,
                conversation.owner,
                conversation.created_at,
                dumps(conversation.metadata),
            )
            await _append_conversation_items(conn, conversation.id, conversation.owner, stored)

        await self._run(write, transaction=True)
        return stored

    async def cancel_unfinished(self, response_id: str, owner: str | None) -> bool:
        status = await self._run(lambda conn: conn.execute(_CANCEL_UNFINISHED, response_id, owner))
        return bool(status != "UPDATE 0")

    async def ensure_conversation(self, conversation: Conversation) -> bool:
        async def write(conn: asyncpg.Connection) -> bool:
            await conn.execute(
                "INSERT INTO conversations (id, owner, created_at, metadata) VALUES ($1, $2, $3, $4) "
                "ON CONFLICT (id) DO NOTHING",
                conversation.id,
                conversation.owner,
                conversation.created_at,
                dumps(conversation.metadata),
            )
            return await conn.fetchrow(_OWNED_CONVERSATION, conversation.id, conversation.owner) is not None

        return await self._run(write, transaction=True)

    async def get_conversation(self, conversation_id: str, owner: str | None) -> Conversation | None:
        row = await self._run(lambda conn: conn.fetchrow(_OWNED_CONVERSATION, conversation_id, owner))
        return None if row is None else conversation_from_row(row)

    async def update_conversation_metadata(
        self, conversation_id: str, owner: str | None, metadata: dict[str, Any]
    ) -> Conversation | None:
        row = await self._run(
            lambda conn: conn.fetchrow(
                "UPDATE conversations SET metadata = $3 WHERE id = $1 AND owner IS NOT DISTINCT FROM $2 RETURNING *",
                conversation_id,
                owner,
                dumps(metadata),
            )
        )
        return None if row is None else conversation_from_row(row)

    async def delete_conversation(self, conversation_id: str, owner: str | None) -> bool:
        async def write(conn: asyncpg.Connection) -> bool:
            status = await conn.execute(
                "DELETE FROM conversations WHERE id = $1 AND owner IS NOT DISTINCT FROM $2", conversation_id, owner
            )
            if status == "DELETE 0":
                return False
            await conn.execute("DELETE FROM conversation_items WHERE conversation_id = $1", conversation_id)
            return True

        return await self._run(write, transaction=True)

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
        async def read(conn: asyncpg.Connection) -> ItemPage | None:
            if await conn.fetchrow(_OWNED_CONVERSATION, conversation_id, owner) is None:
                return None
            table, where = "conversation_items", "conversation_id = $1"
            return await _page(conn, table, where, conversation_id, after, before, limit, order)

        return await self._run(read, transaction=True)

    async def add_conversation_items(
        self, conversation_id: str, owner: str | None, items: Sequence[Item]
    ) -> list[Item] | None:
        stored = with_item_ids(items)

        async def write(conn: asyncpg.Connection) -> bool:
            return await _append_conversation_items(conn, conversation_id, owner, stored)

        return stored if await self._run(write, transaction=True) else None

    async def get_conversation_item(self, conversation_id: str, owner: str | None, item_id: str) -> Item | None:
        body = await self._run(
            lambda conn: conn.fetchval(
                "SELECT ci.body FROM conversation_items AS ci JOIN conversations AS c ON c.id = ci.conversation_id "
                "WHERE c.id = $1 AND c.owner IS NOT DISTINCT FROM $2 AND ci.item_id = $3 "
                "ORDER BY ci.position LIMIT 1",
                conversation_id,
                owner,
                item_id,
            )
        )
        return None if body is None else loads_item(body)

    async def delete_conversation_item(self, conversation_id: str, owner: str | None, item_id: str) -> bool:
        status = await self._run(
            lambda conn: conn.execute(
                "DELETE FROM conversation_items AS ci USING conversations AS c "
                "WHERE c.id = ci.conversation_id AND c.id = $1 AND c.owner IS NOT DISTINCT FROM $2 "
                "AND ci.item_id = $3",
                conversation_id,
                owner,
                item_id,
            )
        )
        return bool(status != "DELETE 0")

    async def conversation_history(self, conversation_id: str, owner: str | None) -> list[Item] | None:
        async def read(conn: asyncpg.Connection) -> list[Item] | None:
            if await conn.fetchrow(_OWNED_CONVERSATION, conversation_id, owner) is None:
                return None
            query = "SELECT body FROM conversation_items WHERE conversation_id = $1 ORDER BY position"
            return [loads_item(row[0]) for row in await conn.fetch(query, conversation_id)]

        return await self._run(read, transaction=True)

    async def find_items(self, item_ids: Collection[str], owner: str | None) -> dict[str, Item]:
        return items_by_id(await self._run(lambda conn: conn.fetch(ITEMS_BY_ID_POSTGRES, list(item_ids), owner)))

    async def ping(self) -> None:
        await self._run(lambda conn: conn.fetchval("SELECT 1"))

    async def close(self) -> None:
        await self._pool.close()


async def _create_schema(dsn: str, schema: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        quoted = '"' + schema.replace('"', '""') + '"'
        # IF NOT EXISTS still races: another instance may create it at the same moment.
        with contextlib.suppress(asyncpg.UniqueViolationError):
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
    finally:
        await conn.close()


async def _save_turn(conn: asyncpg.Connection, turn: PreparedTurn) -> int:
    """Write one response and its items; returns its revision (0 when new)."""
    record = turn.response
    revision: int = await conn.fetchval(_UPSERT, *response_values(record))
    previous: set[str] = set()
    if revision > 0:  # saved again (a background response finishing, say): its old items make way for the new
        previous = {row[0] for row in await conn.fetch("SELECT item_id FROM items WHERE response_id = $1", record.id)}
        await conn.execute("DELETE FROM items WHERE response_id = $1", record.id)
    await conn.executemany(_INSERT_ITEMS, turn.item_rows())
    if record.conversation_id is not None:
        new = [item for item in turn.items if item["id"] not in previous]
        await _append_conversation_items(conn, record.conversation_id, record.owner, new)
    return revision


async def _append_conversation_items(
    conn: asyncpg.Connection, conversation_id: str, owner: str | None, items: list[Item]
) -> bool:
    """Append after the conversation's last position; False if this owner has no such conversation."""
    end = await conn.fetchval(
        "UPDATE conversations SET next_position = next_position + $3 "
        "WHERE id = $1 AND owner IS NOT DISTINCT FROM $2 RETURNING next_position",
        conversation_id,
        owner,
        len(items),
    )
    if end is None:
        return False
    start = end - len(items)
    await conn.executemany(
        "INSERT INTO conversation_items (conversation_id, position, item_id, body) VALUES ($1, $2, $3, $4)",
        [(conversation_id, start + offset, item["id"], dumps(item)) for offset, item in enumerate(items)],
    )
    return True


async def _page(
    conn: asyncpg.Connection,
    table: str,
    where: str,
    key: str,
    after: str | None,
    before: str | None,
    limit: int,
    order: Order,
) -> ItemPage:
    positions: list[int | None] = []
    for cursor in (after, before):
        if cursor is None:
            positions.append(None)
            continue
        position = await conn.fetchval(f"SELECT MIN(position) FROM {table} WHERE {where} AND item_id = $2", key, cursor)
        if position is None:
            return ItemPage([], False)
        positions.append(position)
    low, high = cursor_bounds(order, positions[0], positions[1])
    direction = "ASC" if order == "asc" else "DESC"
    rows = await conn.fetch(
        f"SELECT body FROM {table} WHERE {where} AND position > $2 AND position < $3 "
        f"ORDER BY position {direction} LIMIT $4",
        key,
        low,
        high,
        limit + 1,
    )
    return page_from_bodies([row[0] for row in rows], limit)
