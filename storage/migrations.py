"""Versioned schema migrations, applied when a store opens.

Each backend has an ordered list of `Migration`s; ``schema_version`` records the versions applied. Applying is
idempotent and safe when several processes start at once: SQLite takes the write lock first (``BEGIN IMMEDIATE``),
PostgreSQL a transaction-scoped advisory lock (``pg_advisory_xact_lock``), and then each re-reads the applied
versions before doing anything, so whoever comes second finds the work done.

JSON is kept as text in both backends: the bytes written are the bytes read back (PostgreSQL's ``jsonb`` would
reorder keys), and nothing queries inside it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncpg


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


_ITEMS_BY_ID = Migration(
    2,
    "items found by their own id, for item references",
    (
        "CREATE INDEX items_by_item_id ON items (item_id)",
        # Leading with item_id serves the lookup by id alone and still every lookup within one conversation, so
        # it replaces the old index instead of adding a third one for each write to maintain.
        "CREATE INDEX conversation_items_by_item_id ON conversation_items (item_id, conversation_id)",
        "DROP INDEX conversation_items_by_id",
    ),
)
"""The same statements in both dialects."""


def _recorded_exchanges(blob: str) -> Migration:
    """Chat turns kept as the exchange they were (see `plano_proxy.storage.exchange`): which kind of exchange, the
    request body and the answer, as bytes. NULL for every other response."""
    return Migration(
        3,
        "responses kept as the exchange they were",
        (
            "ALTER TABLE responses ADD COLUMN exchange_kind TEXT",
            f"ALTER TABLE responses ADD COLUMN exchange_request {blob}",
            f"ALTER TABLE responses ADD COLUMN exchange_answer {blob}",
        ),
    )


_SHARED_WORK = Migration(
    4,
    "instances, their leases on unfinished responses, and the live event log",
    (
        # Each instance's heartbeat: its work is its own until ``lease_until`` (milliseconds, the database's clock).
        "CREATE TABLE instances (id TEXT PRIMARY KEY, lease_until BIGINT NOT NULL, host TEXT, pid INTEGER)",
        # An unfinished response an instance is producing; ``stub`` holds what a response stored only at its end (a
        # foreground stream) needs to be recorded as failed by whoever takes it over.
        """CREATE TABLE leases (
            response_id TEXT PRIMARY KEY,
            instance_id TEXT NOT NULL,
            owner TEXT,
            stub TEXT
        )""",
        "CREATE INDEX leases_by_instance ON leases (instance_id)",
        # The events of a streamed background response, as they are released, for readers on every instance.
        """CREATE TABLE response_events (
            response_id TEXT NOT NULL,
            sequence INTEGER NOT NULL,
            body TEXT NOT NULL,
            written_at BIGINT NOT NULL,
            PRIMARY KEY (response_id, sequence)
        )""",
    ),
)
"""PostgreSQL only: what instances sharing one database coordinate through (`plano_proxy.storage.shared_work`)."""


SQLITE_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "responses, their items, conversations and conversation items",
        (
            """CREATE TABLE responses (
                id TEXT PRIMARY KEY,
                owner TEXT,
                created_at INTEGER NOT NULL,
                completed_at INTEGER,
                status TEXT NOT NULL,
                model TEXT NOT NULL,
                provider TEXT,
                previous_response_id TEXT,
                conversation_id TEXT,
                request TEXT NOT NULL,
                output TEXT NOT NULL,
                usage TEXT,
                error TEXT,
                events TEXT,
                revision INTEGER NOT NULL DEFAULT 0,
                deleted INTEGER NOT NULL DEFAULT 0
            )""",
            """CREATE TABLE items (
                response_id TEXT NOT NULL,
                position INTEGER NOT NULL,
                is_input INTEGER NOT NULL,
                item_id TEXT NOT NULL,
                body TEXT NOT NULL,
                PRIMARY KEY (response_id, position)
            )""",
            """CREATE TABLE conversations (
                id TEXT PRIMARY KEY,
                owner TEXT,
                created_at INTEGER NOT NULL,
                metadata TEXT NOT NULL,
                next_position INTEGER NOT NULL DEFAULT 0
            )""",
            """CREATE TABLE conversation_items (
                conversation_id TEXT NOT NULL,
                position INTEGER NOT NULL,
                item_id TEXT NOT NULL,
                body TEXT NOT NULL,
                PRIMARY KEY (conversation_id, position)
            )""",
            "CREATE INDEX conversation_items_by_id ON conversation_items (conversation_id, item_id)",
        ),
    ),
    _ITEMS_BY_ID,
    _recorded_exchanges("BLOB"),
)

POSTGRES_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "responses, their items, conversations and conversation items",
        (
            """CREATE TABLE responses (
                id TEXT PRIMARY KEY,
                owner TEXT,
                created_at BIGINT NOT NULL,
                completed_at BIGINT,
                status TEXT NOT NULL,
                model TEXT NOT NULL,
                provider TEXT,
                previous_response_id TEXT,
                conversation_id TEXT,
                request TEXT NOT NULL,
                output TEXT NOT NULL,
                usage TEXT,
                error TEXT,
                events TEXT,
                revision INTEGER NOT NULL DEFAULT 0,
                deleted BOOLEAN NOT NULL DEFAULT FALSE
            )""",
            """CREATE TABLE items (
                response_id TEXT NOT NULL,
                position INTEGER NOT NULL,
                is_input BOOLEAN NOT NULL,
                item_id TEXT NOT NULL,
                body TEXT NOT NULL,
                PRIMARY KEY (response_id, position)
            )""",
            """CREATE TABLE conversations (
                id TEXT PRIMARY KEY,
                owner TEXT,
                created_at BIGINT NOT NULL,
                metadata TEXT NOT NULL,
                next_position BIGINT NOT NULL DEFAULT 0
            )""",
            """CREATE TABLE conversation_items (
                conversation_id TEXT NOT NULL,
                position BIGINT NOT NULL,
                item_id TEXT NOT NULL,
                body TEXT NOT NULL,
                PRIMARY KEY (conversation_id, position)
            )""",
            "CREATE INDEX conversation_items_by_id ON conversation_items (conversation_id, item_id)",
        ),
    ),
    _ITEMS_BY_ID,
    _recorded_exchanges("BYTEA"),
    _SHARED_WORK,
)

_VERSION_TABLE = "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, description TEXT NOT NULL, "
_SQLITE_VERSION_TABLE = _VERSION_TABLE + "applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
_POSTGRES_VERSION_TABLE = _VERSION_TABLE + "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"


def migrate_sqlite(connection: sqlite3.Connection, migrations: tuple[Migration, ...] = SQLITE_MIGRATIONS) -> list[int]:
    """Apply the missing migrations in one transaction; returns the versions applied by this call."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.execute(_SQLITE_VERSION_TABLE)
        applied = {row[0] for row in connection.execute("SELECT version FROM schema_version")}
        done = []
        for migration in migrations:
            if migration.version in applied:
                continue
            for statement in migration.statements:
                connection.execute(statement)
            connection.execute(
                "INSERT INTO schema_version (version, description) VALUES (?, ?)",
                (migration.version, migration.description),
            )
            done.append(migration.version)
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
    return done


async def migrate_postgres(
    connection: asyncpg.Connection, migrations: tuple[Migration, ...] = POSTGRES_MIGRATIONS
) -> list[int]:
    """Apply the missing migrations under an advisory lock scoped to the current schema; returns those applied."""
    async with connection.transaction():
        # The lock comes before anything else: concurrent CREATE TABLE IF NOT EXISTS can itself fail in PostgreSQL.
        await connection.execute(
            "SELECT pg_advisory_xact_lock(hashtext('plano_proxy.migrations.' || current_schema()))"
        )
        await connection.execute(_POSTGRES_VERSION_TABLE)
        applied = {row["version"] for row in await connection.fetch("SELECT version FROM schema_version")}
        done = []
        for migration in migrations:
            if migration.version in applied:
                continue
            for statement in migration.statements:
                await connection.execute(statement)
            await connection.execute(
                "INSERT INTO schema_version (version, description) VALUES ($1, $2)",
                migration.version,
                migration.description,
            )
            done.append(migration.version)
    return done
