"""What gateway instances sharing one PostgreSQL coordinate through: who is producing which unfinished response, and
the events of streamed background responses as they are released.

- **Instances and leases.** Each instance renews its own row in ``instances`` (a heartbeat) with a time until which
  its work is its own (``lease_until``, on the database's clock, so the instances' clocks do not matter). Each
  unfinished response it produces has a row in ``leases`` naming it. When an instance's time has passed, any other
  instance takes its leases over (`take_over`): it claims them (``FOR UPDATE SKIP LOCKED``, so two instances never take
  the same one) and ends each response as ``failed``, in the same transaction.
- **The live event log.** ``response_events`` holds a streamed background response's events, one row each, written
  in batches as they are released; every batch ends with a ``NOTIFY`` (delivered at commit) on `EVENTS_CHANNEL`, so
  readers on any instance wake at once (`plano_proxy.storage.notifications`). Rows are removed a while after their
  stream's last event (`prune_events`); the stored response keeps the whole stream for replay after that.
- **Cancels.** A cancel stores ``cancelled`` and announces it on `CANCEL_CHANNEL`, so the instance producing the
  response stops it at once.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from plano_proxy.storage.base import StoredResponse
from plano_proxy.storage.postgres import POSTGRES, PostgresExecutor
from plano_proxy.storage.sql_common import response_values
from plano_proxy.storage.sql_executor import Program, execute, executemany, fetch, fetchval

EVENTS_CHANNEL = "plano_response_events"
"""Its payload is the id of the response whose log grew."""
CANCEL_CHANNEL = "plano_response_cancel"
"""Its payload is the id of the response cancelled."""

_NOW_MS = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT"

_HEARTBEAT = (
    "INSERT INTO instances (id, lease_until, host, pid) VALUES ($1, " + _NOW_MS + " + $2, $3, $4) "
    "ON CONFLICT (id) DO UPDATE SET lease_until = excluded.lease_until"
)
# The rows of responses this instance no longer produces (their end is stored, or their stream went away).
_RELEASE_FINISHED = "DELETE FROM leases WHERE instance_id = $1 AND NOT (response_id = ANY($2::text[]))"
_HOLD = (
    "INSERT INTO leases (response_id, instance_id, owner, stub) VALUES ($1, $2, $3, $4) "
    "ON CONFLICT (response_id) DO UPDATE SET instance_id = excluded.instance_id, stub = excluded.stub"
)
_CLAIM_LOST = (
    "DELETE FROM leases WHERE response_id IN ("
    "SELECT l.response_id FROM leases AS l LEFT JOIN instances AS i ON i.id = l.instance_id "
    "WHERE l.instance_id <> $1 AND (i.id IS NULL OR i.lease_until < " + _NOW_MS + ") "
    "FOR UPDATE OF l SKIP LOCKED) RETURNING response_id, owner, stub"
)
_FAIL_UNFINISHED = (
    "UPDATE responses SET status = 'failed', error = $2, completed_at = $3 "
    "WHERE id = $1 AND status IN ('queued', 'in_progress')"
)
_FORGET_LOST_INSTANCES = "DELETE FROM instances WHERE lease_until < " + _NOW_MS + " - $1"
_APPEND_EVENT = (
    "INSERT INTO response_events (response_id, sequence, body, written_at) VALUES ($1, $2, $3, " + _NOW_MS + ")"
)
_EVENTS_AFTER = "SELECT body FROM response_events WHERE response_id = $1 AND sequence > $2 ORDER BY sequence"
_LAST_SEQUENCE = "SELECT MAX(sequence) FROM response_events WHERE response_id = $1"
_PRUNE_EVENTS = (
    "DELETE FROM response_events WHERE response_id IN ("
    "SELECT response_id FROM response_events GROUP BY response_id HAVING MAX(written_at) < " + _NOW_MS + " - $1)"
)
_CANCELLED_AMONG = "SELECT id FROM responses WHERE id = ANY($1::text[]) AND status = 'cancelled'"


@dataclass(frozen=True, slots=True)
class Lease:
    """An unfinished response this instance produces. `stub` is set for one that has no stored row until it ends
    (a foreground stream): what recording it as failed needs (see `stub_of`)."""

    response_id: str
    owner: str | None
    stub: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class TakenOver:
    response_id: str
    owner: str | None
    failed: bool
    """Whether this takeover ended it; False when its end was stored already (it finished, or was cancelled)."""


def stub_of(record: StoredResponse) -> dict[str, Any]:
    """What a lease keeps of a response stored only at its end, to record it as failed if its instance dies."""
    return {
        "created_at": record.created_at,
        "model": record.model,
        "provider": record.provider,
        "previous_response_id": record.previous_response_id,
        "conversation_id": record.conversation_id,
        "request": record.request,
    }


class SharedWork:
    """One instance's side of the coordination, on the store's own connection pool."""

    def __init__(self, executor: PostgresExecutor, instance_id: str, *, lease_ms: int) -> None:
        self._db = executor
        self.instance_id = instance_id
        self.lease_ms = lease_ms

    async def heartbeat(self, producing: Collection[str], host: str, pid: int) -> None:
        """Renew this instance's lease, and drop its leases on responses it no longer produces."""
        await self._db.write(self._heartbeat(list(producing), host, pid))

    def _heartbeat(self, producing: list[str], host: str, pid: int) -> Program[None]:
        yield from execute(_HEARTBEAT, self.instance_id, self.lease_ms, host, pid)
        yield from execute(_RELEASE_FINISHED, self.instance_id, producing)

    async def hold(self, leases: Sequence[Lease]) -> None:
        rows = [
            (lease.response_id, self.instance_id, lease.owner, None if lease.stub is None else _dumps(lease.stub))
            for lease in leases
        ]
        await self._db.write(executemany(_HOLD, rows))

    async def take_over(self, error: dict[str, Any], now: int) -> list[TakenOver]:
        """End every response whose instance's lease has passed as ``failed`` with `error` (unless its end is stored
        already), in one transaction; `now` is its ``completed_at``."""
        return await self._db.write(self._take_over(error, now))

    def _take_over(self, error: dict[str, Any], now: int) -> Program[list[TakenOver]]:
        taken = []
        for row in (yield from fetch(_CLAIM_LOST, self.instance_id)):
            response_id, owner, stub = row["response_id"], row["owner"], row["stub"]
            if stub is None:
                ended = yield from execute(_FAIL_UNFINISHED, response_id, _dumps(error), now)
            else:
                record = StoredResponse(
                    response_id, owner, status="failed", error=error, completed_at=now, **orjson.loads(stub)
                )
                ended = (yield from fetchval(POSTGRES.upsert_response, *response_values(record))) is not None
            taken.append(TakenOver(response_id, owner, bool(ended)))
        yield from execute(_FORGET_LOST_INSTANCES, self.lease_ms * 10)
        return taken

    async def cancelled_among(self, response_ids: Collection[str]) -> list[str]:
        """Which of these responses are stored as cancelled (a cancel whose announcement was missed)."""
        rows = await self._db.read(fetch(_CANCELLED_AMONG, list(response_ids)))
        return [row["id"] for row in rows]

    async def announce_cancel(self, response_id: str) -> None:
        await self._db.write(execute("SELECT pg_notify($1, $2)", CANCEL_CHANNEL, response_id))

    async def append_events(self, response_id: str, events: Sequence[dict[str, Any]]) -> None:
        """Add released events to the response's log (each carries its ``sequence_number``) and wake its readers."""
        await self._db.write(self._append(response_id, events))

    def _append(self, response_id: str, events: Sequence[dict[str, Any]]) -> Program[None]:
        rows = [(response_id, event["sequence_number"], _dumps(event)) for event in events]
        yield from executemany(_APPEND_EVENT, rows)
        yield from execute("SELECT pg_notify($1, $2)", EVENTS_CHANNEL, response_id)

    async def append_end(self, response_id: str, make_event: Callable[[int], dict[str, Any]]) -> None:
        """Add a last event to a log that has events (`make_event(sequence_number)` gives it) and wake its readers;
        a response without a log is left alone."""
        await self._db.write(self._append_end(response_id, make_event))

    def _append_end(self, response_id: str, make_event: Callable[[int], dict[str, Any]]) -> Program[None]:
        last = yield from fetchval(_LAST_SEQUENCE, response_id)
        if last is not None:
            yield from self._append(response_id, [make_event(last + 1)])

    async def events_after(self, response_id: str, after: int) -> list[dict[str, Any]]:
        rows = await self._db.read(fetch(_EVENTS_AFTER, response_id, after))
        return [orjson.loads(row["body"]) for row in rows]

    async def prune_events(self, idle_ms: int) -> int:
        """Remove the logs whose last event is older than `idle_ms`; returns the rows removed."""
        return await self._db.write(execute(_PRUNE_EVENTS, idle_ms))

    async def leave(self) -> None:
        """On a clean stop, once this instance's work has ended: its row and leases go."""
        await self._db.write(self._leave())

    def _leave(self) -> Program[None]:
        yield from execute("DELETE FROM leases WHERE instance_id = $1", self.instance_id)
        yield from execute("DELETE FROM instances WHERE id = $1", self.instance_id)


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()
