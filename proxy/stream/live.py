"""A background response's event stream while it is being produced, for any number of readers.

The producer writes framed Responses events into it as they are released (the terminal one only after the turn is
committed); readers follow it from any sequence number, live, until it ends. The client that created the response is
one reader; ``GET /v1/responses/{id}?stream=true&starting_after=N`` is another, so a client that lost its connection
can pick the stream up where it left off. With PostgreSQL the events also go to the shared log, so that readers on
other instances follow them too (`plano_proxy.proxy.scale_out.event_log`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from plano_proxy.proxy.errors import UpstreamError
from plano_proxy.proxy.scale_out.event_log import EventPublisher
from plano_proxy.transformers.framers import ResponsesFramer
from plano_proxy.transformers.sse import frame_named


class LiveStream:
    def __init__(self, publisher: EventPublisher | None = None) -> None:
        self.framer = ResponsesFramer()
        self._publisher = publisher
        """Where the events also go for readers on other instances (PostgreSQL's shared log), if anywhere."""
        self._released = 0
        """Events of `framer.sent` written so far; each framed event ends with one blank line."""
        self._ended = False
        self.failure: UpstreamError | None = None
        """Why the provider did not answer, when it failed before the stream started."""
        self._opened = asyncio.get_running_loop().create_future()
        self._changed = asyncio.Event()

    # -- the producer's side (an Outlet for pump.stream_in_background) -----------------------------------------------

    async def open(self) -> None:
        if not self._opened.done():
            self._opened.set_result(True)

    async def write(self, data: bytes) -> None:
        released = self._released + data.count(b"\n\n")
        if self._publisher is not None:
            self._publisher.publish(self.framer.sent[self._released : released])
        self._released = released
        self._wake()

    async def write_eof(self, data: bytes = b"") -> None:
        await self.end()

    async def end(self) -> None:
        """No more events will come (the stream ended, failed or was cancelled); returns once the shared log, if
        any, has them all."""
        if not self._ended:
            self._ended = True
            if not self._opened.done():
                self._opened.set_result(False)
            self._wake()
        if self._publisher is not None:
            publisher, self._publisher = self._publisher, None
            await publisher.close()

    # -- readers ---------------------------------------------------------------------------------------------------

    async def wait_opened(self) -> bool:
        """True once the provider has answered; False if the stream ended before that (the provider failed)."""
        return bool(await asyncio.shield(self._opened))

    async def follow(self, after: int = -1) -> AsyncIterator[bytes]:
        """Framed events with sequence numbers above `after`, as they are released, until the stream ends."""
        index = after + 1
        while True:
            self._changed.clear()
            while index < self._released:
                yield frame_named(self.framer.sent[index])
                index += 1
            if self._ended:
                return
            await self._changed.wait()

    def _wake(self) -> None:
        self._changed.set()
