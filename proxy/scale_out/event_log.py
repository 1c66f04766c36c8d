"""A streamed background response's events on every instance: written to the shared log as they are released, and
followed from it by readers on other instances.

The producer's `LiveStream` hands each released event to an `EventPublisher`, which writes them in batches: while
one batch is being written the next ones gather, so a fast stream costs a round trip per batch, not per event. The
stream's end is written as a last row (`END_OF_STREAM`) so readers know it ended even when it ends without a terminal
event (a cancel). A reader (`follow_shared`) reads the rows after its position, sends them, and waits for the log's
notification, checking again every `RECHECK_SECONDS` in case one was missed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import structlog

from plano_proxy.storage import StorageUnavailable, Store
from plano_proxy.storage.base import TERMINAL_STATUSES
from plano_proxy.storage.notifications import Notifications
from plano_proxy.storage.shared_work import SharedWork
from plano_proxy.transformers.framers import RESPONSES_TERMINAL
from plano_proxy.transformers.sse import frame_named

log = structlog.get_logger("plano_proxy.scale_out")

END_OF_STREAM = "plano.stream_end"
"""The type of the log's last row: the stream has ended; never sent to a client."""
RECHECK_SECONDS = 1.0
RETRY_SECONDS = 0.5


class EventPublisher:
    """Writes one response's released events to the shared log, in order, without holding the stream up."""

    def __init__(self, work: SharedWork, response_id: str) -> None:
        self._work = work
        self._response_id = response_id
        self._pending: list[dict[str, Any]] = []
        self._writing: asyncio.Task[None] | None = None
        self._next_sequence = 0

    def publish(self, events: list[dict[str, Any]]) -> None:
        self._pending.extend(events)
        if events:
            self._next_sequence = events[-1]["sequence_number"] + 1
        if self._writing is None or self._writing.done():
            self._writing = asyncio.get_running_loop().create_task(self._write_pending())

    async def close(self) -> None:
        """Write the end of the stream and wait until everything is in the log (or the database is given up on)."""
        self.publish([{"type": END_OF_STREAM, "sequence_number": self._next_sequence}])
        if self._writing is not None:
            await self._writing

    async def _write_pending(self) -> None:
        failures = 0
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await self._work.append_events(self._response_id, batch)
                failures = 0
            except StorageUnavailable as exc:
                # Kept in order for the next try: a reader elsewhere must never see a gap.
                self._pending[:0] = batch
                failures += 1
                if failures > 20:
                    log.warning("event_log_given_up", response_id=self._response_id, error=str(exc))
                    return
                await asyncio.sleep(RETRY_SECONDS)


async def follow_shared(
    work: SharedWork, notifications: Notifications, store: Store, response_id: str, owner: str | None, after: int
) -> AsyncIterator[bytes]:
    """Framed events of the response above sequence number `after`, from the shared log, live, until its stream
    ends; also ends once the stored response has ended and its log has nothing more (its producer died before it
    could write the end, and the takeover found no log to end). While the database is away the reader waits for it,
    its client's stream held open."""
    with notifications.watching(response_id) as woken:
        idle_checks = 0
        while True:
            woken.clear()
            try:
                events = await work.events_after(response_id, after)
            except StorageUnavailable:
                await asyncio.sleep(RECHECK_SECONDS)
                continue
            for event in events:
                if event["type"] == END_OF_STREAM:
                    return
                yield frame_named(event)
                after = event["sequence_number"]
                if event["type"] in RESPONSES_TERMINAL:
                    return
            if not events:
                idle_checks += 1
                with contextlib.suppress(StorageUnavailable):
                    if idle_checks >= 2 and await _has_ended(store, response_id, owner):
                        return
            else:
                idle_checks = 0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), RECHECK_SECONDS)


async def _has_ended(store: Store, response_id: str, owner: str | None) -> bool:
    record = await store.get_response(response_id, owner)
    return record is None or record.status in TERMINAL_STATUSES
