"""This gateway as one instance among several on one PostgreSQL: its leases, its heartbeat, the takeover of the work
of instances that died, and cancels that reach it from the others.

Only a PostgreSQL store makes an instance a member (`member_of`); with SQLite or memory nothing here runs and the
in-process paths stay as they are.

- **Leases.** A background response is leased before it is queued (so it is never unleased while unfinished); a
  stored foreground stream is leased without waiting (`holding`): the lease is written in the background, batched with
  others, so the stream never waits for it. A response that ends simply leaves `producing`; each heartbeat drops the
  rows of those that left, so an ending costs no write of its own.
- **Heartbeat**, every third of the lease: renew this instance's lease, stop what was cancelled elsewhere and whose
  announcement was missed, and take over what instances whose lease has passed left unfinished: each such response
  is ended as ``failed`` (the trade is in docs/deployment.md), and its live event log gets its last event, so readers
  anywhere end too.
- **Cancels** announced by other instances stop the task producing the response here at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

import structlog

from plano_proxy.proxy.scale_out.event_log import END_OF_STREAM
from plano_proxy.proxy.web_json import unix_time
from plano_proxy.storage import StorageUnavailable, Store
from plano_proxy.storage.exchange import response_object
from plano_proxy.storage.notifications import Notifications
from plano_proxy.storage.postgres import PostgresStore
from plano_proxy.storage.shared_work import Lease, SharedWork, TakenOver

if TYPE_CHECKING:  # the metrics module reads the app's keys, which name this module's Member
    from plano_proxy.proxy.metrics import Metrics

log = structlog.get_logger("plano_proxy.scale_out")

LOST_INSTANCE_ERROR = {
    "code": "server_error",
    "message": "The gateway instance producing this response stopped before it finished; create the response again.",
}
EVENT_LOG_PRUNE_SECONDS = 60.0


class Member:
    """This instance's membership: what it produces, its heartbeat, and what it does for the other instances."""

    def __init__(
        self,
        store: PostgresStore,
        work: SharedWork,
        metrics: Metrics,
        running: dict[str, asyncio.Task[None]],
        *,
        lease_seconds: float,
        event_log_ttl: float,
    ) -> None:
        self.store = store
        self.work = work
        self.running = running
        """Background responses whose task runs here (the app's own registry): what a cancel stops."""
        self._taken_over = metrics.instance_events.labels("taken_over")
        self._cancelled_elsewhere = metrics.instance_events.labels("cancelled_elsewhere")
        self.lease_seconds = lease_seconds
        self.event_log_ttl = event_log_ttl
        self.producing: dict[str, Lease] = {}
        """Unfinished responses this instance produces, by id."""
        self.notifications: Notifications | None = None
        self._unwritten: list[Lease] = []
        self._writing: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._host, self._pid = socket.gethostname(), os.getpid()

    # -- leases --------------------------------------------------------------------------------------------------

    async def lease(self, lease: Lease) -> None:
        """Lease a response before anything of it is stored; if the lease cannot be written, nothing is produced."""
        self.producing[lease.response_id] = lease
        try:
            await self.work.hold([lease])
        except BaseException:
            self.release(lease.response_id)
            raise

    @contextlib.contextmanager
    def holding(self, lease: Lease) -> Iterator[None]:
        """Lease a response for the block's length, without waiting for the lease to be written."""
        self.producing[lease.response_id] = lease
        self._unwritten.append(lease)
        if self._writing is None or self._writing.done():
            self._writing = asyncio.get_running_loop().create_task(self._write_leases())
        try:
            yield
        finally:
            self.release(lease.response_id)

    def release(self, response_id: str) -> None:
        self.producing.pop(response_id, None)

    async def _write_leases(self) -> None:
        while self._unwritten:
            batch = [lease for lease in self._unwritten if lease.response_id in self.producing]
            self._unwritten = []
            if not batch:
                continue
            try:
                await self.work.hold(batch)
            except StorageUnavailable as exc:
                log.warning("lease_not_written", error=str(exc), responses=len(batch))
                self._unwritten[:0] = batch
                await asyncio.sleep(0.5)

    # -- cancels ---------------------------------------------------------------------------------------------------

    def cancel_here(self, response_id: str) -> None:
        task = self.running.get(response_id)
        if task is not None and not task.done():
            log.info("response_cancelled_elsewhere", response_id=response_id, instance=self.work.instance_id)
            self._cancelled_elsewhere.inc()
            task.cancel()

    async def _stop_cancelled(self) -> None:
        if self.running:
            for response_id in await self.work.cancelled_among(list(self.running)):
                self.cancel_here(response_id)

    async def _stop_cancelled_if_reachable(self) -> None:
        with contextlib.suppress(StorageUnavailable):  # the next heartbeat looks again
            await self._stop_cancelled()

    def _recheck_cancels(self) -> None:
        """After the notifications' connection came back: a cancel may have been announced while it was away."""
        task = asyncio.get_running_loop().create_task(self._stop_cancelled_if_reachable())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- membership ------------------------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def joined(self) -> AsyncIterator[None]:
        """Heartbeat and notifications run inside the block; leaving it cleanly leaves the deployment."""
        self.notifications = Notifications(self.store.connect, self.cancel_here, self._recheck_cancels)
        self.notifications.start()
        with contextlib.suppress(StorageUnavailable):
            await self.work.heartbeat([], self._host, self._pid)
        heart = asyncio.get_running_loop().create_task(self._beat_forever(), name="plano-heartbeat")
        try:
            yield
        finally:
            heart.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heart
            await self.notifications.stop()
            with contextlib.suppress(StorageUnavailable):
                await self.work.leave()

    # -- heartbeat and takeover ------------------------------------------------------------------------------------

    async def beat(self) -> list[TakenOver]:
        """One heartbeat; returns what it took over."""
        await self.work.heartbeat(list(self.producing), self._host, self._pid)
        await self._stop_cancelled()
        taken = await self.work.take_over(LOST_INSTANCE_ERROR, unix_time())
        for lost in taken:
            log.warning("response_taken_over", response_id=lost.response_id, failed=lost.failed)
            if lost.failed:
                self._taken_over.inc()
            await self.work.append_end(lost.response_id, await _last_event(self.store, lost))
        return taken

    async def _beat_forever(self) -> None:
        interval = self.lease_seconds / 3
        pruned_at = time.monotonic()
        while True:
            try:
                await self.beat()
                if time.monotonic() - pruned_at > EVENT_LOG_PRUNE_SECONDS:
                    await self.work.prune_events(int(self.event_log_ttl * 1000))
                    pruned_at = time.monotonic()
            except StorageUnavailable as exc:
                log.warning("heartbeat_failed", error=str(exc), retry_in=interval)
            await asyncio.sleep(interval)


async def _last_event(store: Store, lost: TakenOver) -> Callable[[int], dict[str, Any]]:
    """What ends the live log of a response taken over: ``response.failed`` with the stored response if this takeover
    failed it, else only the end of the stream."""
    record = await store.get_response(lost.response_id, lost.owner) if lost.failed else None
    if record is None:
        return lambda sequence: {"type": END_OF_STREAM, "sequence_number": sequence}
    response = response_object(record)
    return lambda sequence: {"type": "response.failed", "sequence_number": sequence, "response": response}


def member_of(
    store: Store,
    metrics: Metrics,
    running: dict[str, asyncio.Task[None]],
    *,
    lease_seconds: float,
    event_log_ttl: float,
) -> Member | None:
    """This instance's membership when the store is PostgreSQL (None otherwise); `running` is the app's registry of
    background responses produced here."""
    if not isinstance(store, PostgresStore):
        return None
    work = SharedWork(store.executor, f"gw_{uuid.uuid4().hex[:16]}", lease_ms=int(lease_seconds * 1000))
    return Member(store, work, metrics, running, lease_seconds=lease_seconds, event_log_ttl=event_log_ttl)
