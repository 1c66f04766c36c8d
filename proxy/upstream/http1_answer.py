"""A provider's answer as the HTTP/1.1 client (`http1`) receives it: its head, then its body whole or as it arrives.

The connection feeds it what llhttp parses (`head_received`, `body_received`, `completed`, `connection_lost`); its
reader awaits `head`, `read` or `chunks`. More than ``_HIGH_WATER`` bytes unread stop the connection reading until
the reader catches up. One timer covers the provider's silence: before the head, ``first_byte`` (or ``idle`` when
shorter); after it, ``idle`` between two bytes, counted only while somebody waits for them.
"""

from __future__ import annotations

import asyncio
import zlib
from collections import deque
from collections.abc import AsyncIterator
from typing import Protocol

from plano_proxy.proxy.config import Timeouts

_HIGH_WATER = 256 * 1024
"""Bytes of an answer buffered before the connection stops reading from the provider (until the reader catches up)."""


class UpstreamCut(Exception):
    """The provider's answer ended before it was complete: connection closed, or a framing error."""


class AnswerCarrier(Protocol):
    """The connection an answer comes on."""

    def finished(self, answer: UpstreamAnswer, reusable: bool) -> None:
        """The answer was given back: whole and reusable, or not (the connection is then closed)."""

    def close(self) -> None: ...


class UpstreamAnswer:
    """A provider's answer: `status` and `headers` (names in lower case) once `UpstreamPool.post` returns, then the
    body through `read` or `chunks`. `release` must be called once it is no longer wanted."""

    def __init__(self, connection: AnswerCarrier, transport: asyncio.Transport, timeouts: Timeouts) -> None:
        self._connection = connection
        self._transport = transport
        self._loop = asyncio.get_running_loop()
        self.status = 0
        self.headers: dict[str, str] = {}
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.nothing_received = True
        self._head: asyncio.Future[None] | None = None
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._paused = False
        self._waiter: asyncio.Future[None] | None = None
        self._error: BaseException | None = None
        self._complete = False
        self._ends_at_close = False
        self._keep_alive = False
        self._released = False
        self._decompressor: zlib._Decompress | None = None
        self._idle = timeouts.idle
        self._limit = min(timeouts.first_byte, timeouts.idle)
        self._last_activity = self._loop.time()
        self._timer: asyncio.TimerHandle | None = self._loop.call_at(self._last_activity + self._limit, self._check)

    # The reader's side

    async def head(self) -> None:
        if self.status or self._error is not None:
            self._raise_if_failed()
            return
        self._head = self._loop.create_future()
        await self._head

    async def read(self) -> bytes:
        parts = []
        while True:
            if self._chunks:
                parts.append(self._take())
            if self._complete:
                return parts[0] if len(parts) == 1 else b"".join(parts)
            await self._more()

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives, each time all that is buffered."""
        while True:
            if self._chunks:
                yield self._take()
            elif self._complete:
                return
            else:
                await self._more()

    async def _more(self) -> None:
        """Wait for more of the body (or its end); raises what cut it."""
        self._raise_if_failed()
        self._last_activity = self._loop.time()
        self._waiter = self._loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        self._stop_timer()
        self._connection.finished(self, self._complete and self._keep_alive and self._error is None)

    def _take(self) -> bytes:
        chunk = self._chunks.popleft() if len(self._chunks) == 1 else b"".join(self._drain())
        self._buffered = 0
        if self._paused:
            self._paused = False
            self._transport.resume_reading()
        return chunk

    def _drain(self) -> list[bytes]:
        parts = list(self._chunks)
        self._chunks.clear()
        return parts

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    # The connection's side

    def head_received(self, status: int, keep_alive: bool) -> None:
        self.nothing_received = False
        self.status = status
        self._keep_alive = keep_alive
        self.headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in self.raw_headers}
        self._ends_at_close = "content-length" not in self.headers and "chunked" not in self.headers.get(
            "transfer-encoding", ""
        )
        encoding = self.headers.get("content-encoding", "").strip().lower()
        if encoding in ("gzip", "deflate"):
            self._decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS)
        self._limit = self._idle
        self._last_activity = self._loop.time()
        self._settle(self._head)

    def body_received(self, data: bytes) -> None:
        if self._decompressor is not None:
            try:
                data = self._decompressor.decompress(data)
            except zlib.error as exc:
                self.fail(UpstreamCut(f"The provider's compressed answer is corrupt: {exc}."))
                self._connection.close()
                return
            if not data:
                return
        self._chunks.append(data)
        self._buffered += len(data)
        self._last_activity = self._loop.time()
        if self._buffered > _HIGH_WATER and not self._paused:
            self._paused = True
            self._transport.pause_reading()
        self._settle(self._waiter)

    def completed(self) -> None:
        if self._decompressor is not None and (rest := self._decompressor.flush()):
            self._chunks.append(rest)
        self._complete = True
        self._stop_timer()
        self._settle(self._waiter)

    def connection_lost(self) -> None:
        if self._complete:
            return
        if self.status and self._ends_at_close and self._error is None:
            self.completed()
            self._keep_alive = False
            return
        self.fail(UpstreamCut("The provider closed the connection before its answer was complete."))

    def fail(self, error: BaseException) -> None:
        if self._error is None and not self._complete:
            self._error = error
        self._stop_timer()
        self._settle(self._head)
        self._settle(self._waiter)

    def _settle(self, future: asyncio.Future[None] | None) -> None:
        if future is None or future.done():
            return
        if self._error is not None and (future is self._head or not self._chunks):
            future.set_exception(self._error)
        else:
            future.set_result(None)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check(self) -> None:
        """The timer: fails the answer when the provider was silent for the limit while someone waited for it."""
        self._timer = None
        if self._complete or self._error is not None:
            return
        now = self._loop.time()
        due = self._last_activity + self._limit
        if now < due:
            self._timer = self._loop.call_at(due, self._check)
            return
        if self.status and self._waiter is None:  # nobody is reading: the silence is the reader's, not the provider's
            self._last_activity = now
            self._timer = self._loop.call_at(now + self._limit, self._check)
            return
        self.fail(TimeoutError())
        self._connection.close()
