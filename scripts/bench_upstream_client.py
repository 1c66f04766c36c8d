"""The provider client's own cost: CPU per call of aiohttp's ClientSession and of the gateway's `UpstreamPool`, each
against the same local HTTP/1.1 server (a process of its own answering every POST with a fixed chat completion).

Both clients make the same calls (the gateway's headers and timeouts, a kept-alive connection per concurrent caller)
in alternating rounds; the figure is the client process's CPU time per call, median of the rounds.

    python scripts/bench_upstream_client.py [--calls 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import orjson
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))

from litellm_side import free_port, stop_process

from plano_proxy.proxy.config import Timeouts
from plano_proxy.proxy.upstream.http1 import UpstreamPool

CONCURRENCY = 32
BODY = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "hello there"}]})
HEADERS = {"Content-Type": "application/json", "User-Agent": "plano-proxy", "Authorization": "Bearer k"}
TIMEOUTS = Timeouts(connect=10, first_byte=300, idle=300)

SERVER = """
import asyncio, sys, uvloop
BODY = (b'{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,'
        b'"message":{"role":"assistant","content":"hello there"},"finish_reason":"stop"}],'
        b'"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}')
ANSWER = b"HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: %d\\r\\n\\r\\n" % len(BODY) + BODY

class Answering(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.received = transport, b""

    def data_received(self, data):
        self.received += data
        while (end := self.received.find(b"\\r\\n\\r\\n")) >= 0:
            head = self.received[:end].lower()
            length = int(head.split(b"content-length:")[1].split(b"\\r\\n")[0])
            if len(self.received) < end + 4 + length:
                return
            self.received = self.received[end + 4 + length:]
            self.transport.write(ANSWER)

async def main():
    server = await asyncio.get_running_loop().create_server(Answering, "127.0.0.1", int(sys.argv[1]))
    print("ready", flush=True)
    await server.serve_forever()

uvloop.run(main())
"""


async def cpu_per_call(call: object, calls: int) -> float:
    """Microseconds of this process's CPU per call, ``CONCURRENCY`` callers at once."""

    async def caller(count: int) -> None:
        for _ in range(count):
            await call()  # type: ignore[operator]

    await asyncio.gather(*(caller(50) for _ in range(CONCURRENCY)))  # warm-up: connections open, code paths hot
    started = time.process_time()
    await asyncio.gather(*(caller(calls // CONCURRENCY) for _ in range(CONCURRENCY)))
    return (time.process_time() - started) * 1e6 / (calls // CONCURRENCY * CONCURRENCY)


async def measure(url: str, calls: int, rounds: int) -> dict[str, list[float]]:
    connector = aiohttp.TCPConnector(limit=4096, limit_per_host=4096, keepalive_timeout=60)
    session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=300)
    pool = UpstreamPool(4096)

    async def through_aiohttp() -> None:
        async with session.post(url, data=BODY, headers=HEADERS, timeout=timeout) as response:
            await response.read()

    async def through_pool() -> None:
        answer = await pool.post(url, HEADERS, BODY, TIMEOUTS)
        try:
            await answer.read()
        finally:
            answer.release()

    figures: dict[str, list[float]] = {"aiohttp ClientSession": [], "UpstreamPool": []}
    for _ in range(rounds):
        figures["aiohttp ClientSession"].append(await cpu_per_call(through_aiohttp, calls))
        figures["UpstreamPool"].append(await cpu_per_call(through_pool, calls))
    await session.close()
    await pool.close()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000, help="calls per client and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)], stdout=subprocess.PIPE)
    try:
        assert server.stdout is not None
        with server.stdout:
            server.stdout.readline()
        figures = uvloop.run(measure(f"http://127.0.0.1:{port}/v1/chat/completions", args.calls, args.rounds))
    finally:
        stop_process(server)
    for name, runs in figures.items():
        print(f"{name:22} {statistics.median(runs):6.1f} µs of CPU per call ({min(runs):.1f}–{max(runs):.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
