"""What tracing costs: added latency per request with tracing on (sampling ratio 1.0, exported over OTLP/HTTP to a
local receiver) and off, measured against a second gateway with tracing off (the noise floor of the same figure).

Three gateways on the mock upstream, each on its own event loop in a thread: ``off``, ``off2`` (identical, an A/A
check) and ``on``. Rounds alternate between them (order rotated each round); each round times N sequential requests
per gateway and keeps the median. The figure is the median over rounds of each gateway's median minus ``off``'s,
with its run-to-run range. Two paths: a streamed, stored Responses turn on Claude (translated, with state) and a
relayed chat stream.

    python scripts/bench_tracing.py [--rounds 15] [--requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import structlog
from aiohttp import web

sys.path.insert(0, str(Path(__file__).parent))
from mock_upstream import create_mock_app

from plano_proxy.proxy.app import create_app
from plano_proxy.proxy.config import parse_config


class Served:
    """An aiohttp app on a free loopback port, on its own loop in a thread."""

    def __init__(self, make_app: Any) -> None:
        self._loop = asyncio.new_event_loop()
        started: Future[int] = Future()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            runner = web.AppRunner(make_app(), access_log=None)
            self._loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", 0)
            self._loop.run_until_complete(site.start())
            started.set_result(runner.addresses[0][1])
            self._loop.run_forever()
            self._loop.run_until_complete(runner.cleanup())

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{started.result(timeout=30)}"

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)


def _receiver() -> web.Application:
    async def accept(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=b"", content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/traces", accept)
    return app


def _config(mock: str, tracing: str) -> str:
    return (
        "model_providers:\n"
        f"  - {{model: openai/gpt-4o-mini, access_key: k, base_url: '{mock}/v1', default: true}}\n"
        f"  - {{model: anthropic/claude-sonnet-4-5, access_key: k, base_url: '{mock}'}}\n"
        "state_storage: {type: memory, store_chat_turns: false}\n" + tracing
    )


PATHS = {
    "responses_claude_stream_stored": (
        "/v1/responses",
        {"model": "claude-sonnet-4-5", "input": "hello there", "stream": True},
    ),
    "chat_relay_stream": (
        "/v1/chat/completions",
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}], "stream": True},
    ),
}


async def _timed(session: aiohttp.ClientSession, url: str, body: bytes, n: int) -> float:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as response:
            await response.read()
            assert response.status == 200, response.status
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def measure(gateways: dict[str, str], rounds: int, requests: int) -> dict[str, dict[str, list[float]]]:
    added: dict[str, dict[str, list[float]]] = {path: {"on": [], "off2": []} for path in PATHS}
    names = list(gateways)
    async with aiohttp.ClientSession() as session:
        for path, (route, payload) in PATHS.items():
            body = orjson.dumps(payload)
            for name in names:  # warm up
                await _timed(session, gateways[name] + route, body, 50)
            for index in range(rounds):
                order = names[index % 3 :] + names[: index % 3]
                medians = {name: await _timed(session, gateways[name] + route, body, requests) for name in order}
                for name in ("on", "off2"):
                    added[path][name].append((medians[name] - medians["off"]) * 1000)
    return added


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    # The request lines are not what is measured (and would cost the traced gateway more, for its trace_id).
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    mock, receiver = Served(create_mock_app), Served(_receiver)
    on = f"tracing: {{endpoint: '{receiver.url}', sampling_ratio: 1.0}}\n"
    configs = {
        name: parse_config(_config(mock.url, text), {}) for name, text in (("off", ""), ("off2", ""), ("on", on))
    }
    servers = {name: Served(lambda config=config: create_app(config)) for name, config in configs.items()}
    try:
        added = asyncio.run(measure({name: server.url for name, server in servers.items()}, args.rounds, args.requests))
    finally:
        for server in (*servers.values(), mock, receiver):
            server.close()
    print(f"added latency per request over a tracing-off gateway, ms (median of {args.rounds} rounds [range])")
    for path, figures in added.items():
        for name, label in (("on", "tracing on, ratio 1.0"), ("off2", "tracing off (A/A noise)")):
            values = figures[name]
            print(f"  {path:32} {label:24} {statistics.median(values):+.3f} [{min(values):+.3f} .. {max(values):+.3f}]")


if __name__ == "__main__":
    main()
