"""Gateway processes sharing one PostgreSQL schema act as one: a stream produced on one is followed live on another,
a cancel on one stops the work on the other, and the work of an instance killed with ``kill -9`` is taken over."""

from __future__ import annotations

import asyncio
import http.client
import json
import secrets
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from mock_upstream import ABORTED
from pg_cluster import PgCluster, require_cluster
from storage_fixtures import POSTGRES_DSN, drop_schema, require_postgres
from support.gateway import gateway_config_text
from support.processes import GatewayProcess
from support.prometheus import metric
from support.servers import ServerThread

pytestmark = pytest.mark.postgres

LEASE = 2.0
"""Seconds of the instances' lease here: a takeover comes within a third more."""
PACED = "[[events:40]] [[delay:50]] count for me"
"""About 2 s of text deltas."""
STALLED = "[[fault:slow-first-byte:60000]] never answered in time"


class Instances:
    """Gateway processes on one fresh PostgreSQL schema, stopped (or killed) and the schema dropped at the end."""

    def __init__(self, tmp_path: Path, mock: ServerThread) -> None:
        asyncio.run(require_postgres())
        self.schema = f"plano_inst_{secrets.token_hex(6)}"
        self.config = tmp_path / "plano_config.yaml"
        storage = (
            f"state_storage: {{type: postgres, connection_string: '{POSTGRES_DSN}', schema: {self.schema}, "
            f"instance_lease: {LEASE}}}\n"
        )
        self.config.write_text(gateway_config_text(mock.url, storage, "listeners: [{shutdown_grace: 10s}]\n"))
        self.processes: list[GatewayProcess] = []

    def start(self) -> GatewayProcess:
        process = GatewayProcess(self.config)
        self.processes.append(process)
        return process

    def close(self) -> None:
        for process in self.processes:
            if process.process.poll() is None:
                process.kill()
        asyncio.run(drop_schema(self.schema))


@pytest.fixture
def instances(tmp_path: Path, mock_upstream: ServerThread) -> Iterator[Instances]:
    group = Instances(tmp_path, mock_upstream)
    try:
        yield group
    finally:
        group.close()


def client_of(gateway: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)


def wait_for(check, timeout: float) -> float:  # type: ignore[no-untyped-def]
    """Seconds until `check()` is true (polled every 50 ms); fails past `timeout`."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout, f"not within {timeout}s"
        time.sleep(0.05)
    return time.monotonic() - started


def test_a_stream_produced_on_one_instance_is_followed_live_on_another(instances: Instances) -> None:
    a, b = instances.start(), instances.start()
    stream = client_of(a).responses.create(model="claude-sonnet-4-5", input=PACED, background=True, stream=True)
    seen = []
    for event in stream:
        seen.append(event)
        if len(seen) == 7:
            break
    response_id = seen[0].response.id
    asked = time.monotonic()
    follower = client_of(b).responses.retrieve(response_id, stream=True, starting_after=seen[-1].sequence_number)
    rest = []
    for event in follower:
        if not rest:
            print(f"first live event on the other instance {1000 * (time.monotonic() - asked):.0f} ms after asking")
        rest.append(event)
    assert client_of(a).responses.retrieve(response_id).status == "completed"  # it was live: not finished when asked
    numbers = [event.sequence_number for event in [*seen, *rest]]
    assert numbers == list(range(len(numbers))), "no gap and no repeat"
    assert rest[-1].type == "response.completed"
    text = "".join(event.delta for event in [*seen, *rest] if event.type == "response.output_text.delta")
    assert text == " ".join(f"w{i}" for i in range(40))
    stream.close()


def test_a_follower_that_joins_from_the_start_gets_the_whole_stream(instances: Instances) -> None:
    a, b = instances.start(), instances.start()
    queued = client_of(a).responses.create(model="gpt-4o-mini", input=PACED, background=True, stream=True)
    first = next(iter(queued))
    whole = list(client_of(b).responses.retrieve(first.response.id, stream=True))
    assert [event.sequence_number for event in whole] == list(range(len(whole)))
    assert whole[0].type == "response.created" and whole[-1].type == "response.completed"
    queued.close()


def test_a_cancel_on_another_instance_stops_the_work_and_ends_the_stream(
    instances: Instances, mock_upstream: ServerThread
) -> None:
    a, b = instances.start(), instances.start()
    stream = client_of(a).responses.create(
        model="gpt-4o-mini", input="[[events:400]] [[delay:50]] long", background=True, stream=True
    )
    events = iter(stream)
    first = next(events)
    while next(events).type != "response.output_text.delta":
        pass
    aborted_before = len(mock_upstream.app[ABORTED])
    cancelled_at = time.monotonic()
    assert client_of(b).responses.cancel(first.response.id).status == "cancelled"
    remaining = list(events)
    ended = time.monotonic() - cancelled_at
    scrape = urllib.request.urlopen(f"{a.url}/metrics").read().decode()
    assert metric(scrape, "plano_instance_events_total", event="cancelled_elsewhere") == 1
    wait_for(lambda: len(mock_upstream.app[ABORTED]) > aborted_before, timeout=5)
    stopped = mock_upstream.app[ABORTED][-1] - cancelled_at
    print(f"cancel to the stream's end {1000 * ended:.0f} ms; the provider call was closed by then")
    assert ended < 1.0 and stopped < 1.0
    assert all(event.type not in ("response.completed", "response.failed") for event in remaining)
    assert any(event.type == "response.output_item.done" for event in remaining), "the open message is closed"
    time.sleep(0.3)
    stored = client_of(b).responses.retrieve(first.response.id)
    assert stored.status == "cancelled" and stored.output and stored.output[0].status == "incomplete"


def test_cancel_racing_completion_never_overwrites_an_end(instances: Instances) -> None:
    """Cancels sent from B, all at once, while A finishes answers due over a second: whichever end was stored
    first is the one every later read sees, and the cancel's answer said which."""
    a, b = instances.start(), instances.start()
    producer, canceller = client_of(a), client_of(b)
    ids = [
        producer.responses.create(
            model="gpt-4o-mini", input=f"[[fault:slow-first-byte:{40 * n}]] race {n}", background=True
        ).id
        for n in range(30)
    ]
    answered: dict[str, str] = {}

    def cancel(response_id: str) -> None:
        answered[response_id] = canceller.responses.cancel(response_id).status

    threads = [threading.Thread(target=cancel, args=(response_id,)) for response_id in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    time.sleep(1.5)  # every answer has come from the provider by now
    final = {response_id: producer.responses.retrieve(response_id).status for response_id in ids}
    assert final == answered
    counts = {status: list(final.values()).count(status) for status in ("cancelled", "completed")}
    print(f"race: {counts['cancelled']} cancelled, {counts['completed']} completed, none changed afterwards")
    assert counts["cancelled"] and counts["completed"] and sum(counts.values()) == len(ids)


def test_work_of_a_killed_instance_is_taken_over(instances: Instances) -> None:
    """kill -9 of A: its background response and the stream whose id its client had both end as failed on B."""
    a, b = instances.start(), instances.start()
    background = client_of(a).responses.create(model="gpt-4o-mini", input=STALLED, background=True)
    body = json.dumps({"model": "gpt-4o-mini", "input": "[[events:400]] [[delay:100]] slow", "stream": True}).encode()
    request = urllib.request.Request(f"{a.url}/v1/responses", data=body, headers={"Content-Type": "application/json"})
    opened = threading.Event()
    seen: dict[str, str] = {}

    def stream_on_a() -> None:
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                seen["created"] = response.readline().decode() + response.readline().decode()
                opened.set()
                response.read()
        except (OSError, http.client.HTTPException):
            pass  # the instance is killed mid-stream

    threading.Thread(target=stream_on_a, daemon=True).start()
    assert opened.wait(10)
    streamed_id = seen["created"].split('"id":"', 1)[1].split('"', 1)[0]
    time.sleep(0.3)  # the stream's lease is written without holding the stream up
    a.kill()
    killed = time.monotonic()
    on_b = client_of(b)
    took = wait_for(lambda: on_b.responses.retrieve(background.id).status == "failed", timeout=LEASE * 4 + 5)
    print(f"background response taken over {took:.2f} s after kill -9 (lease {LEASE:g} s)")
    wait_for(lambda: _status(on_b, streamed_id) == "failed", timeout=LEASE * 4 + 5)
    print(f"streamed response resolved {time.monotonic() - killed:.2f} s after kill -9")
    failed = on_b.responses.retrieve(background.id)
    assert failed.error is not None and "instance producing this response stopped" in failed.error.message
    streamed = on_b.responses.retrieve(streamed_id)
    assert streamed.error is not None and streamed.output == []
    scrape = urllib.request.urlopen(f"{b.url}/metrics").read().decode()
    assert metric(scrape, "plano_instance_events_total", event="taken_over") == 2


def _status(client: openai.OpenAI, response_id: str) -> str | None:
    try:
        return client.responses.retrieve(response_id).status
    except openai.NotFoundError:
        return None


def test_a_follower_of_a_killed_instances_stream_ends_with_the_failure(instances: Instances) -> None:
    a, b = instances.start(), instances.start()
    stream = client_of(a).responses.create(
        model="gpt-4o-mini", input="[[events:400]] [[delay:100]] slow", background=True, stream=True
    )
    first = next(iter(stream))
    followed: list[str] = []

    def follow() -> None:
        for event in client_of(b).responses.retrieve(first.response.id, stream=True, starting_after=0):
            followed.append(event.type)

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    time.sleep(0.5)
    a.kill()
    follower.join(LEASE * 4 + 5)
    assert not follower.is_alive()
    assert followed and followed[-1] == "response.failed"


def test_sigterm_lets_background_work_finish(instances: Instances) -> None:
    a, b = instances.start(), instances.start()
    queued = client_of(a).responses.create(
        model="gpt-4o-mini", input="[[fault:slow-first-byte:1500]] finish me", background=True
    )
    time.sleep(0.3)
    assert a.stop() == 0
    assert client_of(b).responses.retrieve(queued.id).status == "completed"


def test_after_a_database_restart_cancels_and_live_events_still_cross_instances(
    tmp_path: Path, mock_upstream: ServerThread
) -> None:
    """The connection that LISTENs is lost with the restart and comes back by itself: a cancel on B still stops A's
    stream within a second, and B still follows A's stream live."""
    require_cluster()
    cluster = PgCluster()
    try:
        cluster.start()
        config = tmp_path / "plano_config.yaml"
        # A long lease: the heartbeat's own look for missed cancels comes every 10 s, so only a notification
        # received on the reconnected LISTEN connection can stop the stream within a second.
        storage = f"state_storage: {{type: postgres, connection_string: '{cluster.dsn}', instance_lease: 30}}\n"
        config.write_text(gateway_config_text(mock_upstream.url, storage))
        a, b = GatewayProcess(config), GatewayProcess(config)
        try:
            cluster.stop("fast")
            cluster.start()
            wait_for(lambda: _turn_stored(a) and _turn_stored(b), timeout=15)
            time.sleep(1.5)  # the LISTEN connections reconnect on their own (every 0.5 s)
            stream = client_of(a).responses.create(
                model="gpt-4o-mini", input="[[events:400]] [[delay:50]] long", background=True, stream=True
            )
            events = iter(stream)
            response_id = next(events).response.id
            followed = client_of(b).responses.retrieve(response_id, stream=True, starting_after=0)
            assert next(iter(followed)).sequence_number == 1
            asked = time.monotonic()
            assert client_of(b).responses.cancel(response_id).status == "cancelled"
            remaining = [event.type for event in events]
            assert time.monotonic() - asked < 1.0 and "response.completed" not in remaining
            followed.close()
        finally:
            a.stop()
            b.stop()
    finally:
        cluster.destroy()


def _turn_stored(gateway: GatewayProcess) -> bool:
    try:
        client_of(gateway).responses.create(model="gpt-4o-mini", input="after the restart")
        return True
    except openai.APIStatusError:
        return False
