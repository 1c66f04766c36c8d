"""Whether a database is known to be away, and the probe that notices when it is back.

Without this, every request made while the database is away would try a connection of its own and wait for it to
fail (at once when refused, after the whole connect timeout when the host is unreachable), and the writer would retry
each batch until its deadline. Instead, once a piece of work fails with `StorageUnavailable` the database is known to
be down from that moment: new work fails at once, with no connection attempt on the request path, and one background
probe tries a cheap query on a fresh connection, right away and then every ``interval`` seconds. Its first success
marks the database up again, so recovery needs neither a request nor a restart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import structlog

from plano_proxy.storage.base import StorageUnavailable

log = structlog.get_logger("plano_proxy.storage")

Probe = Callable[[], Awaitable[None]]
"""Returns if the database answers on a fresh connection; raises anything otherwise."""


class Availability:
    def __init__(self, probe: Probe, *, name: str, interval: float = 0.5, probe_timeout: float = 2.0) -> None:
        self._probe = probe
        self._name = name
        self._interval = interval
        self._probe_timeout = probe_timeout
        self._down_since: float | None = None
        self._reason = ""
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def available(self) -> bool:
        """False from the failure that showed the database away until the probe's first success."""
        return self._down_since is None

    def check(self) -> None:
        """Raise `StorageUnavailable` at once while the database is known to be down."""
        if self._down_since is not None:
            away = time.monotonic() - self._down_since
            raise StorageUnavailable(f"{self._name} has been unreachable for {away:.1f}s ({self._reason})")

    def mark_down(self, error: BaseException) -> None:
        """Record that work failed because the database is away, and start the probe unless it runs already."""
        if self._closed:
            return
        if self._down_since is None:
            self._down_since, self._reason = time.monotonic(), str(error) or type(error).__name__
            log.warning("storage_down", database=self._name, error=self._reason)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._probe_until_up(), name="plano-storage-probe")

    async def _probe_until_up(self) -> None:
        attempts = 0
        while True:
            attempts += 1
            try:
                async with asyncio.timeout(self._probe_timeout):
                    await self._probe()
                break
            # Whatever the probe raises (refused, shutting down, a timeout, a driver error) means "not back yet".
            except Exception as exc:
                log.debug("storage_probe_failed", database=self._name, error=repr(exc))
            await asyncio.sleep(self._interval)
        assert self._down_since is not None
        log.info(
            "storage_up", database=self._name, down_s=round(time.monotonic() - self._down_since, 3), probes=attempts
        )
        self._down_since, self._task = None, None

    async def close(self) -> None:
        """Stop the probe; nothing starts it again."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
