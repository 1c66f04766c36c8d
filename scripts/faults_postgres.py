"""The PostgreSQL phases of `faults.py`.

- **Network cut**: the TCP path to the shared server is cut and restored under a gateway (`phase_network_cut`).
- **Several instances**: two gateway processes on one private PostgreSQL cluster (`phase_instances`), timed. Each
  scenario is timed from the moment its cause happens to the outcome a client sees:

- the first live event on B of a stream A produces (asked for with ``starting_after``);
- a cancel sent to B until A's client stream ends;
- ``kill -9`` of A until B reports A's background response as failed (taken over);
- ``pg_ctl stop -m fast`` of the cluster until a stored turn on B gets its 503 (the first and a later one);
- ``pg_ctl start`` until a stored turn on B succeeds again.

  Turns acknowledged on either instance all along are read back at the end: none may be missing.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from pg_cluster import PgCluster, missing

LEASE = 3.0
"""The instances' lease here (seconds): a takeover comes within a third more."""


def phase_instances(
    tally: Any,
    start_gateway: Callable[[str], Any],
    post: Callable[..., tuple[int, bytes]],
    get: Callable[[str], tuple[int, bytes]],
) -> None:
    problem = missing()
    if problem is not None:
        tally.notes.append(f"several instances: skipped ({problem})")
        return
    cluster = PgCluster()
    acknowledged: list[str] = []
    try:
        cluster.start()
        storage = (
            f"state_storage: {{type: postgres, connection_string: '{cluster.dsn}', instance_lease: {LEASE}}}\n"
            "listeners: [{shutdown_grace: 5s}]\n"
        )
        a, b = start_gateway(storage), start_gateway(storage)
        load = _ChainedLoad(post, [a.url, b.url])
        try:
            tally.timings.append(("first live event on another instance", _live_follow(a.url, b.url)))
            tally.timings.append(("cancel on another instance to the end of the stream", _cancel(post, a.url, b.url)))
            tally.timings.append((f"takeover after kill -9 (lease {LEASE:g} s)", _takeover(post, get, a, b)))
            acknowledged += _turns(post, b.url, 5)
            cluster.stop("fast")
            tally.timings.append(("503 during the outage (5 stored turns)", _outage(post, b.url)))
            cluster.start()
            recovered = _until(lambda: _turn(post, b.url, "after the restart") is not None, timeout=30)
            tally.timings.append(("recovery after the restart (from pg_ctl start)", recovered))
            acknowledged += _turns(post, b.url, 5)
            acknowledged += load.stop()
            lost = [rid for rid in acknowledged if get(f"{b.url}/v1/responses/{rid}")[0] != 200]
        finally:
            load.stop()
            for gateway in (a, b):
                if gateway.process.poll() is None:
                    gateway.stop()
    finally:
        cluster.destroy()
    tally.faults += 3
    tally.sent += load.sent
    tally.acknowledged += len(acknowledged)
    tally.lost += len(lost)
    tally.notes.append(
        f"several instances: {len(acknowledged)} acknowledged turns (chains alternating between the instances, all "
        f"through the kill and the restart), {len(lost)} missing at the end"
    )


class _ChainedLoad:
    """Clients holding conversations whose turns alternate between the instances, all along the phase; what was
    acknowledged is read back at the end. A turn refused (the instance killed, the database away) is not
    acknowledged, and its chain goes on from its last acknowledged turn."""

    def __init__(self, post: Callable[..., tuple[int, bytes]], urls: list[str], clients: int = 4) -> None:
        self._post = post
        self._urls = urls
        self._stop = threading.Event()
        self._acknowledged: list[str] = []
        self.sent = 0
        self._threads = [threading.Thread(target=self._chain, args=(n,), daemon=True) for n in range(clients)]
        for thread in self._threads:
            thread.start()

    def _chain(self, client: int) -> None:
        previous, turn = None, 0
        while not self._stop.is_set():
            url = self._urls[(client + turn) % len(self._urls)]
            body = {"model": "gpt-4o-mini", "input": f"client {client} turn {turn}", "previous_response_id": previous}
            turn += 1
            self.sent += 1
            try:
                status, raw = self._post(f"{url}/v1/responses", body, timeout=10)
            except OSError:
                time.sleep(0.05)
                continue
            if status == 200:
                previous = json.loads(raw)["id"]
                self._acknowledged.append(previous)
            else:
                time.sleep(0.05)

    def stop(self) -> list[str]:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)
        acknowledged, self._acknowledged = self._acknowledged, []
        return acknowledged


class Forwarder:
    """A TCP path to PostgreSQL that can be cut (the network between the gateway and its database) and restored."""

    def __init__(self, target_port: int) -> None:
        self.target = target_port
        self.port = _free_port()
        self.loop = asyncio.new_event_loop()
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []
        import threading

        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.open()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        self.writers += [writer, up_writer]

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except ConnectionError:
                pass
            finally:
                sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def open(self) -> None:
        async def start() -> None:
            self.server = await asyncio.start_server(self._relay, "127.0.0.1", self.port, reuse_address=True)

        asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)

    def cut(self) -> None:
        async def close() -> None:
            assert self.server is not None
            self.server.close()
            for writer in self.writers:
                writer.close()
            self.writers.clear()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)


def phase_network_cut(
    dsn: str,
    tally: Any,
    start_gateway: Callable[[str], Any],
    post: Callable[..., tuple[int, bytes]],
    get: Callable[[str], tuple[int, bytes]],
) -> None:
    """PostgreSQL unreachable for 20 requests (its TCP path cut, then restored): 503s, then recovery by itself."""
    from urllib.parse import urlsplit

    forwarder = Forwarder(urlsplit(dsn).port or 5432)
    schema = f"plano_faults_{secrets.token_hex(4)}"
    routed = dsn.replace(f":{urlsplit(dsn).port or 5432}/", f":{forwarder.port}/")
    gateway = start_gateway(f"state_storage: {{type: postgres, connection_string: '{routed}', schema: {schema}}}\n")
    acknowledged: list[str] = []
    previous = None
    during: list[int] = []
    for step in range(60):
        if step == 20:
            forwarder.cut()
            tally.faults += 1
        if step == 40:
            forwarder.open()
            ready = _until(lambda: get(f"{gateway.url}/readyz")[0] == 200, timeout=10)
            recovery = f"ready again {ready} after the path was restored"
        tally.sent += 1
        chained = {"model": "gpt-4o-mini", "input": f"pg step {step}", "previous_response_id": previous}
        status, raw = post(f"{gateway.url}/v1/responses", chained)
        if 20 <= step < 40:
            during.append(status)
        if status == 200:
            previous = json.loads(raw)["id"]
            acknowledged.append(previous)
    lost = [rid for rid in acknowledged if get(f"{gateway.url}/v1/responses/{rid}")[0] != 200]
    tally.acknowledged += len(acknowledged)
    tally.lost += len(lost)
    statuses = {status: during.count(status) for status in sorted(set(during))}
    after = len(acknowledged) - 20
    tally.notes.append(
        f"PostgreSQL cut for 20 requests: statuses {statuses}; {recovery}; {after} of 20 after it acknowledged"
    )
    gateway.stop()
    asyncio.run(_drop_schema(dsn, schema))


async def _drop_schema(dsn: str, schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    await conn.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _turn(post: Callable[..., tuple[int, bytes]], url: str, text: str) -> str | None:
    status, raw = post(f"{url}/v1/responses", {"model": "gpt-4o-mini", "input": text}, timeout=10)
    return json.loads(raw)["id"] if status == 200 else None


def _turns(post: Callable[..., tuple[int, bytes]], url: str, count: int) -> list[str]:
    ids = [_turn(post, url, f"turn {n}") for n in range(count)]
    return [rid for rid in ids if rid is not None]


def _events(url: str, body: dict[str, Any] | None = None) -> Any:
    """The SSE events of a POST (with `body`) or GET, parsed, as they arrive."""
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        for line in response:
            if line.startswith(b"data: "):
                yield json.loads(line[6:])


def _live_follow(a: str, b: str) -> str:
    body = {"model": "gpt-4o-mini", "input": "[[events:60]] [[delay:50]] count", "background": True, "stream": True}
    on_a = _events(f"{a}/v1/responses", body)
    seen = [next(on_a) for _ in range(6)]
    asked = time.monotonic()
    on_b = _events(f"{b}/v1/responses/{seen[0]['response']['id']}?stream=true&starting_after=5")
    first = next(on_b)
    took = time.monotonic() - asked
    rest = [first, *on_b]
    numbers = [event["sequence_number"] for event in [*seen, *rest]]
    whole = numbers == list(range(len(numbers))) and rest[-1]["type"] == "response.completed"
    return f"{1000 * took:.0f} ms (then {len(rest)} events, no gap or repeat: {whole})"


def _cancel(post: Callable[..., tuple[int, bytes]], a: str, b: str) -> str:
    body = {"model": "gpt-4o-mini", "input": "[[events:400]] [[delay:50]] long", "background": True, "stream": True}
    on_a = _events(f"{a}/v1/responses", body)
    response_id = next(on_a)["response"]["id"]
    while next(on_a)["type"] != "response.output_text.delta":
        pass
    asked = time.monotonic()
    status, _ = post(f"{b}/v1/responses/{response_id}/cancel", {})
    remaining = [event["type"] for event in on_a]
    took = time.monotonic() - asked
    clean = status == 200 and "response.completed" not in remaining
    return f"{1000 * took:.0f} ms (stream ended without completing: {clean})"


def _takeover(post: Callable[..., tuple[int, bytes]], get: Callable[[str], tuple[int, bytes]], a: Any, b: Any) -> str:
    body = {"model": "gpt-4o-mini", "input": "[[fault:slow-first-byte:60000]] stalled", "background": True}
    response_id = json.loads(post(f"{a.url}/v1/responses", body)[1])["id"]
    streamed: dict[str, str] = {}

    def stream_on_a() -> None:
        body = {"model": "gpt-4o-mini", "input": "[[events:400]] [[delay:100]] slow", "stream": True}
        try:
            for event in _events(f"{a.url}/v1/responses", body):
                if event["type"] == "response.created":
                    streamed["id"] = event["response"]["id"]
        except Exception:
            pass

    threading.Thread(target=stream_on_a, daemon=True).start()
    _until(lambda: "id" in streamed, timeout=10)
    time.sleep(0.3)
    a.stop(kill=True)
    killed = time.monotonic()

    def status_on_b(rid: str) -> str:
        code, raw = get(f"{b.url}/v1/responses/{rid}")
        return str(json.loads(raw).get("status")) if code == 200 else f"http {code}"

    _until(lambda: status_on_b(response_id) == "failed", timeout=LEASE * 4 + 10)
    background = time.monotonic() - killed
    _until(lambda: status_on_b(streamed["id"]) == "failed", timeout=LEASE * 4 + 10)
    stream = time.monotonic() - killed
    return f"{background:.2f} s background, {stream:.2f} s streamed (both failed, none left in progress)"


def _outage(post: Callable[..., tuple[int, bytes]], url: str) -> str:
    """Five stored turns right after the stop, while the load also runs: each one's time to its answer."""
    times, statuses = [], set()
    for n in range(5):
        started = time.monotonic()
        status, _ = post(f"{url}/v1/responses", {"model": "gpt-4o-mini", "input": f"outage {n}"}, timeout=40)
        times.append(time.monotonic() - started)
        statuses.add(status)
    spread = ", ".join(f"{1000 * took:.0f}" for took in times)
    return f"{spread} ms (statuses {sorted(statuses)})"


def _until(check: Callable[[], bool], timeout: float) -> str:
    started = time.monotonic()
    while True:
        try:
            if check():
                return f"{time.monotonic() - started:.2f} s"
        except OSError:
            pass
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"not within {timeout:g} s")
        time.sleep(0.05)
