"""The embedded durable store: one SQLite file in WAL mode, safe for several processes at once.

The stdlib driver blocks, so it runs off the event loop: one writer thread (SQLite has one writer at a time anyway;
writes take the lock up front with ``BEGIN IMMEDIATE`` and wait ``busy_timeout`` for other processes) and a few
reader threads, each with its own connection; WAL lets readers run while a write commits. ``synchronous=FULL`` by
default, so a committed turn survives a power cut, not only a crash. A whole program of statements runs on its
thread in one go (`plano_proxy.storage.sql_executor`), so a turn's commit is one hop off the event loop. Writes
whose results nobody reads, the recorded chat turns, go instead to the worker's committer process
(`plano_proxy.storage.sqlite_committer`), which does not share the event loop's GIL.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from plano_proxy.storage.base import StorageUnavailable
from plano_proxy.storage.migrations import migrate_sqlite
from plano_proxy.storage.sql_common import dumps
from plano_proxy.storage.sql_dialect import build_dialect
from plano_proxy.storage.sql_executor import Statement, Work, run_program
from plano_proxy.storage.sql_store import SqlStore
from plano_proxy.storage.sqlite_committer import SqliteCommitter, is_transient
from plano_proxy.storage.threads import ThreadRunner

T = TypeVar("T")

SQLITE = build_dialect(
    param="?",
    same="IS",
    item_id_in="IN (SELECT value FROM json_each($1))",
    id_list=dumps,
    octets="LENGTH(CAST({} AS BLOB))",
)


def _translate(exc: sqlite3.Error) -> Exception:
    return StorageUnavailable(f"SQLite: {exc}") if is_transient(exc) else exc


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


def _run_statement(conn: sqlite3.Connection, statement: Statement[Any]) -> Any:
    """Run one statement, its result shaped as asyncpg's method of the same name shapes it."""
    match statement.kind:
        case "fetch":
            return conn.execute(statement.sql, statement.args).fetchall()
        case "fetchrow":
            return conn.execute(statement.sql, statement.args).fetchone()
        case "fetchval":
            row = conn.execute(statement.sql, statement.args).fetchone()
            return None if row is None else row[0]
        case "execute":
            return conn.execute(statement.sql, statement.args).rowcount
        case "executemany":
            conn.executemany(statement.sql, statement.args)
            return None


def _run_work(conn: sqlite3.Connection, work: Work[T]) -> T:
    return run_program(work, lambda statement: _run_statement(conn, statement))


def _transaction(conn: sqlite3.Connection, work: Work[T]) -> T:
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = _run_work(conn, work)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


class SqliteExecutor:
    """Reads on the reader threads and programs that write on the writer thread, each thread with its own connection;
    writes whose results are not read (`write_all`) in the committer process. The worker's own writes take turns, so
    the thread and the process never wait on each other's lock."""

    def __init__(self, path: str, *, readers: int, busy_timeout: float, synchronous: str) -> None:
        self._path = path
        self._busy_timeout = busy_timeout
        self._synchronous = synchronous
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._writer = ThreadRunner(1, "plano-sqlite-writer")
        self._readers = ThreadRunner(readers, "plano-sqlite-reader")
        self._committer = SqliteCommitter(path, synchronous=synchronous, busy_timeout=busy_timeout)
        self._writing = asyncio.Lock()

    async def read(self, work: Work[T]) -> T:
        return await self._run(self._readers, lambda conn: _run_work(conn, work))

    async def write(self, work: Work[T]) -> T:
        async with self._writing:
            return await self.call(lambda conn: _transaction(conn, work))

    async def start_committer(self) -> None:
        await self._committer.start()

    async def write_all(self, statements: Sequence[Statement[Any]]) -> None:
        async with self._writing:
            await self._committer.commit(statements)

    async def call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` with the writer thread's connection (migrations manage their own transaction)."""
        return await self._run(self._writer, fn)

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use (so a failure to open is reported like any other)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        conn = sqlite3.connect(self._path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        _enable_wal(conn, self._busy_timeout)
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        self._local.conn = conn
        with self._lock:
            self._connections.append(conn)
        return conn

    async def _run(self, threads: ThreadRunner, fn: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            try:
                return fn(self._connection())
            except sqlite3.Error as exc:
                raise _translate(exc) from exc

        return await threads.run(run)

    async def close(self) -> None:
        await self._committer.close()
        await asyncio.get_running_loop().run_in_executor(None, self._shutdown)

    def _shutdown(self) -> None:
        self._writer.shutdown()
        self._readers.shutdown()
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()


class SqliteStore(SqlStore):
    """Open with `SqliteStore.open(path)`, which also applies migrations."""

    @classmethod
    async def open(
        cls,
        path: str,
        *,
        readers: int = 2,
        busy_timeout: float = 5.0,
        synchronous: str = "FULL",
        cache_size: int = 2048,
    ) -> SqliteStore:
        executor = SqliteExecutor(path, readers=readers, busy_timeout=busy_timeout, synchronous=synchronous)
        try:
            await executor.call(migrate_sqlite)
        except BaseException:
            await executor.close()
            raise
        return cls(executor, SQLITE, cache_size=cache_size)

    async def warm(self) -> None:
        """Start the committer process now, so that the first stored chat turn does not wait for it to start."""
        assert isinstance(self._db, SqliteExecutor)
        await self._db.start_committer()
