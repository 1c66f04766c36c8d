"""Drive the gateway while injecting faults, and print one table of what happened. Loopback only, bounded.

Phases (each against a real ``plano-proxy serve`` process and the project's mock upstream):

1. upstream faults: 429 and 500 that clear after one try (retried), streams cut mid-way, slow first bytes;
2. client aborts: streams dropped by the client after a few events (open streams and file descriptors checked);
3. kill -9 under load, then a restart on the same SQLite file: every acknowledged response must be retrievable;
4. PostgreSQL unreachable for a while (its TCP path is cut and restored): state requests get a clear 503, the gateway
   recovers by itself, nothing acknowledged is lost;
5. fuzz: hypothesis-generated bodies on all three client APIs: no 5xx;
6. deep fuzz: valid bodies of every client API mutated deep inside (`body_fuzzer`), on all three upstream kinds: no
   5xx, no hang, the process up, a stored response and conversation unchanged;
7. several instances on one private PostgreSQL cluster (`faults_postgres`): a stream followed live on another
   instance, a cancel there, ``kill -9`` and takeover, a real ``pg_ctl stop -m fast`` and start; each timed, in a
   second table.

    .venv/bin/python scripts/faults.py [--postgres postgresql://postgres@127.0.0.1:5432/test]
        [--fuzz-bodies 5000] [--fuzz-seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from body_fuzzer import run_fuzz
from faults_postgres import phase_instances, phase_network_cut
from mock_upstream import running_mock

PLANO_PROXY = str(Path(sys.executable).with_name("plano-proxy"))


@dataclass
class Tally:
    sent: int = 0
    faults: int = 0
    acknowledged: int = 0
    lost: int = 0
    bad_input_5xx: int = 0
    leaked: int = 0
    notes: list[str] = field(default_factory=list)
    timings: list[tuple[str, str]] = field(default_factory=list)
    """Scenarios of the several-instances phase, each with the time to its outcome."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def post(url: str, body: Any, raw: bytes | None = None, timeout: float = 30) -> tuple[int, bytes]:
    data = raw if raw is not None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "anthropic-version": "2023-06-01"}
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


class Gateway:
    def __init__(self, workdir: Path, mock_url: str, storage: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = workdir / f"plano_{self.port}.yaml"
        self.config.write_text(
            "model_providers:\n"
            f"  - {{model: openai/gpt-4o-mini, access_key: k, base_url: '{mock_url}/v1', default: true,"
            " responses_api: false, retries: {attempts: 2, initial_delay: 20ms, max_delay: 1s}}\n"
            f"  - {{model: anthropic/claude-sonnet-4-5, access_key: k, base_url: '{mock_url}',"
            " retries: {attempts: 2, initial_delay: 20ms, max_delay: 1s}}\n"
            f"  - {{model: openai/gpt-4o, access_key: k, base_url: '{mock_url}/v1', responses_api: true}}\n" + storage
        )
        self.log = open(workdir / f"gateway_{self.port}.log", "wb")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [PLANO_PROXY, "serve", "--config", str(self.config), "--port", str(self.port)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if get(f"{self.url}/healthz")[0] == 200:
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the gateway did not start")

    def open_fds(self) -> int:
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def metric(self, name: str) -> float:
        text = get(f"{self.url}/metrics")[1].decode()
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + " "))

    def stop(self, kill: bool = False) -> None:
        self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        self.process.wait(timeout=40)
        self.log.close()


def responses_turn(url: str, text: str, previous: str | None = None) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"model": "gpt-4o-mini", "input": text}
    if previous:
        body["previous_response_id"] = previous
    status, raw = post(f"{url}/v1/responses", body)
    return status, json.loads(raw) if raw else {}


def stream_turn(url: str, text: str) -> str:
    """The terminal event type of a streamed turn ('' if the stream ended without one)."""
    status, raw = post(f"{url}/v1/responses", {"model": "claude-sonnet-4-5", "input": text, "stream": True})
    if status != 200:
        return f"http {status}"
    kinds = [line[7:] for line in raw.decode().splitlines() if line.startswith("event: ")]
    return kinds[-1] if kinds else ""


# -- phases ---------------------------------------------------------------------------------------------------------


def phase_upstream_faults(gateway: Gateway, tally: Tally, rounds: int = 25) -> None:
    for n in range(rounds):
        for fault in ("429x1", "500x1", "slow-first-byte:200"):
            tally.sent += 1
            tally.faults += 1
            status, body = responses_turn(gateway.url, f"[[fault:{fault}]] round {n}")
            tally.acknowledged += status == 200 and body.get("status") == "completed"
        tally.sent += 1
        tally.faults += 1
        outcome = stream_turn(gateway.url, f"[[fault:cut]] a b c d e f g h i j round {n}")
        if outcome != "response.failed":
            tally.notes.append(f"cut stream ended with {outcome!r}")


async def _abort_streams(url: str, count: int) -> None:
    import aiohttp

    body = {"model": "gpt-4o-mini", "input": "[[events:200]] [[delay:20]] abort me", "stream": True}
    async with aiohttp.ClientSession() as session:
        for _ in range(count):
            response = await session.post(f"{url}/v1/responses", json=body)
            for _ in range(3):
                await response.content.readline()
            response.close()


def phase_client_aborts(gateway: Gateway, tally: Tally, count: int = 1000) -> None:
    fds_before = gateway.open_fds()
    asyncio.run(_abort_streams(gateway.url, count))
    tally.sent += count
    tally.faults += count
    time.sleep(1.0)
    open_streams = gateway.metric("plano_open_streams")
    fd_growth = gateway.open_fds() - fds_before
    tally.leaked += int(open_streams) + max(0, fd_growth - 4)  # a few pooled upstream connections may stay open
    tally.notes.append(f"after {count} aborted streams: {open_streams:.0f} open streams, fd growth {fd_growth}")


def phase_kill_9(workdir: Path, mock_url: str, tally: Tally) -> None:
    storage = f"state_storage: {{type: sqlite, path: '{workdir / 'kill9.db'}'}}\n"
    gateway = Gateway(workdir, mock_url, storage)
    acknowledged: list[str] = []

    async def load() -> None:
        import aiohttp

        async def user() -> None:
            previous = None
            async with aiohttp.ClientSession() as session:
                while True:
                    body = {"model": "gpt-4o-mini", "input": "durable", "previous_response_id": previous}
                    try:
                        async with session.post(f"{gateway.url}/v1/responses", json=body) as response:
                            payload = await response.json()
                    except (aiohttp.ClientError, ValueError):
                        return
                    tally.sent += 1
                    if payload.get("status") == "completed":
                        acknowledged.append(payload["id"])
                        previous = payload["id"]

        await asyncio.gather(*(user() for _ in range(8)))

    killer = asyncio.new_event_loop()
    killer.call_later(1.5, lambda: gateway.process.kill())
    killer.run_until_complete(load())
    killer.close()
    gateway.process.wait(timeout=10)
    gateway.log.close()
    tally.faults += 1
    restarted = Gateway(workdir, mock_url, storage)
    lost = [rid for rid in acknowledged if get(f"{restarted.url}/v1/responses/{rid}")[0] != 200]
    status, _ = responses_turn(restarted.url, "continue after the crash", acknowledged[-1])
    tally.acknowledged += len(acknowledged)
    tally.lost += len(lost) + (status != 200)
    tally.notes.append(f"kill -9 after {len(acknowledged)} acknowledged turns: {len(lost)} missing after restart")
    restarted.stop()


def phase_fuzz(gateway: Gateway, tally: Tally, examples: int = 300) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=16),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
        max_leaves=16,
    )
    keys = st.sampled_from(
        [
            "model",
            "messages",
            "input",
            "tools",
            "max_tokens",
            "stream",
            "system",
            "previous_response_id",
            "conversation",
            "instructions",
            "tool_choice",
            "temperature",
            "metadata",
        ]
    )
    paths = st.sampled_from(["/v1/chat/completions", "/v1/messages", "/v1/responses"])

    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(path=paths, body=st.dictionaries(keys, values, max_size=6))
    def fuzz(path: str, body: dict[str, Any]) -> None:
        tally.sent += 1
        status, _ = post(f"{gateway.url}{path}", body)
        tally.bad_input_5xx += status >= 500

    fuzz()
    if gateway.process.poll() is not None:
        tally.notes.append("the gateway died during the fuzz phase")
        tally.leaked += 1


def phase_deep_fuzz(gateway: Gateway, tally: Tally, bodies: int, seed: int) -> None:
    status, kept = responses_turn(gateway.url, "kept through the deep fuzz")
    before = get(f"{gateway.url}/v1/responses/{kept['id']}")[1] if status == 200 else None
    result = asyncio.run(run_fuzz(gateway.url, bodies, seed))
    tally.sent += result.sent
    tally.bad_input_5xx += result.server_errors + result.hangs + result.broken
    tally.notes.append(f"deep fuzz, seed {seed}: {result.summary()}")
    tally.notes += [f"  {finding[:300]}" for finding in result.findings[:5]]
    if gateway.process.poll() is not None:
        tally.notes.append("the gateway died during the deep fuzz phase")
        tally.leaked += 1
    elif before is None or get(f"{gateway.url}/v1/responses/{kept['id']}")[1] != before:
        tally.notes.append("a stored response changed during the deep fuzz phase")
        tally.lost += 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--postgres", default="postgresql://postgres@127.0.0.1:5432/test", help="(default: %(default)s)"
    )
    parser.add_argument("--fuzz-bodies", type=int, default=5000, help="deep fuzz bodies (default: %(default)s)")
    parser.add_argument("--fuzz-seed", type=int, default=1, help="the deep fuzz seed (default: %(default)s)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="plano-faults-"))
    tally = Tally()
    started = time.monotonic()

    async def with_mock() -> None:
        async with running_mock() as mock_url:
            await asyncio.to_thread(run_phases, workdir, mock_url, args, tally)

    asyncio.run(with_mock())
    print(f"plano-proxy fault run ({time.monotonic() - started:.1f} s, workdir {workdir.name})")
    rows = [
        ("requests sent", tally.sent),
        ("faults injected", tally.faults),
        ("acknowledged", tally.acknowledged),
        ("lost (must be 0)", tally.lost),
        ("5xx from bad input (must be 0)", tally.bad_input_5xx),
        ("leaked streams/connections (must be 0)", tally.leaked),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value:>7}")
    for note in tally.notes:
        print(f"  - {note}")
    if tally.timings:
        print("several instances on one PostgreSQL (time to the outcome):")
        width = max(len(name) for name, _ in tally.timings)
        for name, outcome in tally.timings:
            print(f"  {name:<{width}}  {outcome}")
    return 0 if tally.lost == tally.bad_input_5xx == tally.leaked == 0 else 1


def run_phases(workdir: Path, mock_url: str, args: argparse.Namespace, tally: Tally) -> None:
    gateway = Gateway(workdir, mock_url, f"state_storage: {{type: sqlite, path: '{workdir / 'main.db'}'}}\n")
    try:
        phase_upstream_faults(gateway, tally)
        phase_client_aborts(gateway, tally)
        phase_fuzz(gateway, tally)
        phase_deep_fuzz(gateway, tally, args.fuzz_bodies, args.fuzz_seed)
    finally:
        gateway.stop()
    phase_kill_9(workdir, mock_url, tally)
    phase_network_cut(args.postgres, tally, lambda storage: Gateway(workdir, mock_url, storage), post, get)
    phase_instances(tally, lambda storage: Gateway(workdir, mock_url, storage), post, get)


if __name__ == "__main__":
    sys.exit(main())
