"""What instances sharing PostgreSQL coordinate through, on a real schema: leases and takeover, the live event log."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest
from storage_fixtures import POSTGRES_DSN, drop_schema, require_postgres

from plano_proxy.storage import StoredResponse, StoredTurn, open_store
from plano_proxy.storage.postgres import PostgresStore
from plano_proxy.storage.shared_work import Lease, SharedWork, stub_of

pytestmark = pytest.mark.postgres

ERROR = {"code": "server_error", "message": "lost"}


@pytest.fixture
async def store() -> AsyncIterator[PostgresStore]:
    await require_postgres()
    schema = f"plano_work_{secrets.token_hex(6)}"
    opened = await open_store("postgres", connection_string=POSTGRES_DSN, schema=schema)
    assert isinstance(opened, PostgresStore)
    try:
        yield opened
    finally:
        await opened.close()
        await drop_schema(schema)


def instance(store: PostgresStore, name: str, lease_ms: int = 60_000) -> SharedWork:
    return SharedWork(store.executor, name, lease_ms=lease_ms)


def queued(response_id: str) -> StoredTurn:
    return StoredTurn(StoredResponse(response_id, None, 1, "queued", "gpt-4o-mini"), [], [])


async def test_the_work_of_an_instance_whose_lease_passed_is_taken_over_once(store: PostgresStore) -> None:
    """Several instances sweeping at once: each lost response is ended by exactly one of them."""
    lost = instance(store, "gw_lost", lease_ms=1)
    await lost.heartbeat([], "host", 1)
    await lost.hold([Lease(f"resp_{n}", None) for n in range(20)])
    await store.save_turns([queued(f"resp_{n}") for n in range(20)])
    await asyncio.sleep(0.01)
    sweepers = [instance(store, f"gw_{n}") for n in range(4)]
    taken = await asyncio.gather(*(sweeper.take_over(ERROR, 2) for sweeper in sweepers))
    ids = sorted(t.response_id for batch in taken for t in batch)
    assert ids == sorted(f"resp_{n}" for n in range(20))
    stored = await store.get_response("resp_3", None)
    assert stored is not None and (stored.status, stored.error, stored.completed_at) == ("failed", ERROR, 2)
    assert [await sweeper.take_over(ERROR, 3) for sweeper in sweepers] == [[], [], [], []]


async def test_a_live_instance_keeps_its_work(store: PostgresStore) -> None:
    alive = instance(store, "gw_alive")
    await alive.heartbeat(["resp_a"], "host", 1)
    await alive.hold([Lease("resp_a", None)])
    await store.save_turns([queued("resp_a")])
    assert await instance(store, "gw_other").take_over(ERROR, 2) == []
    stored = await store.get_response("resp_a", None)
    assert stored is not None and stored.status == "queued"


async def test_a_heartbeat_drops_the_leases_of_what_ended(store: PostgresStore) -> None:
    """A lease on a response that is no longer produced is dropped by the next heartbeat, so a later death of the
    instance takes over only what was still running."""
    mine = instance(store, "gw_mine", lease_ms=1)
    await mine.hold([Lease("resp_done", None), Lease("resp_running", None)])
    await store.save_turns([queued("resp_done"), queued("resp_running")])
    await mine.heartbeat(["resp_running"], "host", 1)
    await asyncio.sleep(0.01)
    taken = await instance(store, "gw_other").take_over(ERROR, 2)
    assert [t.response_id for t in taken] == ["resp_running"]


async def test_a_stream_stored_only_at_its_end_is_recorded_as_failed_unless_it_ended(store: PostgresStore) -> None:
    lost = instance(store, "gw_lost", lease_ms=1)
    cut = StoredResponse("resp_cut", "team", 5, "in_progress", "claude", provider="anthropic/claude", request={"x": 1})
    done = StoredResponse("resp_done", "team", 5, "in_progress", "claude")
    await lost.heartbeat([], "host", 1)
    await lost.hold([Lease("resp_cut", "team", stub_of(cut)), Lease("resp_done", "team", stub_of(done))])
    await store.save_turns([StoredTurn(StoredResponse("resp_done", "team", 5, "completed", "claude"), [], [])])
    await asyncio.sleep(0.01)
    taken = {t.response_id: t.failed for t in await instance(store, "gw_other").take_over(ERROR, 9)}
    assert taken == {"resp_cut": True, "resp_done": False}
    failed = await store.get_response("resp_cut", "team")
    assert failed is not None
    assert (failed.status, failed.error, failed.provider, failed.request, failed.output) == (
        "failed",
        ERROR,
        "anthropic/claude",
        {"x": 1},
        [],
    )
    kept = await store.get_response("resp_done", "team")
    assert kept is not None and kept.status == "completed"


async def test_the_event_log_reads_after_a_position_ends_and_is_pruned(store: PostgresStore) -> None:
    work = instance(store, "gw_1")
    events = [{"type": "response.output_text.delta", "sequence_number": n, "delta": f"w{n}"} for n in range(5)]
    await work.append_events("resp_s", events[:3])
    await work.append_events("resp_s", events[3:])
    assert await work.events_after("resp_s", 1) == events[2:]
    await work.append_end("resp_s", lambda sequence: {"type": "response.failed", "sequence_number": sequence})
    assert (await work.events_after("resp_s", 4)) == [{"type": "response.failed", "sequence_number": 5}]
    await work.append_end("resp_none", lambda sequence: {"type": "x", "sequence_number": sequence})
    assert await work.events_after("resp_none", -1) == []  # no log, so no end written
    assert await work.prune_events(60_000) == 0
    await asyncio.sleep(0.01)
    assert await work.prune_events(1) == 6
