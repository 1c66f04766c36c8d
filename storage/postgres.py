"""The production store: PostgreSQL through an asyncpg pool, shared by any number of gateway instances.

Errors that mean the database is away (connection lost or refused, server shutting down, too many connections, out
of resources, a deadlock to retry) become `StorageUnavailable`; everything else is raised as asyncpg raised it.
Appending to a conversation takes its row lock (``UPDATE … RETURNING next_position``), so concurrent turns on one
conversation from several instances get distinct, ordered positions.

An error that means the database is away (a deadlock aside) also marks it known to be down
(`plano_proxy.storage.availability`): until a ``SELECT 1`` on a fresh connection succeeds, work fails at once
instead of each request waiting for a connection of its own to fail.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg

from plano_proxy.storage.availability import Availability
from plano_proxy.storage.base import StorageUnavailable
from plano_proxy.storage.migrations import migrate_postgres
from plano_proxy.storage.sql_dialect import build_dialect
from plano_proxy.storage.sql_executor import Statement, Work, run_program_async
from plano_proxy.storage.sql_store import SqlStore

T = TypeVar("T")

POSTGRES = build_dialect(
    param="$", same="IS NOT DISTINCT FROM", item_id_in="= ANY($1::text[])", id_list=list, octets="OCTET_LENGTH({})"
)

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


async def _run_statement(conn: asyncpg.Connection, statement: Statement[Any]) -> Any:
    sql, args = statement.sql, statement.args
    match statement.kind:
        case "fetch":
            return await conn.fetch(sql, *args)
        case "fetchrow":
            return await conn.fetchrow(sql, *args)
        case "fetchval":
            return await conn.fetchval(sql, *args)
        case "execute":
            status: str = await conn.execute(sql, *args)
            return int(status.rpartition(" ")[2])  # "UPDATE 1", "INSERT 0 1": the row count comes last
        case "executemany":
            return await conn.executemany(sql, args)


async def _run_work(conn: asyncpg.Connection, work: Work[T]) -> T:
    return await run_program_async(work, lambda statement: _run_statement(conn, statement))


class PostgresExecutor:
    """Runs each piece of work on one pooled connection.

    A write that is a program runs in a transaction; a lone statement is atomic without one. Reads never take one:
    at READ COMMITTED every statement reads its own snapshot inside a transaction too, so it would only add two
    round trips.
    """

    def __init__(self, pool: asyncpg.Pool, probe: Callable[[], Awaitable[None]]) -> None:
        self._pool = pool
        self._availability = Availability(probe, name="PostgreSQL")

    @property
    def available(self) -> bool:
        return self._availability.available

    async def read(self, work: Work[T]) -> T:
        async with self.connection() as conn:
            return await _run_work(conn, work)

    async def write(self, work: Work[T]) -> T:
        async with self.connection() as conn:
            if isinstance(work, Statement):
                return await _run_work(conn, work)
            async with conn.transaction():
                return await _run_work(conn, work)

    async def write_all(self, statements: Sequence[Statement[Any]]) -> None:
        async with self.connection() as conn, conn.transaction():
            for statement in statements:
                await _run_work(conn, statement)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        self._availability.check()
        try:
            async with self._pool.acquire() as conn:
                try:
                    yield conn
                except _BROKEN_CONNECTION:
                    conn.terminate()  # so the pool opens a fresh one instead of handing this one out again
                    raise
        except (*_UNAVAILABLE, *_BROKEN_CONNECTION) as exc:
            if not isinstance(exc, asyncpg.TransactionRollbackError):  # a conflict worth a retry, not the server away
                self._availability.mark_down(exc)
            raise StorageUnavailable(f"PostgreSQL: {exc}") from exc

    async def close(self) -> None:
        await self._availability.close()
        await self._pool.close()


class PostgresStore(SqlStore):
    """Open with `PostgresStore.open(dsn)`, which creates the pool and applies migrations.

    ``schema`` puts every table in that schema (created if missing), so several deployments or test runs can
    share one database.
    """

    executor: PostgresExecutor
    """The pool's work runner, shared with the coordination of instances (`plano_proxy.storage.shared_work`)."""
    connect: Callable[[], Awaitable[asyncpg.Connection]]
    """A new connection of its own, outside the pool, with the store's settings (for ``LISTEN``)."""

    @property
    def available(self) -> bool:
        return self.executor.available

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
        executor = PostgresExecutor(pool, _select_one(dsn, settings))
        try:
            async with executor.connection() as conn:
                await migrate_postgres(conn)
        except BaseException:
            await executor.close()
            raise
        store = cls(executor, POSTGRES, cache_size=cache_size)
        store.executor = executor
        store.connect = lambda: asyncpg.connect(dsn, server_settings=settings)
        return store


def _select_one(dsn: str, settings: dict[str, str]) -> Callable[[], Awaitable[None]]:
    """The probe: ``SELECT 1`` on a connection of its own, since the pool's may all be broken (its time is bounded by
    the caller)."""

    async def probe() -> None:
        conn = await asyncpg.connect(dsn, server_settings=settings)
        try:
            await conn.fetchval("SELECT 1")
        finally:
            await conn.close()

    return probe


async def _create_schema(dsn: str, schema: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        quoted = '"' + schema.replace('"', '""') + '"'
        # IF NOT EXISTS still races: another instance may create it at the same moment.
        with contextlib.suppress(asyncpg.UniqueViolationError):
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
    finally:
        await conn.close()
