"""PostgreSQL notifications for one instance: a connection of its own that ``LISTEN``s, and whoever waits on a
response's news.

Notifications are only a wake-up call: readers always read the rows themselves, and check again on a short timer,
so one that is missed (the connection was lost and opened again in between) costs a delay, never an event. When the
connection comes back, every waiter is woken and `on_reconnect` runs, so that what was missed is looked for.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import asyncpg
import structlog

from plano_proxy.storage.shared_work import CANCEL_CHANNEL, EVENTS_CHANNEL

log = structlog.get_logger("plano_proxy.storage")

RECONNECT_DELAY = 0.5


class Notifications:
    def __init__(
        self,
        connect: Callable[[], Any],
        on_cancel: Callable[[str], None],
        on_reconnect: Callable[[], None],
    ) -> None:
        self._connect = connect
        self._on_cancel = on_cancel
        self._on_reconnect = on_reconnect
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._listen_forever(), name="plano-notifications")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @contextlib.contextmanager
    def watching(self, response_id: str) -> Iterator[asyncio.Event]:
        """An event set whenever the response's log may have grown, for as long as the block runs."""
        event = asyncio.Event()
        self._waiters.setdefault(response_id, set()).add(event)
        try:
            yield event
        finally:
            waiters = self._waiters.get(response_id)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiters[response_id]

    async def _listen_forever(self) -> None:
        first = True
        while True:
            try:
                conn = await self._connect()
            except Exception as exc:
                log.warning("notifications_unavailable", error=str(exc), retry_in=RECONNECT_DELAY)
                await asyncio.sleep(RECONNECT_DELAY)
                continue
            try:
                await self._listen(conn, first)
                first = False
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("notifications_lost", error=str(exc), retry_in=RECONNECT_DELAY)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.close(), 1.0)
            await asyncio.sleep(RECONNECT_DELAY)

    async def _listen(self, conn: asyncpg.Connection, first: bool) -> None:
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _: lost.set())
        await conn.add_listener(EVENTS_CHANNEL, self._on_events)
        await conn.add_listener(CANCEL_CHANNEL, self._cancelled)
        if not first:
            self._wake_all()
            self._on_reconnect()
        await lost.wait()

    def _on_events(self, conn: object, pid: int, channel: str, response_id: str) -> None:
        for event in self._waiters.get(response_id, ()):
            event.set()

    def _cancelled(self, conn: object, pid: int, channel: str, response_id: str) -> None:
        self._on_cancel(response_id)

    def _wake_all(self) -> None:
        for waiters in self._waiters.values():
            for event in waiters:
                event.set()
