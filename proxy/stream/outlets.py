"""Where a stream's bytes go: the `Outlet` protocol, and the client's own event stream (`ClientOutlet`).

The pump and the byte relay write to an outlet; the client's is prepared only once the provider has answered, so a
provider that fails before its first byte is still an HTTP error in the client's format. A background response's
live stream (`live.LiveStream`) is the other outlet.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from aiohttp import web

SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}


class Outlet(Protocol):
    """`open` is called once the provider has answered, before anything is written."""

    async def open(self) -> None: ...

    async def write(self, data: bytes) -> None: ...

    async def write_eof(self, data: bytes = b"") -> None: ...


class ClientOutlet:
    def __init__(self, request: web.Request) -> None:
        self._request = request
        self.response = web.StreamResponse(status=200, headers=SSE_HEADERS)

    def add_headers(self, headers: Mapping[str, str]) -> None:
        """Headers the answer passes on from the provider; only before `open`."""
        self.response.headers.update(headers)

    async def open(self) -> None:
        await self.response.prepare(self._request)

    async def write(self, data: bytes) -> None:
        await self.response.write(data)

    async def write_eof(self, data: bytes = b"") -> None:
        await self.response.write_eof(data)


async def event_stream(request: web.Request) -> web.StreamResponse:
    """A prepared event-stream answer, for streams the gateway replays or follows itself."""
    response = web.StreamResponse(status=200, headers=SSE_HEADERS)
    await response.prepare(request)
    return response
