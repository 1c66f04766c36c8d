"""Scripted clients for load tests: N simulated users, each holding a multi-turn Responses conversation.

Each user continues its conversation with ``previous_response_id`` (``--mode previous``) or through the Conversations
API (``--mode conversation``), streaming or not, while the whole run keeps to a target request rate. The run is
bounded by ``--duration`` and ``--max-requests`` and stops by itself; it only targets loopback unless told otherwise.

    python scripts/loadtest.py --users 20 --turns 5 --rate 50 --duration 30 --stream --png latency.png

Prints a live progress line on stderr and a summary table at the end (throughput, latency and time-to-first-token
percentiles, errors by kind, turns per user); ``--json`` keeps the raw results, ``--png`` draws a latency histogram.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True, slots=True)
class LoadTestOptions:
    base_url: str = "http://127.0.0.1:12000"
    model: str = "gpt-4o-mini"
    users: int = 10
    turns: int = 5
    mode: str = "previous"
    stream: bool = False
    rate: float = 0.0
    """Requests per second for the whole run; 0 sends as fast as the users can."""
    duration: float = 60.0
    max_requests: int = 100_000
    api_key: str = "loadtest"


@dataclass(slots=True)
class Sample:
    user: int
    turn: int
    started: float
    latency: float
    ttft: float | None
    error: str | None


@dataclass(slots=True)
class LoadTestResult:
    options: LoadTestOptions
    samples: list[Sample] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def errors(self) -> Counter[str]:
        return Counter(s.error for s in self.samples if s.error)

    def ok(self) -> list[Sample]:
        return [s for s in self.samples if s.error is None]


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (0 < fraction ≤ 1) of the values; NaN when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


class Pacer:
    """Open-loop pacing: request k may start at k / rate seconds after the start, whatever came before."""

    def __init__(self, rate: float, clock: Any = time.monotonic) -> None:
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._clock = clock
        self._start = clock()
        self._issued = 0

    def delay(self) -> float:
        """Seconds to wait before the next request (and count it as issued)."""
        due = self._start + self._issued * self._interval
        self._issued += 1
        return max(0.0, due - self._clock())


class _Run:
    def __init__(self, options: LoadTestOptions, session: aiohttp.ClientSession) -> None:
        self.options = options
        self.session = session
        self.result = LoadTestResult(options)
        self.pacer = Pacer(options.rate)
        self.deadline = time.monotonic() + options.duration
        self.sent = 0

    def _budget_left(self) -> bool:
        return time.monotonic() < self.deadline and self.sent < self.options.max_requests

    async def user(self, number: int) -> None:
        state: dict[str, Any] = {}
        if self.options.mode == "conversation":
            state["conversation"] = await self._create_conversation()
        for turn in range(self.options.turns):
            await asyncio.sleep(self.pacer.delay())
            if not self._budget_left():
                return
            self.sent += 1
            sample = await self._turn(number, turn, state)
            self.result.samples.append(sample)
            if sample.error is not None:
                return

    async def _create_conversation(self) -> str:
        async with self.session.post(f"{self.options.base_url}/v1/conversations", json={}) as response:
            return str((await response.json())["id"])

    async def _turn(self, user: int, turn: int, state: dict[str, Any]) -> Sample:
        body: dict[str, Any] = {
            "model": self.options.model,
            "input": f"user {user} turn {turn}",
            "stream": self.options.stream,
        }
        if "conversation" in state:
            body["conversation"] = state["conversation"]
        elif "previous" in state:
            body["previous_response_id"] = state["previous"]
        started = time.perf_counter()
        try:
            async with self.session.post(f"{self.options.base_url}/v1/responses", data=orjson.dumps(body)) as response:
                if response.status != 200:
                    return Sample(user, turn, started, time.perf_counter() - started, None, f"http {response.status}")
                if self.options.stream:
                    response_id, ttft, error = await _read_stream(response, started)
                else:
                    payload = orjson.loads(await response.read())
                    response_id, ttft = payload.get("id"), None
                    error = None if payload.get("status") == "completed" else f"status {payload.get('status')}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            return Sample(user, turn, started, time.perf_counter() - started, None, type(exc).__name__)
        state["previous"] = response_id
        return Sample(user, turn, started, time.perf_counter() - started, ttft, error)


async def _read_stream(response: aiohttp.ClientResponse, started: float) -> tuple[str | None, float | None, str | None]:
    """Read a Responses SSE stream; it is good only if it ends with response.completed."""
    ttft = None
    last: dict[str, Any] = {}
    async for raw in response.content:
        line = raw.strip()
        if not line.startswith(b"data:"):
            continue
        last = orjson.loads(line[5:])
        if ttft is None and last.get("type") == "response.output_text.delta":
            ttft = time.perf_counter() - started
    if last.get("type") != "response.completed":
        return None, ttft, f"stream ended with {last.get('type')}"
    return last["response"]["id"], ttft, None


async def _progress(run: _Run, done: asyncio.Event) -> None:
    while not done.is_set():
        elapsed = max(1e-9, time.monotonic() - (run.deadline - run.options.duration))
        finished = len(run.result.samples)
        errors = sum(1 for s in run.result.samples if s.error)
        total = min(run.options.users * run.options.turns, run.options.max_requests)
        width = 30
        filled = int(width * finished / total) if total else width
        sys.stderr.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {finished}/{total} requests, {errors} errors, "
            f"{finished / elapsed:.1f} req/s "
        )
        sys.stderr.flush()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), 0.2)
    sys.stderr.write("\n")


async def run_loadtest(options: LoadTestOptions, *, progress: bool = False) -> LoadTestResult:
    timeout = aiohttp.ClientTimeout(total=options.duration + 30)
    headers = {"Authorization": f"Bearer {options.api_key}", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=max(options.users, 1))
    async with aiohttp.ClientSession(timeout=timeout, headers=headers, connector=connector) as session:
        run = _Run(options, session)
        done = asyncio.Event()
        reporter = asyncio.create_task(_progress(run, done)) if progress else None
        started = time.monotonic()
        await asyncio.gather(*(run.user(n) for n in range(options.users)))
        run.result.elapsed = time.monotonic() - started
        done.set()
        if reporter is not None:
            await reporter
    return run.result


def summary(result: LoadTestResult) -> str:
    ok = result.ok()
    latencies = [s.latency * 1000 for s in ok]
    ttfts = [s.ttft * 1000 for s in ok if s.ttft is not None]
    per_user = Counter(s.user for s in ok)
    rows = [
        ("requests", f"{len(result.samples)}"),
        ("ok / errors", f"{len(ok)} / {len(result.samples) - len(ok)}"),
        ("throughput", f"{len(ok) / result.elapsed:.1f} req/s" if result.elapsed else "n/a"),
        ("latency p50 / p90 / p99 / max", _ms(latencies, (0.5, 0.9, 0.99, 1.0))),
        ("ttft p50 / p90 / p99", _ms(ttfts, (0.5, 0.9, 0.99)) if ttfts else "n/a (not streaming)"),
        ("turns per user min / max", f"{min(per_user.values(), default=0)} / {max(per_user.values(), default=0)}"),
    ]
    rows += [(f"error: {kind}", str(count)) for kind, count in result.errors.most_common()]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def _ms(values: list[float], fractions: tuple[float, ...]) -> str:
    return " / ".join(f"{percentile(values, f):.1f}" for f in fractions) + " ms"


def write_png(result: LoadTestResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    latencies = [s.latency * 1000 for s in result.ok()]
    figure, axis = plt.subplots(figsize=(8, 4.5))
    axis.hist(latencies, bins=min(50, max(5, len(latencies) // 4)), color="#3b6ea5")
    axis.set_xlabel("latency (ms)")
    axis.set_ylabel("requests")
    mode = f"{result.options.mode}, {'stream' if result.options.stream else 'no stream'}"
    axis.set_title(f"plano-proxy load test: {len(latencies)} turns, {result.options.users} users ({mode})")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _options(argv: Sequence[str] | None) -> tuple[LoadTestOptions, argparse.Namespace]:
    defaults = LoadTestOptions()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default=defaults.base_url)
    parser.add_argument("--model", default=defaults.model)
    parser.add_argument("--users", type=int, default=defaults.users)
    parser.add_argument("--turns", type=int, default=defaults.turns)
    parser.add_argument("--mode", choices=("previous", "conversation"), default="previous")
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--rate", type=float, default=0.0, help="target requests per second (0: as fast as possible)")
    parser.add_argument("--duration", type=float, default=defaults.duration, help="stop after this many seconds")
    parser.add_argument("--max-requests", type=int, default=defaults.max_requests)
    parser.add_argument("--api-key", default=defaults.api_key, help="gateway key sent as a Bearer token")
    parser.add_argument("--json", type=Path, help="write the raw samples here")
    parser.add_argument("--png", type=Path, help="write a latency histogram here")
    parser.add_argument("--allow-remote", action="store_true", help="allow a base URL that is not loopback")
    parser.add_argument("--fail-on-error", action="store_true", help="exit 1 when any turn failed")
    args = parser.parse_args(argv)
    if urlsplit(args.base_url).hostname not in LOOPBACK and not args.allow_remote:
        parser.error(f"{args.base_url} is not loopback; pass --allow-remote to load-test another host")
    fields = {f: getattr(args, f) for f in LoadTestOptions.__dataclass_fields__}
    return LoadTestOptions(**fields), args


def main(argv: Sequence[str] | None = None) -> int:
    options, args = _options(argv)
    result = asyncio.run(run_loadtest(options, progress=True))
    print(summary(result))
    if args.json:
        args.json.write_bytes(
            orjson.dumps(
                {"options": asdict(options), "elapsed": result.elapsed, "samples": [asdict(s) for s in result.samples]},
                option=orjson.OPT_INDENT_2,
            )
        )
    if args.png:
        write_png(result, args.png)
    return 1 if args.fail_on_error and result.errors else 0


if __name__ == "__main__":
    sys.exit(main())
