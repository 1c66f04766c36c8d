"""The HTTP/1.1 client that calls providers: kept-alive connections per origin, each answer parsed by llhttp.

Every request the gateway relays is one call to a provider, so the client's own cost is paid on every request. An
aiohttp ``ClientSession`` call costs 72–81 µs of CPU on the benchmark machine (its request and response objects, URL
and header handling, timers and hooks); a call through this client costs 24–28 µs, half of it the system call that
writes the request (``scripts/bench_upstream_client.py``). It does what the gateway needs: a POST with a body in
hand, an answer read whole or chunk by chunk as it arrives, and these rules:

- connections are kept alive per origin (scheme, host, port) and reused most-recent first; an idle connection older
  than ``keepalive`` is closed rather than reused; at most ``limit`` connections are open at once, and a call beyond
  that waits for one to be given back;
- a reused connection that the provider closed before answering (a keep-alive race) is replaced once by a new one;
- ``connect`` bounds opening a connection (and its TLS handshake); the answer's first byte must come within
  ``first_byte``, and every later wait for a byte within ``idle`` (a stream is judged only while it is being read:
  a slow client, for which the gateway stopped reading, is not the provider's delay);
- a gzip or deflate answer (aiohttp asked for them, so providers may send them) is decompressed as it arrives;
- an answer given back before its end closes its connection, which is how a provider learns that its caller left.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import httptools

from plano_proxy.proxy.config import Timeouts
from plano_proxy.proxy.upstream.http1_answer import UpstreamAnswer, UpstreamCut


@dataclass(frozen=True, slots=True)
class Origin:
    scheme: str
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class _Target:
    origin: Origin
    request_line: bytes
    """``POST <path> HTTP/1.1`` with the Host line."""


@functools.lru_cache(maxsize=256)
def _target(url: str) -> _Target:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"Not an http(s) URL: {url!r}")
    secure = parts.scheme == "https"
    port = parts.port or (443 if secure else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    host_header = host if parts.port is None else f"{host}:{port}"
    line = f"POST {path} HTTP/1.1\r\nHost: {host_header}\r\nAccept-Encoding: gzip, deflate\r\n"
    return _Target(Origin(parts.scheme, parts.hostname, port), line.encode())


def _request_bytes(target: _Target, headers: Mapping[str, str], body: bytes) -> bytes:
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    if lines.count("\n") != len(headers) or lines.count("\r") != len(headers):
        raise ValueError("A header name or value holds a line break.")
    return b"%s%sContent-Length: %d\r\n\r\n%s" % (target.request_line, lines.encode(), len(body), body)


class UpstreamPool:
    """Connections to providers. ``await pool.post(url, headers, body, timeouts)`` gives the answer once its status
    and headers are in; `UpstreamAnswer.release` gives the connection back (or closes it)."""

    def __init__(self, limit: int, *, keepalive: float = 60.0, ssl_context: ssl.SSLContext | None = None) -> None:
        self._limit = limit
        self._keepalive = keepalive
        self._ssl = ssl_context
        self._idle: dict[Origin, list[_Connection]] = {}
        self._open = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._closed = False

    async def __aenter__(self) -> UpstreamPool:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        self._closed = True
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()

    async def post(self, url: str, headers: Mapping[str, str], body: bytes, timeouts: Timeouts) -> UpstreamAnswer:
        """Send the request and wait for the answer's head. Raises OSError (or `ssl.SSLError`) when no connection
        could be made, TimeoutError past ``connect`` or ``first_byte``, `UpstreamCut` when the provider hung up
        without answering."""
        target = _target(url)
        request = _request_bytes(target, headers, body)
        connection, reused = await self._acquire(target.origin, timeouts.connect)
        try:
            return await _answer_head(connection, request, timeouts)
        except _NothingReceived:
            if not reused:
                raise
        connection, _ = await self._acquire(target.origin, timeouts.connect, reuse=False)
        return await _answer_head(connection, request, timeouts)

    async def _acquire(self, origin: Origin, connect_timeout: float, *, reuse: bool = True) -> tuple[_Connection, bool]:
        loop = asyncio.get_running_loop()
        while True:
            if self._closed:
                raise UpstreamCut("The gateway is shutting down.")
            if reuse and (connection := self._reusable(origin, loop.time())) is not None:
                return connection, True
            if self._open < self._limit:
                return await self._connect(origin, connect_timeout), False
            self._close_one_idle()  # its room, once it is closed, goes to a waiter
            waiter = loop.create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()  # woken and cancelled at once: the room it was given goes to the next
                elif waiter in self._waiters:
                    self._waiters.remove(waiter)
                raise

    def _close_one_idle(self) -> None:
        """At the limit, an idle connection (to another provider: none was left to this one) makes way."""
        for idle in self._idle.values():
            while idle:
                connection = idle.pop(0)
                if not connection.closed:
                    connection.close()
                    return

    def _reusable(self, origin: Origin, now: float) -> _Connection | None:
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()
            if not connection.closed and now - connection.idle_since < self._keepalive:
                return connection
            connection.close()
        return None

    async def _connect(self, origin: Origin, connect_timeout: float) -> _Connection:
        loop = asyncio.get_running_loop()
        secure = origin.scheme == "https"
        context = (self._ssl or _default_ssl_context()) if secure else None
        self._open += 1
        try:
            async with asyncio.timeout(connect_timeout):
                _, connection = await loop.create_connection(
                    lambda: _Connection(self),
                    origin.host,
                    origin.port,
                    ssl=context,
                    server_hostname=origin.host if secure else None,
                )
        except BaseException:
            self._open -= 1
            self._wake_one()
            raise
        connection.origin = origin
        connection.counted = True
        return connection

    def _give_back(self, connection: _Connection) -> None:
        if self._closed or connection.closed:
            connection.close()
            return
        connection.idle_since = asyncio.get_running_loop().time()
        idle = self._idle.setdefault(connection.origin, [])
        idle.append(connection)
        if idle[0].idle_since < connection.idle_since - self._keepalive:
            idle.pop(0).close()
        self._wake_one()

    def _forget(self) -> None:
        """A connection closed: room for another."""
        self._open -= 1
        self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


class _NothingReceived(UpstreamCut):
    """The provider closed the connection before any byte of its answer."""


async def _answer_head(connection: _Connection, request: bytes, timeouts: Timeouts) -> UpstreamAnswer:
    """Send on ``connection`` and wait for the answer's head; on any failure the connection is closed."""
    answer = connection.send(request, timeouts)
    try:
        await answer.head()
    except BaseException as failure:
        answer.release()
        if isinstance(failure, UpstreamCut) and answer.nothing_received:
            raise _NothingReceived(str(failure)) from failure
        raise
    return answer


@functools.cache
def _default_ssl_context() -> ssl.SSLContext:
    return ssl.create_default_context()


class _Connection(asyncio.Protocol):
    """One kept-alive connection; it carries one answer at a time (an `AnswerCarrier`)."""

    def __init__(self, pool: UpstreamPool) -> None:
        self._pool = pool
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self.origin = Origin("", "", 0)
        self.answer: UpstreamAnswer | None = None
        self.closed = False
        self.counted = False
        """Whether the pool counts it among its open connections (set once it is fully made)."""
        self.idle_since = 0.0
        self._informational = False

    def send(self, request: bytes, timeouts: Timeouts) -> UpstreamAnswer:
        assert self._transport is not None
        self.answer = UpstreamAnswer(self, self._transport, timeouts)
        self._transport.write(request)
        return self.answer

    def close(self) -> None:
        if not self.closed and self._transport is not None:
            self._transport.abort()
        self.closed = True

    def finished(self, answer: UpstreamAnswer, reusable: bool) -> None:
        """The answer was given back: whole and reusable, the connection goes back to the pool; otherwise closed."""
        if self.answer is answer:
            self.answer = None
        if reusable and not self.closed:
            self._pool._give_back(self)
        else:
            self.close()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports do not derive from asyncio's

    def data_received(self, data: bytes) -> None:
        if self.answer is None:  # nothing was asked: a provider that talks out of turn is not trusted again
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.answer.fail(UpstreamCut(f"The provider's answer could not be parsed: {exc}."))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.counted:
            self._pool._forget()
        if self.answer is not None:
            self.answer.connection_lost()

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self.answer is not None
        self.answer.raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        assert self.answer is not None
        status = self._parser.get_status_code()
        if status < 200:  # informational (100 Continue, 103 Early Hints): the answer itself follows
            self._informational = True
            self.answer.raw_headers.clear()
            return
        self.answer.head_received(status, self._parser.should_keep_alive())

    def on_body(self, body: bytes) -> None:
        assert self.answer is not None
        self.answer.body_received(body)

    def on_message_complete(self) -> None:
        assert self.answer is not None
        if self._informational:
            self._informational = False
            return
        self.answer.completed()
