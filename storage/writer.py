"""The background writer: one task that drains a bounded queue of turns and commits them in batches.

``await writer.submit(turn)`` returns once the turn is committed, so acknowledging it to the client means it is
durable. Turns submitted while a commit is under way wait in the queue and go together in the next transaction
(group commit): under load, one commit serves many turns. When turns did arrive during the last commit, the writer is
under load, and it waits ``busy_delay`` (1 ms) before taking the next batch, so that more turns share it: on the
benchmark machine every commit costs two process wake-ups and an fsync, and the wait raised the throughput of stored
chat turns by 3-5 points of the direct rate. One request at a time never waits: its turn finds the queue empty.

A batch that fails with `StorageUnavailable` is retried with exponential backoff, with two ways out:

- while the store says its database is known to be down (`Store.available`, kept by PostgreSQL's store), the batch
  fails at once, so a client gets its 503 in well under a second instead of waiting with its turn; only the failure
  that found the database away is retried, for ``down_grace`` seconds, so a one-off connection reset (which the
  store's probe clears within a round trip) fails no turn;
- otherwise (a store that cannot tell, such as SQLite busy with another writer) a turn still not committed
  ``unavailable_after`` seconds after its submission fails its waiter.

A turn that fails was never acknowledged (its client gets the error), so nothing acknowledged is lost. A batch
refused for any other reason is retried turn by turn, so one bad turn fails alone. `stop()` stops accepting turns
and returns once everything queued before it has been committed or has failed.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from plano_proxy.storage.base import StorageUnavailable, Store, StoredTurn

log = structlog.get_logger("plano_proxy.storage")


@dataclass(slots=True)
class _Pending:
    turn: StoredTurn
    future: asyncio.Future[None]
    deadline: float


_STOP = object()


class BackgroundWriter:
    def __init__(
        self,
        store: Store,
        *,
        max_queue: int = 10_000,
        max_batch: int = 256,
        busy_delay: float = 0.001,
        retry_initial: float = 0.05,
        retry_max: float = 2.0,
        unavailable_after: float = 30.0,
        down_grace: float = 0.3,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self._queue: asyncio.Queue[_Pending | object] = asyncio.Queue(max_queue)
        self._max_batch = max_batch
        self._busy_delay = busy_delay
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._unavailable_after = unavailable_after
        self._down_grace = down_grace
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._accepting = False
        self.commits = 0
        """Transactions committed so far (each holds one batch of turns)."""
        self.committed_turns = 0

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    async def start(self) -> None:
        if self._task is None:
            self._accepting = True
            self._task = asyncio.get_running_loop().create_task(self._run(), name="plano-storage-writer")

    async def stop(self) -> None:
        """Stop accepting turns and wait until every queued turn is committed (or has failed)."""
        if self._task is None:
            return
        self._accepting = False
        await self._queue.put(_STOP)
        await self._task
        self._task = None

    async def submit(self, turn: StoredTurn) -> None:
        """Queue the turn and return once it is committed; raises `StorageUnavailable` if it could not be."""
        if not self._accepting:
            raise StorageUnavailable("The storage writer is not running.")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieve)
        pending = _Pending(turn, future, self._clock() + self._unavailable_after)
        try:
            self._queue.put_nowait(pending)
        except asyncio.QueueFull:
            await self._queue.put(pending)
        # A waiter that goes away (client disconnect) cancels only its wait: the queued turn is stored all the same,
        # and its outcome is dropped (`_resolve` leaves a cancelled future alone).
        await future

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            batch: list[_Pending] = []
            busy = not self._queue.empty()  # turns came in while the last batch was committed
            entry = await self._queue.get()
            if busy and self._busy_delay:
                await asyncio.sleep(self._busy_delay)
            while True:
                if isinstance(entry, _Pending):
                    batch.append(entry)
                else:
                    stopping = True
                    break
                if len(batch) >= self._max_batch or self._queue.empty():
                    break
                entry = self._queue.get_nowait()
            if batch:
                await self._commit(batch)

    async def _commit(self, batch: list[_Pending]) -> None:
        delay = self._retry_initial
        # Past this moment, a batch fails as soon as the store says its database is down: at once when it was known
        # down before the first try, after ``down_grace`` when this batch's own failure is the first sign.
        give_up_while_down = None if self.store.available else self._clock()
        while batch:
            try:
                await self.store.save_turns([pending.turn for pending in batch])
            except StorageUnavailable as exc:
                if give_up_while_down is None:
                    give_up_while_down = self._clock() + self._down_grace
                batch = self._expire(batch, exc, give_up_while_down)
                if batch:
                    pause = self._pause(delay, give_up_while_down)
                    log.warning("storage_unavailable", error=str(exc), retry_in=round(pause, 3), turns=len(batch))
                    await asyncio.sleep(pause)
                    delay = min(delay * 2, self._retry_max)
                continue
            except Exception as exc:
                await self._refused(batch, exc)
                return
            self.commits += 1
            self.committed_turns += len(batch)
            for pending in batch:
                _resolve(pending.future, None)
            return

    def _expire(self, batch: list[_Pending], exc: StorageUnavailable, give_up_while_down: float) -> list[_Pending]:
        """Fail the turns whose deadline has passed, or all of them once the database is known down past the
        grace; returns those still worth retrying."""
        now = self._clock()
        if not self.store.available and now >= give_up_while_down:
            for pending in batch:
                _resolve(pending.future, StorageUnavailable(str(exc)))
            return []
        for pending in batch:
            if pending.deadline <= now:
                _resolve(
                    pending.future,
                    StorageUnavailable(f"Could not store the response within {self._unavailable_after:g}s: {exc}"),
                )
        return [pending for pending in batch if pending.deadline > now]

    def _pause(self, delay: float, give_up_while_down: float) -> float:
        """The backoff before the next try, jittered; while the database is down, no later than the grace's end."""
        pause = delay * random.uniform(0.5, 1.0)
        if not self.store.available:
            pause = min(pause, max(give_up_while_down - self._clock(), 0.0))
        return pause

    async def _refused(self, batch: list[_Pending], exc: Exception) -> None:
        if len(batch) == 1:
            log.error("storage_refused_turn", response_id=batch[0].turn.response.id, error=repr(exc))
            _resolve(batch[0].future, exc)
            return
        for pending in batch:
            await self._commit([pending])


def _retrieve(future: asyncio.Future[None]) -> None:
    """Marks the outcome as seen: a waiter that went away must not leave an "exception never retrieved" report."""
    if not future.cancelled():
        future.exception()


def _resolve(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
