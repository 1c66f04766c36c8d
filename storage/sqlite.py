"""The embedded durable store: one SQLite file in WAL mode, safe for several processes at once.

The stdlib driver blocks, so it runs off the event loop: one writer thread (SQLite has one writer at a time anyway;
writes take the lock up front with ``BEGIN IMMEDIATE`` and wait ``busy_timeout`` for other processes) and a few
reader threads, each with its own connection; WAL lets readers run while a write commits. ``synchronous=FULL`` by
default, so a committed turn survives a power cut, not only a crash.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

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
from plano_proxy.storage.migrations import migrate_sqlite
from plano_proxy.storage.sql_common import (
    ITEMS_BY_ID_SQLITE,
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

# Primary result codes that mean "try again later", not "this data is wrong".
_TRANSIENT_CODES = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_NOMEM,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PROTOCOL,
    }
)

_UPSERT = (
    f"INSERT INTO responses ({', '.join(RESPONSE_COLUMNS)}) VALUES ({', '.join('?' * len(RESPONSE_COLUMNS))}) "
    "ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{column} = excluded.{column}" for column in RESPONSE_COLUMNS[1:])
    + ", revision = responses.revision + 1, deleted = 0 RETURNING revision"
)

_HISTORY = """
WITH RECURSIVE chain(id, prev, depth, revision) AS (
    SELECT id, previous_response_id, 0, revision FROM responses WHERE id = ? AND owner IS ? AND deleted = 0
    UNION ALL
    SELECT r.id, r.previous_response_id, chain.depth + 1, r.revision
    FROM responses AS r JOIN chain ON r.id = chain.prev
    WHERE r.owner IS ?
)
SELECT chain.depth, chain.prev, chain.revision, items.body
FROM chain LEFT JOIN items ON items.response_id = chain.id
ORDER BY chain.depth DESC, items.position
"""

_LIVE_RESPONSE = "SELECT revision FROM responses WHERE id = ? AND owner IS ? AND deleted = 0"
_OWNED_CONVERSATION = "SELECT * FROM conversations WHERE id = ? AND owner IS ?"
_CANCEL_UNFINISHED = (
    "UPDATE responses SET status = 'cancelled' WHERE id = ? AND owner IS ? AND deleted = 0 "
    "AND status IN ('queued', 'in_progress')"
)


def _translate(exc: sqlite3.Error) -> Exception:
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(exc, sqlite3.OperationalError) and (code is None or code & 0xFF in _TRANSIENT_CODES):
        return StorageUnavailable(f"SQLite: {exc}")
    return exc


def _enable_wal(conn: sqlite3.Connection, patience: float) -> None:
    """Switch a new database to WAL. The switch needs an exclusive lock and SQLite does not apply the busy timeout
    to it, so processes opening one new file at once retry here instead of failing with "database is locked"."""
    deadline = time.monotonic() + patience
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


class SqliteStore(Store):
    """Open with `SqliteStore.open(path)`, which also applies migrations."""

    def __init__(
        self,
        path: str,
        *,
        readers: int = 2,
        busy_timeout: float = 5.0,
        synchronous: str = "FULL",
        cache_size: int = 2048,
    ) -> None:
        self.path = path
        self._busy_timeout = busy_timeout
        self._synchronous = synchronous
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._writer = ThreadPoolExecutor(1, "plano-sqlite-writer")
        self._readers = ThreadPoolExecutor(readers, "plano-sqlite-reader")
        self._cache = HistoryCache(cache_size)

    @classmethod
    async def open(cls, path: str, **options: Any) -> SqliteStore:
        store = cls(path, **options)
        try:
            await store._run(store._writer, migrate_sqlite)
        except BaseException:
            await store.close()
            raise
        return store

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use (so a failure to open is reported like any other)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        conn = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        _enable_wal(conn, self._busy_timeout)
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        self._local.conn = conn
        with self._lock:
            self._connections.append(conn)
        return conn

    async def _run(self, executor: ThreadPoolExecutor, fn: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            try:
                return fn(self._connection())
            except sqlite3.Error as exc:
                raise _translate(exc) from exc

        return await asyncio.get_running_loop().run_in_executor(executor, call)

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._run(self._writer, lambda conn: _transaction(conn, fn))

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._run(self._readers, fn)

    # Responses

    async def save_turns(self, turns: Sequence[StoredTurn]) -> None:
        prepared = prepare(turns)
        revisions = await self._write(lambda conn: [_save_turn(conn, turn) for turn in prepared])
        for turn, revision in zip(prepared, revisions, strict=True):
            record = turn.response
            if revision > 0:
                self._cache.clear()  # a response saved again may sit inside cached chains
            else:
                self._cache.extend(record.previous_response_id, record.id, record.owner, revision, turn.items)

    async def get_response(self, response_id: str, owner: str | None) -> StoredResponse | None:
        row = await self._read(
            lambda conn: conn.execute(
                "SELECT * FROM responses WHERE id = ? AND owner IS ? AND deleted = 0", (response_id, owner)
            ).fetchone()
        )
        return None if row is None else response_from_row(row)

    async def delete_response(self, response_id: str, owner: str | None) -> bool:
        self._cache.discard(response_id)
        count = await self._write(
            lambda conn: (
                conn.execute(
                    "UPDATE responses SET deleted = 1 WHERE id = ? AND owner IS ? AND deleted = 0", (response_id, owner)
                ).rowcount
            )
        )
        return bool(count)

    async def history(self, response_id: str, owner: str | None) -> list[Item] | None:
        cached = self._cache.get(response_id)
        if cached is not None and cached.owner == owner:
            row = await self._read(lambda conn: conn.execute(_LIVE_RESPONSE, (response_id, owner)).fetchone())
            if row is None:
                self._cache.discard(response_id)
                return None
            if row[0] == cached.revision:
                return list(cached.items)
        found = await self._read(
            lambda conn: assemble_history(
                [tuple(row) for row in conn.execute(_HISTORY, (response_id, owner, owner)).fetchall()]
            )
        )
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
        def read(conn: sqlite3.Connection) -> ItemPage | None:
            if conn.execute(_LIVE_RESPONSE, (response_id, owner)).fetchone() is None:
                return None
            return _page(conn, "items", "response_id = ? AND is_input = 1", response_id, after, before, limit, order)

        return await self._read(read)

    # Conversations

    async def create_conversation(self, conversation: Conversation, items: Sequence[Item] = ()) -> list[Item]:
        stored = with_item_ids(items)

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO conversations (id, owner, created_at, metadata) VALUES (?, ?, ?, ?)",
                (conversation.id, conversation.owner, conversation.created_at, dumps(conversation.metadata)),
            )
            _append_conversation_items(conn, conversation.id, conversation.owner, stored)

        await self._write(write)
        return stored

    async def cancel_unfinished(self, response_id: str, owner: str | None) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            return bool(conn.execute(_CANCEL_UNFINISHED, (response_id, owner)).rowcount)

        return await self._write(write)

    async def ensure_conversation(self, conversation: Conversation) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            conn.execute(
                "INSERT INTO conversations (id, owner, created_at, metadata) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (id) DO NOTHING",
                (conversation.id, conversation.owner, conversation.created_at, dumps(conversation.metadata)),
            )
            return conn.execute(_OWNED_CONVERSATION, (conversation.id, conversation.owner)).fetchone() is not None

        return await self._write(write)

    async def get_conversation(self, conversation_id: str, owner: str | None) -> Conversation | None:
        row = await self._read(lambda conn: conn.execute(_OWNED_CONVERSATION, (conversation_id, owner)).fetchone())
        return None if row is None else conversation_from_row(row)

    async def update_conversation_metadata(
        self, conversation_id: str, owner: str | None, metadata: dict[str, Any]
    ) -> Conversation | None:
        row = await self._write(
            lambda conn: conn.execute(
                "UPDATE conversations SET metadata = ? WHERE id = ? AND owner IS ? RETURNING *",
                (dumps(metadata), conversation_id, owner),
            ).fetchone()
        )
        return None if row is None else conversation_from_row(row)

    async def delete_conversation(self, conversation_id: str, owner: str | None) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            deleted = conn.execute(
                "DELETE FROM conversations WHERE id = ? AND owner IS ?", (conversation_id, owner)
            ).rowcount
            if deleted:
                conn.execute("DELETE FROM conversation_items WHERE conversation_id = ?", (conversation_id,))
            return bool(deleted)

        return await self._write(write)

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
        def read(conn: sqlite3.Connection) -> ItemPage | None:
            if conn.execute(_OWNED_CONVERSATION, (conversation_id, owner)).fetchone() is None:
                return None
            where = "conversation_id = ?"
            return _page(conn, "conversation_items", where, conversation_id, after, before, limit, order)

        return await self._read(read)

    async def add_conversation_items(
        self, conversation_id: str, owner: str | None, items: Sequence[Item]
    ) -> list[Item] | None:
        stored = with_item_ids(items)
        found = await self._write(lambda conn: _append_conversation_items(conn, conversation_id, owner, stored))
        return stored if found else None

    async def get_conversation_item(self, conversation_id: str, owner: str | None, item_id: str) -> Item | None:
        def read(conn: sqlite3.Connection) -> Item | None:
            row = conn.execute(
                "SELECT ci.body FROM conversation_items AS ci JOIN conversations AS c ON c.id = ci.conversation_id "
                "WHERE c.id = ? AND c.owner IS ? AND ci.item_id = ? ORDER BY ci.position LIMIT 1",
                (conversation_id, owner, item_id),
            ).fetchone()
            return None if row is None else loads_item(row[0])

        return await self._read(read)

    async def delete_conversation_item(self, conversation_id: str, owner: str | None, item_id: str) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            if conn.execute(_OWNED_CONVERSATION, (conversation_id, owner)).fetchone() is None:
                return False
            return bool(
                conn.execute(
                    "DELETE FROM conversation_items WHERE conversation_id = ? AND item_id = ?",
                    (conversation_id, item_id),
                ).rowcount
            )

        return await self._write(write)

    async def conversation_history(self, conversation_id: str, owner: str | None) -> list[Item] | None:
        def read(conn: sqlite3.Connection) -> list[Item] | None:
            if conn.execute(_OWNED_CONVERSATION, (conversation_id, owner)).fetchone() is None:
                return None
            query = "SELECT body FROM conversation_items WHERE conversation_id = ? ORDER BY position"
            return [loads_item(row[0]) for row in conn.execute(query, (conversation_id,))]

        return await self._read(read)

    async def find_items(self, item_ids: Collection[str], owner: str | None) -> dict[str, Item]:
        ids = dumps(list(item_ids))
        return items_by_id(await self._read(lambda conn: conn.execute(ITEMS_BY_ID_SQLITE, (ids, owner)).fetchall()))

    async def ping(self) -> None:
        await self._read(lambda conn: conn.execute("SELECT 1").fetchone())

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._shutdown)

    def _shutdown(self) -> None:
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()


def _transaction(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn(conn)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


def _save_turn(conn: sqlite3.Connection, turn: PreparedTurn) -> int:
    """Write one response and its items; returns its revision (0 when new)."""
    record = turn.response
    revision: int = conn.execute(_UPSERT, response_values(record)).fetchone()[0]
    previous: set[str] = set()
    if revision > 0:  # saved again (a background response finishing, say): its old items make way for the new
        previous = {row[0] for row in conn.execute("SELECT item_id FROM items WHERE response_id = ?", (record.id,))}
        conn.execute("DELETE FROM items WHERE response_id = ?", (record.id,))
    conn.executemany(
        "INSERT INTO items (response_id, position, is_input, item_id, body) VALUES (?, ?, ?, ?, ?)", turn.item_rows()
    )
    if record.conversation_id is not None:
        new = [item for item in turn.items if item["id"] not in previous]
        _append_conversation_items(conn, record.conversation_id, record.owner, new)
    return revision


def _append_conversation_items(
    conn: sqlite3.Connection, conversation_id: str, owner: str | None, items: list[Item]
) -> bool:
    """Append after the conversation's last position; False if this owner has no such conversation."""
    row = conn.execute(
        "UPDATE conversations SET next_position = next_position + ? WHERE id = ? AND owner IS ? "
        "RETURNING next_position",
        (len(items), conversation_id, owner),
    ).fetchone()
    if row is None:
        return False
    start = row[0] - len(items)
    conn.executemany(
        "INSERT INTO conversation_items (conversation_id, position, item_id, body) VALUES (?, ?, ?, ?)",
        [(conversation_id, start + offset, item["id"], dumps(item)) for offset, item in enumerate(items)],
    )
    return True


def _page(
    conn: sqlite3.Connection,
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
        row = conn.execute(f"SELECT MIN(position) FROM {table} WHERE {where} AND item_id = ?", (key, cursor)).fetchone()
        if row[0] is None:
            return ItemPage([], False)
        positions.append(row[0])
    low, high = cursor_bounds(order, positions[0], positions[1])
    direction = "ASC" if order == "asc" else "DESC"
    rows = conn.execute(
        f"SELECT body FROM {table} WHERE {where} AND position > ? AND position < ? "
        f"ORDER BY position {direction} LIMIT ?",
        (key, low, high, limit + 1),
    ).fetchall()
    return page_from_bodies([row[0] for row in rows], limit)
