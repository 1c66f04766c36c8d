"""The SQLite committer: a process of each gateway worker's own that commits the writes nobody reads results of.

The stdlib driver holds the GIL for all but the steps of its statements, so a writer thread in the worker competes
with the event loop for it: on the benchmark machine, with every chat turn stored, the writer thread and its hand-overs
cost the worker about 90 µs of CPU per turn, and a turn waited 0.6–0.7 ms for a commit whose fsync takes 0.3 ms. A
process has a GIL of its own. `SqliteExecutor.write_all` (the recorded chat turns of the shipped configuration) hands
it one message on its standard input: the statements, marshalled. It runs them in one transaction (``BEGIN
IMMEDIATE`` … ``COMMIT``, with the store's ``synchronous``) and answers with one message on its standard output: empty
once committed, else the error. Messages are answered in order.

It is started by the store's `warm` (the gateway calls it at start) or by the first commit, and again by the next
commit after it ended (killed, say: the turns waiting for it fail with `StorageUnavailable`, which the background
writer retries). It ends at the end of its input, when the worker closes the store or dies, so it never outlives
the worker. SIGINT and SIGTERM are ignored: they are the worker's to act on, and a worker that stops commits its
last turns through this process.

    python -m plano_proxy.storage.sqlite_committer PATH SYNCHRONOUS BUSY_TIMEOUT
"""

from __future__ import annotations

import asyncio
import contextlib
import marshal
import signal
import sqlite3
import struct
import sys
from collections import deque
from collections.abc import Sequence
from typing import IO, Any, cast

from plano_proxy.storage.base import StorageUnavailable
from plano_proxy.storage.sql_executor import Statement

_LENGTH = struct.Struct("!I")
_STOP_PATIENCE = 10.0
"""Seconds a committer is given to finish its queued commits once its input is closed."""

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


def is_transient(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.OperationalError) and (code is None or code & 0xFF in _TRANSIENT_CODES)


class SqliteCommitter:
    """The worker's side: starts the process when needed and awaits its answers."""

    def __init__(self, path: str, *, synchronous: str, busy_timeout: float) -> None:
        self._arguments = (path, synchronous, str(busy_timeout))
        self._process: _Committer | None = None
        self._starting = asyncio.Lock()

    async def commit(self, statements: Sequence[Statement[Any]]) -> None:
        """Run the statements in one transaction; returns once it is committed."""
        message = marshal.dumps([(statement.kind, statement.sql, tuple(statement.args)) for statement in statements])
        process = self._process
        if process is None or not process.running:
            process = await self.start()
        await process.send(message)

    async def start(self) -> _Committer:
        """Start the process unless it runs (the gateway has the store start it before the first turn)."""
        async with self._starting:
            if self._process is None or not self._process.running:
                _, self._process = await asyncio.get_running_loop().subprocess_exec(
                    _Committer,
                    *(sys.executable, "-m", __name__, *self._arguments),
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=None,  # its errors, if any, in the worker's own log
                )
            return self._process

    @property
    def pid(self) -> int | None:
        """The running process's id, None before it is started and after it ended."""
        return self._process.pid if self._process is not None and self._process.running else None

    async def close(self) -> None:
        if self._process is not None:
            await self._process.stop()


class _Committer(asyncio.SubprocessProtocol):
    def __init__(self) -> None:
        self.running = True
        self._transport: asyncio.SubprocessTransport | None = None
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._received = bytearray()
        self._exited = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.SubprocessTransport, transport)  # uvloop's is not asyncio's class

    @property
    def pid(self) -> int | None:
        return None if self._transport is None else self._transport.get_pid()

    async def send(self, message: bytes) -> None:
        assert self._transport is not None
        answer = asyncio.get_running_loop().create_future()
        self._waiting.append(answer)
        stdin = cast(asyncio.WriteTransport, self._transport.get_pipe_transport(0))  # uvloop's is not asyncio's class
        stdin.write(_LENGTH.pack(len(message)) + message)
        await answer

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        self._received += data
        while len(self._received) >= _LENGTH.size:
            (size,) = _LENGTH.unpack_from(self._received)
            end = _LENGTH.size + size
            if len(self._received) < end:
                return
            answer = bytes(self._received[_LENGTH.size : end])
            del self._received[:end]
            self._settle(self._waiting.popleft(), answer)

    @staticmethod
    def _settle(waiter: asyncio.Future[None], answer: bytes) -> None:
        if waiter.done():
            return
        if not answer:
            waiter.set_result(None)
            return
        transient, message = marshal.loads(answer)
        error = StorageUnavailable(f"SQLite: {message}") if transient else sqlite3.DatabaseError(message)
        waiter.set_exception(error)

    def process_exited(self) -> None:
        self.running = False
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_exception(StorageUnavailable("SQLite: the committer process ended."))
        if not self._exited.done():
            self._exited.set_result(None)
        if self._transport is not None:
            self._transport.close()

    async def stop(self) -> None:
        """Close its input and wait for it to commit what it was sent and exit (killed if it takes too long)."""
        if self._transport is None:
            return
        stdin = self._transport.get_pipe_transport(0)
        if stdin is not None:
            stdin.close()
        try:
            await asyncio.wait_for(asyncio.shield(self._exited), _STOP_PATIENCE)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self._transport.kill()
            await self._exited


def _commit(conn: sqlite3.Connection, statements: list[tuple[str, str, Any]]) -> bytes:
    """Runs the statements in one transaction: the empty answer once committed, else the error, marshalled."""
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for kind, sql, args in statements:
                if kind == "executemany":
                    conn.executemany(sql, args)
                else:
                    conn.execute(sql, args)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    except sqlite3.Error as exc:
        return marshal.dumps((is_transient(exc), str(exc)))
    return b""


def _read_exactly(source: IO[bytes], size: int) -> bytes | None:
    data = source.read(size)
    return data if len(data) == size else None


def serve(path: str, synchronous: str, busy_timeout: float) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
    conn.execute(f"PRAGMA synchronous={synchronous}")
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    while (header := _read_exactly(source, _LENGTH.size)) is not None:
        (size,) = _LENGTH.unpack(header)
        message = _read_exactly(source, size)
        if message is None:
            break
        answer = _commit(conn, marshal.loads(message))
        sink.write(_LENGTH.pack(len(answer)) + answer)
        sink.flush()
    conn.close()


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2], float(sys.argv[3]))
