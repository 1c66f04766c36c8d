"""The SQLite committer process, on asyncio's loop and on uvloop (the gateway's): what it commits is there for any
other connection, a failed batch leaves nothing, and it neither outlives its worker nor takes the worker down."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import uvloop

from plano_proxy.storage.base import StorageUnavailable
from plano_proxy.storage.sql_executor import execute
from plano_proxy.storage.sqlite_committer import SqliteCommitter

INSERT = "INSERT INTO notes (id, body) VALUES (?, ?)"


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Callable[[Awaitable[None]], None]:
    return uvloop.run if request.param == "uvloop" else asyncio.run  # type: ignore[return-value]


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "notes.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body BLOB)")
    return path


def notes(path: Path) -> list[tuple[int, bytes]]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT id, body FROM notes ORDER BY id").fetchall()


def committer(path: Path, busy_timeout: float = 5.0) -> SqliteCommitter:
    return SqliteCommitter(str(path), synchronous="FULL", busy_timeout=busy_timeout)


def gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z"):
            return True  # exited, not yet reaped by its parent
        time.sleep(0.05)
    return False


def test_committed_statements_are_there_and_a_failed_batch_leaves_nothing(run, database: Path) -> None:
    async def scenario() -> None:
        writer = committer(database)
        await writer.commit([execute(INSERT, 1, b"one"), execute(INSERT, 2, b"two")])
        assert notes(database) == [(1, b"one"), (2, b"two")]
        with pytest.raises(sqlite3.DatabaseError, match="UNIQUE"):
            await writer.commit([execute(INSERT, 3, b"three"), execute(INSERT, 1, b"again")])
        await writer.commit([execute(INSERT, 4, b"four")])
        await writer.close()

    run(scenario())
    assert notes(database) == [(1, b"one"), (2, b"two"), (4, b"four")]


def test_a_locked_database_is_unavailable_not_refused(run, database: Path) -> None:
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")

    async def scenario() -> None:
        writer = committer(database, busy_timeout=0.1)
        with pytest.raises(StorageUnavailable, match="locked"):
            await writer.commit([execute(INSERT, 1, b"one")])
        holder.execute("ROLLBACK")
        await writer.commit([execute(INSERT, 1, b"one")])
        await writer.close()

    run(scenario())
    assert notes(database) == [(1, b"one")]


def test_a_killed_committer_fails_its_waiters_and_the_next_commit_starts_another(run, database: Path) -> None:
    async def scenario() -> None:
        writer = committer(database)
        await writer.commit([execute(INSERT, 1, b"one")])
        first = writer.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while writer.pid is not None and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert writer.pid is None
        await writer.commit([execute(INSERT, 2, b"two")])
        assert writer.pid not in (None, first)
        await writer.close()

    run(scenario())
    assert notes(database) == [(1, b"one"), (2, b"two")]


def test_sigterm_is_the_workers_to_act_on(run, database: Path) -> None:
    async def scenario() -> None:
        writer = committer(database)
        await writer.commit([execute(INSERT, 1, b"one")])
        assert writer.pid is not None
        os.kill(writer.pid, signal.SIGTERM)
        await asyncio.sleep(0.2)
        await writer.commit([execute(INSERT, 2, b"two")])
        pid = writer.pid
        await writer.close()
        assert pid is not None and gone(pid)

    run(scenario())
    assert notes(database) == [(1, b"one"), (2, b"two")]


def test_the_committer_ends_with_its_worker_killed(database: Path) -> None:
    worker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import asyncio, sys
                from plano_proxy.storage.sql_executor import execute
                from plano_proxy.storage.sqlite_committer import SqliteCommitter

                async def main():
                    writer = SqliteCommitter({str(database)!r}, synchronous="FULL", busy_timeout=5.0)
                    await writer.commit([execute({INSERT!r}, 1, b"one")])
                    print(writer.pid, flush=True)
                    await asyncio.sleep(60)

                asyncio.run(main())
                """
            ),
        ],
        stdout=subprocess.PIPE,
    )
    assert worker.stdout is not None
    with worker.stdout:
        pid = int(worker.stdout.readline())
    worker.kill()
    worker.wait(timeout=10)
    assert gone(pid)
    assert notes(database) == [(1, b"one")]
