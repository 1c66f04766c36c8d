"""Statements, programs of statements, and the `Executor` that runs them on one database.

The SQL store's operations are written once as programs: generators that yield a `Statement` and receive its result,
so they hold no driver and never await::

    def _delete_conversation(self, conversation_id: str, owner: str | None) -> Program[bool]:
        if not (yield from execute(self._sql.delete_conversation, conversation_id, owner)):
            return False
        yield from execute(self._sql.delete_conversation_items, conversation_id)
        return True

An executor drives a whole program in one go, the way its driver wants it: SQLite's on one of its threads, start to
end without coming back to the event loop between statements; PostgreSQL's on one pooled connection, awaiting each
statement. A lone `Statement` is a program of one statement.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeAlias, TypeVar

from plano_proxy.storage.sql_common import Row

T = TypeVar("T")
R = TypeVar("R", covariant=True)

Kind: TypeAlias = Literal["fetch", "fetchrow", "fetchval", "execute", "executemany"]
"""What to run and what comes back, as asyncpg's methods of those names; ``execute`` gives the count of rows it
changed."""

Program: TypeAlias = Generator["Statement[Any]", Any, T]


@dataclass(frozen=True, slots=True)
class Statement(Generic[R]):
    kind: Kind
    sql: str
    args: Sequence[Any]
    """The parameters; for ``executemany``, one sequence of them per row."""

    def __iter__(self) -> Program[R]:
        result: R = yield self
        return result


Work: TypeAlias = Program[T] | Statement[T]


def fetch(sql: str, *args: Any) -> Statement[list[Row]]:
    return Statement("fetch", sql, args)


def fetchrow(sql: str, *args: Any) -> Statement[Row | None]:
    return Statement("fetchrow", sql, args)


def fetchval(sql: str, *args: Any) -> Statement[Any]:
    return Statement("fetchval", sql, args)


def execute(sql: str, *args: Any) -> Statement[int]:
    return Statement("execute", sql, args)


def executemany(sql: str, rows: Sequence[Sequence[Any]]) -> Statement[None]:
    return Statement("executemany", sql, rows)


class Executor(Protocol):
    """Runs programs on one database. Errors that mean the database is away come out as `StorageUnavailable`."""

    async def read(self, work: Work[T]) -> T:
        """Run work that only reads. Its statements may each see a different moment of the database."""

    async def write(self, work: Work[T]) -> T:
        """Run the work atomically: all of its writes are committed, or none."""

    async def write_all(self, statements: Sequence[Statement[Any]]) -> None:
        """Run the statements atomically, their results unread: a write that can be handed over whole."""

    async def close(self) -> None: ...


# The two drivers: SQLite's runs each statement where it stands, PostgreSQL's awaits it.


def run_program(work: Work[T], run: Callable[[Statement[Any]], Any]) -> T:
    """Drive the work, running each statement it yields with ``run`` and sending back the result."""
    program = iter(work)
    result: Any = None
    while True:
        try:
            statement = program.send(result)
        except StopIteration as done:
            value: T = done.value
            return value
        result = run(statement)


async def run_program_async(work: Work[T], run: Callable[[Statement[Any]], Awaitable[Any]]) -> T:
    program = iter(work)
    result: Any = None
    while True:
        try:
            statement = program.send(result)
        except StopIteration as done:
            value: T = done.value
            return value
        result = await run(statement)
