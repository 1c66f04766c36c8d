"""The background writer: acknowledged means committed, group commit, retries while the database is away, failing
fast once it is known to be down, drain."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Sequence
from typing import Any

import asyncpg
import pytest
from pg_cluster import PgCluster, require_cluster
from storage_fixtures import POSTGRES_DSN, Stores

from plano_proxy.storage import StorageUnavailable, Store, StoredResponse, StoredTurn
from plano_proxy.storage.postgres import PostgresStore
from plano_proxy.storage.writer import BackgroundWriter


def turn(n: int, previous: str | None = None) -> StoredTurn:
    question = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": f"q{n}"}]}
    answer = {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": f"a{n}", "annotations": []}],
    }
    return StoredTurn(
        StoredResponse(f"resp_{n}", None, 1, "completed", "m", previous_response_id=previous), [question], [answer]
    )


def record_batches(store: Store, fail_first: int = 0, refuse: str | None = None, slow_first: float = 0.0) -> list[int]:
    """Wraps the store's save_turns: records each attempted batch size, fails the first attempts as unavailable,
    refuses (ValueError) any batch holding the response id ``refuse``, and takes ``slow_first`` seconds longer over
    the first batch."""
    sizes: list[int] = []
    save = store.save_turns

    async def save_turns(turns: Sequence[StoredTurn]) -> None:
        sizes.append(len(turns))
        if len(sizes) == 1:
            await asyncio.sleep(slow_first)
        if len(sizes) <= fail_first:
            raise StorageUnavailable("database away")
        if refuse is not None and any(t.response.id == refuse for t in turns):
            raise ValueError("refused")
        await save(turns)

    store.save_turns = save_turns  # type: ignore[method-assign]
    return sizes


async def test_concurrent_submits_share_commits_and_return_once_durable(stores: Stores) -> None:
    """200 turns submitted at once are all readable when their submit returns, in far fewer than 200 commits."""
    store = await stores.open()
    sizes = record_batches(store)
    writer = BackgroundWriter(store, max_batch=64)
    await writer.start()

    async def submit_and_read(n: int) -> bool:
        await writer.submit(turn(n))
        return await store.get_response(f"resp_{n}", None) is not None

    assert all(await asyncio.gather(*(submit_and_read(n) for n in range(200))))
    await writer.stop()
    assert writer.committed_turns == 200 == sum(sizes)
    assert writer.commits == len(sizes) <= 200 // 64 + 2
    assert max(sizes) == 64


async def test_turns_arriving_during_a_commit_wait_for_more_to_share_the_next(stores: Stores) -> None:
    """Turns that came in while a batch was committed wait ``busy_delay`` before theirs, and the turns arriving
    meanwhile join them; one at a time, a turn never waits (a 60 s delay would show)."""
    store = await stores.open()
    sizes = record_batches(store, slow_first=0.05)
    writer = BackgroundWriter(store, busy_delay=0.3)
    await writer.start()
    submits = [asyncio.ensure_future(writer.submit(turn(0)))]
    await asyncio.sleep(0.01)  # the first batch is being committed (for 50 ms)
    for n in range(1, 10):
        submits.append(asyncio.ensure_future(writer.submit(turn(n))))
        await asyncio.sleep(0.01)
    await asyncio.gather(*submits)
    assert sizes == [1, 9]
    sequential = BackgroundWriter(store, busy_delay=60)
    await sequential.start()
    for n in range(10, 15):
        await asyncio.wait_for(sequential.submit(turn(n)), 10)
    await sequential.stop()
    await writer.stop()


async def test_stop_drains_everything_queued(stores: Stores) -> None:
    """Turns queued before stop() are all committed before it returns; later submits are refused."""
    store = await stores.open()
    writer = BackgroundWriter(store)
    await writer.start()
    tasks = [asyncio.create_task(writer.submit(turn(n))) for n in range(50)]
    await asyncio.sleep(0)
    await writer.stop()
    for n in range(50):
        assert await store.get_response(f"resp_{n}", None) is not None
    assert await asyncio.gather(*tasks) == [None] * 50
    with pytest.raises(StorageUnavailable):
        await writer.submit(turn(99))


async def test_retries_while_the_database_is_away() -> None:
    """A batch failing with StorageUnavailable is retried with backoff until it commits."""
    from plano_proxy.storage.memory import MemoryStore

    store = MemoryStore()
    sizes = record_batches(store, fail_first=3)
    writer = BackgroundWriter(store, retry_initial=0.01)
    await writer.start()
    await writer.submit(turn(1))
    await writer.stop()
    assert len(sizes) == 4
    assert await store.get_response("resp_1", None) is not None


async def test_gives_up_with_storage_unavailable_after_the_deadline() -> None:
    """A turn that cannot be committed in time fails its waiter with a clear StorageUnavailable."""
    from plano_proxy.storage.memory import MemoryStore

    store = MemoryStore()
    record_batches(store, fail_first=10**9)
    writer = BackgroundWriter(store, retry_initial=0.01, retry_max=0.02, unavailable_after=0.2)
    await writer.start()
    started = time.monotonic()
    with pytest.raises(StorageUnavailable, match=r"within 0.2s: database away"):
        await writer.submit(turn(1))
    assert 0.2 <= time.monotonic() - started < 2
    await writer.stop()


async def test_one_refused_turn_fails_alone() -> None:
    """A batch refused for a non-transient reason is retried turn by turn; only the bad turn's waiter fails."""
    from plano_proxy.storage.memory import MemoryStore

    store = MemoryStore()
    record_batches(store, refuse="resp_3")
    writer = BackgroundWriter(store)
    await writer.start()
    results = await asyncio.gather(*(writer.submit(turn(n)) for n in range(6)), return_exceptions=True)
    await writer.stop()
    assert [type(result).__name__ for result in results] == ["NoneType"] * 3 + ["ValueError"] + ["NoneType"] * 2
    assert await store.get_response("resp_3", None) is None
    assert await store.get_response("resp_5", None) is not None


async def test_a_waiter_that_goes_away_still_gets_its_turn_stored() -> None:
    """Cancelling submit (a client disconnect) does not drop the queued turn."""
    from plano_proxy.storage.memory import MemoryStore

    store = MemoryStore()
    writer = BackgroundWriter(store)
    await writer.start()
    task = asyncio.create_task(writer.submit(turn(1)))
    await asyncio.sleep(0)
    task.cancel()
    await writer.stop()
    assert await store.get_response("resp_1", None) is not None


@pytest.mark.postgres
async def test_survives_postgres_dropping_its_connections(pg_schema: str) -> None:
    """Connections killed by the server (as in a failover) are replaced and the turn still commits."""
    name = f"plano-test-{pg_schema}"
    store = await PostgresStore.open(POSTGRES_DSN, schema=pg_schema, application_name=name, min_size=2)
    writer = BackgroundWriter(store, retry_initial=0.01)
    await writer.start()
    await writer.submit(turn(1))
    admin = await asyncpg.connect(POSTGRES_DSN)
    try:
        killed = await admin.fetchval(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", name
        )
    finally:
        await admin.close()
    assert killed >= 1
    await writer.submit(turn(2, previous="resp_1"))
    await writer.stop()
    history: Any = await store.history("resp_2", None)
    assert [item["content"][0]["text"] for item in history] == ["q1", "a1", "q2", "a2"]
    await store.close()


@pytest.fixture
def cluster() -> Iterator[PgCluster]:
    """A private PostgreSQL cluster the test may stop and start."""
    require_cluster()
    cluster = PgCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.mark.postgres
async def test_turns_fail_at_once_while_postgres_is_known_down(cluster: PgCluster) -> None:
    """With the server stopped, the turn that finds it away fails after the short grace, later turns at once (not
    after the 30 s deadline), and once it is back the same writer and store commit again by themselves."""
    store = await PostgresStore.open(cluster.dsn)
    writer = BackgroundWriter(store, unavailable_after=30)
    await writer.start()
    try:
        await writer.submit(turn(1))
        await asyncio.to_thread(cluster.stop, "fast")

        started = time.monotonic()
        with pytest.raises(StorageUnavailable):
            await writer.submit(turn(2))
        assert time.monotonic() - started < 1
        assert not store.available

        started = time.monotonic()
        results = await asyncio.gather(*(writer.submit(turn(n)) for n in range(3, 23)), return_exceptions=True)
        assert time.monotonic() - started < 0.2
        assert all(isinstance(result, StorageUnavailable) for result in results), results
        assert "unreachable" in str(results[0])

        await asyncio.to_thread(cluster.start)
        deadline = time.monotonic() + 5
        while not store.available and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert store.available
        await writer.submit(turn(30, previous="resp_1"))
        history: Any = await store.history("resp_30", None)
        assert [item["content"][0]["text"] for item in history] == ["q1", "a1", "q30", "a30"]
        assert await store.get_response("resp_2", None) is None  # failed, so never acknowledged, and not stored
    finally:
        await writer.stop()
        await store.close()


@pytest.mark.postgres
async def test_closing_a_store_stops_its_probe(cluster: PgCluster) -> None:
    """A store closed while its database is away leaves no probe running behind it."""
    store = await PostgresStore.open(cluster.dsn)
    await asyncio.to_thread(cluster.stop, "fast")
    with pytest.raises(StorageUnavailable):
        await store.ping()
    probes = [task for task in asyncio.all_tasks() if task.get_name() == "plano-storage-probe"]
    assert len(probes) == 1 and not store.available
    await store.close()
    assert probes[0].done()
