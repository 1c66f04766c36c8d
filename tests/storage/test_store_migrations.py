"""Schema migrations: versioned, idempotent, and safe when several processes or instances start at once."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
from storage_fixtures import POSTGRES_DSN

from plano_proxy.storage import open_store
from plano_proxy.storage.migrations import (
    POSTGRES_MIGRATIONS,
    SQLITE_MIGRATIONS,
    Migration,
    migrate_postgres,
    migrate_sqlite,
)
from plano_proxy.storage.postgres import PostgresStore

LATEST = [migration.version for migration in SQLITE_MIGRATIONS]


def sqlite_versions(path: Path) -> list[int]:
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute("SELECT version FROM schema_version ORDER BY version")]


async def postgres_versions(schema: str) -> list[int]:
    conn = await asyncpg.connect(POSTGRES_DSN, server_settings={"search_path": schema})
    try:
        return [row[0] for row in await conn.fetch("SELECT version FROM schema_version ORDER BY version")]
    finally:
        await conn.close()


async def test_sqlite_migrations_apply_once(tmp_path: Path) -> None:
    """Opening the same file again applies nothing and records each version once."""
    path = tmp_path / "state.db"
    for _ in range(2):
        store = await open_store("sqlite", path=str(path))
        await store.close()
    assert sqlite_versions(path) == LATEST
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate_sqlite(conn) == []
    conn.close()


async def test_sqlite_applies_only_the_new_migration(tmp_path: Path) -> None:
    """A later version is applied on top of an existing schema, earlier ones are not replayed."""
    path = tmp_path / "state.db"
    await (await open_store("sqlite", path=str(path))).close()
    later = (*SQLITE_MIGRATIONS, Migration(LATEST[-1] + 1, "extra", ("CREATE TABLE extra (x INTEGER)",)))
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate_sqlite(conn, later) == [LATEST[-1] + 1]
    assert migrate_sqlite(conn, later) == []
    conn.close()
    assert sqlite_versions(path) == [*LATEST, LATEST[-1] + 1]


_OPEN_AT_ONCE = """
import asyncio, sys, time
from plano_proxy.storage import open_store
start = float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))
async def main():
    store = await open_store("sqlite", path=sys.argv[1])
    await store.close()
asyncio.run(main())
"""


def test_sqlite_processes_starting_together_migrate_once(tmp_path: Path) -> None:
    """Six processes opening a new file at the same instant all succeed and the schema is created once."""
    import time

    path = tmp_path / "state.db"
    start = time.time() + 1.5
    processes = [
        subprocess.Popen([sys.executable, "-c", _OPEN_AT_ONCE, str(path), str(start)], stderr=subprocess.PIPE)
        for _ in range(6)
    ]
    errors = [process.communicate(timeout=60)[1].decode() for process in processes]
    assert [process.returncode for process in processes] == [0] * 6, errors
    assert sqlite_versions(path) == LATEST


@pytest.mark.postgres
async def test_postgres_migrations_apply_once(pg_schema: str) -> None:
    """A second start on the same schema applies nothing; each version is recorded once."""
    for _ in range(2):
        store = await PostgresStore.open(POSTGRES_DSN, schema=pg_schema)
        await store.close()
    assert await postgres_versions(pg_schema) == [m.version for m in POSTGRES_MIGRATIONS]
    conn = await asyncpg.connect(POSTGRES_DSN, server_settings={"search_path": pg_schema})
    try:
        assert await migrate_postgres(conn) == []
        later = (*POSTGRES_MIGRATIONS, Migration(99, "extra", ("CREATE TABLE extra (x INTEGER)",)))
        assert await migrate_postgres(conn, later) == [99]
    finally:
        await conn.close()


@pytest.mark.postgres
async def test_postgres_instances_starting_together_migrate_once(pg_schema: str) -> None:
    """Several pools migrating one new schema at the same moment all succeed; the advisory lock serialises them."""
    stores = await asyncio.gather(*(PostgresStore.open(POSTGRES_DSN, schema=pg_schema) for _ in range(6)))
    try:
        assert await postgres_versions(pg_schema) == [m.version for m in POSTGRES_MIGRATIONS]
        await stores[0].ping()
    finally:
        for store in stores:
            await store.close()


@pytest.mark.postgres
async def test_postgres_processes_starting_together_migrate_once(pg_schema: str) -> None:
    """Separate processes starting on one new schema at the same instant all succeed."""
    import time

    code = """
import asyncio, sys, time
from plano_proxy.storage import open_store
time.sleep(max(0.0, float(sys.argv[3]) - time.time()))
async def main():
    store = await open_store("postgres", connection_string=sys.argv[1], schema=sys.argv[2])
    await store.close()
asyncio.run(main())
"""
    start = time.time() + 1.5
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, POSTGRES_DSN, pg_schema, str(start), stderr=asyncio.subprocess.PIPE
        )
        for _ in range(4)
    ]
    outputs = [await process.communicate() for process in processes]
    assert [process.returncode for process in processes] == [0] * 4, [err.decode() for _, err in outputs]
    assert await postgres_versions(pg_schema) == [m.version for m in POSTGRES_MIGRATIONS]
