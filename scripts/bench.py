"""Chat Completions through the gateway against the mock upstream called directly, side by side in one run.

Measures, on loopback, with the mock upstream and `plano-proxy serve` as separate processes:

1. non-streaming chat one request at a time: median added latency over calling the mock directly;
2. non-streaming throughput at concurrency 64: gateway / direct;
3. streaming chat: added time to first token, and added time per event over a 1,000-event stream.

    python scripts/bench.py [--seconds 3] [--workers 1]

Not covered yet (DESIGN.md §6 lists them): LiteLLM side by side, Responses streaming on an Anthropic upstream, and
resident memory per idle stream. `scripts/bench_state.py` covers stateful turns.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp
import orjson

SCRIPTS = Path(__file__).resolve().parent
PLANO_PROXY = str(Path(sys.executable).with_name("plano-proxy"))
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}]}
LONG_STREAM = {**CHAT, "stream": True, "messages": [{"role": "user", "content": "[[events:1000]] go"}]}
JSON = {"Content-Type": "application/json"}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


async def one_latency(session: aiohttp.ClientSession, url: str) -> float:
    started = time.perf_counter()
    async with session.post(url, data=orjson.dumps(CHAT), headers=JSON) as response:
        await response.read()
    return time.perf_counter() - started


async def latencies(url: str, count: int) -> list[float]:
    async with aiohttp.ClientSession() as session:
        for _ in range(20):
            await one_latency(session, url)
        return [await one_latency(session, url) for _ in range(count)]


async def throughput(url: str, concurrency: int, seconds: float) -> float:
    done = 0
    deadline = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal done
            while time.monotonic() < deadline:
                await one_latency(session, url)
                done += 1

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done / (time.monotonic() - started)


async def stream_timing(url: str, repeats: int) -> tuple[float, float]:
    """Median time to the first content chunk and median total time of a 1,000-event stream."""
    firsts, totals = [], []
    async with aiohttp.ClientSession() as session:
        for _ in range(repeats):
            started = time.perf_counter()
            first = None
            async with session.post(url, data=orjson.dumps(LONG_STREAM), headers=JSON) as response:
                async for line in response.content:
                    if first is None and b'"content":"w' in line:
                        first = time.perf_counter() - started
            totals.append(time.perf_counter() - started)
            firsts.append(first or 0.0)
    return statistics.median(firsts), statistics.median(totals)


async def measure(direct: str, gateway: str, seconds: float) -> list[tuple[str, str, str, bool]]:
    rows = []
    direct_latency = statistics.median(await latencies(direct, 300))
    gateway_latency = statistics.median(await latencies(gateway, 300))
    added = (gateway_latency - direct_latency) * 1000
    rows.append(("added latency, non-streaming (median)", f"{added:.3f} ms", "≤ 1 ms", added <= 1.0))
    direct_rps = await throughput(direct, 64, seconds)
    gateway_rps = await throughput(gateway, 64, seconds)
    ratio = gateway_rps / direct_rps
    rows.append(
        (
            "throughput at concurrency 64, gateway / direct",
            f"{gateway_rps:.0f} / {direct_rps:.0f} rps = {ratio:.0%}",
            "≥ 35 %",
            ratio >= 0.35,
        )
    )
    direct_first, direct_total = await stream_timing(direct, 15)
    gateway_first, gateway_total = await stream_timing(gateway, 15)
    ttft = (gateway_first - direct_first) * 1000
    per_event = (gateway_total - direct_total) / 1000 * 1e6
    rows.append(("added time to first token (median)", f"{ttft:.3f} ms", "≤ 2 ms", ttft <= 2.0))
    rows.append(("added time per event, 1,000-event stream", f"{per_event:.1f} µs", "≤ 20 µs", per_event <= 20.0))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each throughput run")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    mock_port, gateway_port = free_port(), free_port()
    workdir = Path(tempfile.mkdtemp(prefix="plano-bench-"))
    config = workdir / "plano_config.yaml"
    config.write_text(
        f"model_providers:\n  - {{model: openai/gpt-4o-mini, access_key: k, base_url: 'http://127.0.0.1:{mock_port}/v1'}}\n"
    )
    mock = subprocess.Popen([sys.executable, str(SCRIPTS / "mock_upstream.py"), "--port", str(mock_port)])
    gateway = subprocess.Popen(
        [PLANO_PROXY, "serve", "--config", str(config), "--port", str(gateway_port), "--workers", str(args.workers)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(f"http://127.0.0.1:{mock_port}/v1/models")
        wait_ready(f"http://127.0.0.1:{gateway_port}/healthz")
        rows = asyncio.run(
            measure(
                f"http://127.0.0.1:{mock_port}/v1/chat/completions",
                f"http://127.0.0.1:{gateway_port}/v1/chat/completions",
                args.seconds,
            )
        )
    finally:
        gateway.terminate()
        mock.terminate()
        gateway.wait(timeout=30)
        mock.wait(timeout=30)
    print(f"plano-proxy chat benchmark ({args.workers} worker(s), mock upstream, loopback)")
    width = max(len(row[0]) for row in rows)
    for name, value, budget, met in rows:
        print(f"  {name:<{width}}  {value:>28}  budget {budget:<8} {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
