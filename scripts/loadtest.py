"""Scripted clients for load tests: N simulated users, each holding multi-turn Responses conversations.

Each user continues its conversation with ``previous_response_id`` (``--mode previous``) or through the Conversations
API (``--mode conversation``), streaming or not, while the whole run keeps to a target request rate. Without
``--duration`` each user holds one conversation of ``--turns`` turns; with it, users start new conversations until
the time is up. A failed turn ends its conversation (there is nothing to continue) and the user starts a new one.
The run is bounded by ``--duration`` and ``--max-requests``, stops by itself, and only targets loopback unless told
otherwise.

    python scripts/loadtest.py --users 20 --turns 5 --rate 50 --duration 30 --stream --png latency.png

Prints a live progress line on stderr and a summary table at the end (throughput, latency and time-to-first-token
percentiles, errors by status and reason, requests per user); ``--json`` keeps the raw results, ``--png`` draws a
latency histogram. Exits 1 when a request failed, unless ``--allow-errors``.
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
    """Turns of each conversation."""
    mode: str = "previous"
    stream: bool = False
    rate: float = 0.0
    """Requests per second for the whole run; 0 sends as fast as the users can."""
    duration: float | None = None
    """Seconds to keep going with new conversations; None: one conversation per user."""
    max_requests: int = 100_000
    timeout: float = 60.0
    """Seconds one request may take."""
    api_key: str = "loadtest"

    @property
    def planned(self) -> int | None:
        """Requests the run makes when it is not bounded by time."""
        return None if self.duration is not None else min(self.users * self.turns, self.max_requests)


@dataclass(slots=True)
class Sample:
    user: int
    conversation: int
    turn: int
    started: float
    latency: float
    ttft: float | None
    error: str | None
    """Why the request failed, by status and reason (``HTTP 429 Too Many Requests: rate_limit_exceeded``)."""


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
        self.started = time.monotonic()
        self.sent = 0

    def may_send(self, sent_by_user: int) -> bool:
        if self.sent >= self.options.max_requests:
            return False
        if self.options.duration is None:
            return sent_by_user < self.options.turns
        return time.monotonic() - self.started < self.options.duration

    def progress(self) -> float:
        """How far the run is, from 0 to 1."""
        planned = self.options.planned
        if planned is not None:
            return len(self.result.samples) / planned if planned else 1.0
        duration = self.options.duration or 0.0
        return min(1.0, (time.monotonic() - self.started) / duration) if duration > 0 else 1.0

    async def user(self, number: int) -> None:
        state: dict[str, Any] = {}
        conversation = sent_by_user = 0
        while True:
            await asyncio.sleep(self.pacer.delay())
            if not self.may_send(sent_by_user):
                return
            self.sent += 1
            sent_by_user += 1
            sample = await self._turn(number, conversation, state)
            self.result.samples.append(sample)
            state["turns"] = state.get("turns", 0) + 1
            if sample.error is not None or state["turns"] == self.options.turns:
                state = {}
                conversation += 1

    async def _turn(self, user: int, conversation: int, state: dict[str, Any]) -> Sample:
        turn = state.get("turns", 0)
        started = time.perf_counter()

        def sample(error: str | None, ttft: float | None = None) -> Sample:
            return Sample(user, conversation, turn, started, time.perf_counter() - started, ttft, error)

        try:
            if self.options.mode == "conversation" and "conversation" not in state:
                async with self.session.post(f"{self.options.base_url}/v1/conversations", json={}) as response:
                    if response.status != 200:
                        return sample(await _http_error(response))
                    state["conversation"] = str((await response.json())["id"])
            async with self.session.post(
                f"{self.options.base_url}/v1/responses", data=orjson.dumps(self._body(user, turn, state))
            ) as response:
                if response.status != 200:
                    return sample(await _http_error(response))
                if self.options.stream:
                    response_id, ttft, error = await _read_stream(response, started)
                else:
                    payload = orjson.loads(await response.read())
                    response_id, ttft = payload.get("id"), None
                    error = None if payload.get("status") == "completed" else _status_error(payload)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return sample(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        state["previous"] = response_id
        return sample(error, ttft)

    def _body(self, user: int, turn: int, state: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.options.model,
            "input": f"user {user} turn {turn}",
            "stream": self.options.stream,
        }
        if "conversation" in state:
            body["conversation"] = state["conversation"]
        elif "previous" in state:
            body["previous_response_id"] = state["previous"]
        return body


async def _http_error(response: aiohttp.ClientResponse) -> str:
    """``HTTP <status> <reason>``, and the error's code or type from an OpenAI-shaped body."""
    try:
        error = orjson.loads(await response.read()).get("error") or {}
    except (orjson.JSONDecodeError, AttributeError, aiohttp.ClientError):
        error = {}
    reason = response.reason or ""
    kind = error.get("code") or error.get("type") if isinstance(error, dict) else None
    return f"HTTP {response.status} {reason}".rstrip() + (f": {kind}" if kind else "")


def _status_error(payload: dict[str, Any]) -> str:
    error = payload.get("error") or payload.get("incomplete_details") or {}
    kind = error.get("code") or error.get("reason") if isinstance(error, dict) else None
    return f"response {payload.get('status')}" + (f": {kind}" if kind else "")


async def _read_stream(response: aiohttp.ClientResponse, started: float) -> tuple[str | None, float | None, str | None]:
    """Read a Responses SSE stream; it is good only if it ends with response.completed."""
    ttft = None
    last: dict[str, Any] = {}
    async for raw in response.content:
        line = raw.strip()
        if not line.startswith(b"data:") or line == b"data: [DONE]":
            continue
        last = orjson.loads(line[5:])
        if ttft is None and last.get("type") == "response.output_text.delta":
            ttft = time.perf_counter() - started
    if last.get("type") != "response.completed":
        failed = last.get("response", {}) if isinstance(last.get("response"), dict) else {}
        error = failed.get("error") or last.get("error") or {}
        kind = error.get("code") or error.get("type") if isinstance(error, dict) else None
        return None, ttft, f"stream ended with {last.get('type')}" + (f": {kind}" if kind else "")
    return last["response"]["id"], ttft, None


def _progress_line(run: _Run, final: bool = False) -> str:
    finished = len(run.result.samples)
    errors = sum(1 for s in run.result.samples if s.error)
    elapsed = max(1e-9, time.monotonic() - run.started)
    fraction = 1.0 if final else run.progress()
    width = 30
    filled = int(width * fraction)
    planned = run.options.planned
    count = f"{finished}/{planned}" if planned is not None else f"{finished}"
    return (
        f"\r[{'#' * filled}{'.' * (width - filled)}] {fraction:4.0%} {count} requests, {errors} errors, "
        f"{finished / elapsed:.1f} req/s "
    )


async def _progress(run: _Run, done: asyncio.Event) -> None:
    while not done.is_set():
        sys.stderr.write(_progress_line(run))
        sys.stderr.flush()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), 0.2)
    sys.stderr.write(_progress_line(run, final=True) + "\n")  # the run is over: the bar ends full


async def run_loadtest(options: LoadTestOptions, *, progress: bool = False) -> LoadTestResult:
    timeout = aiohttp.ClientTimeout(total=options.timeout)
    headers = {"Authorization": f"Bearer {options.api_key}", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=max(options.users, 1))
    async with aiohttp.ClientSession(timeout=timeout, headers=headers, connector=connector) as session:
        run = _Run(options, session)
        done = asyncio.Event()
        reporter = asyncio.create_task(_progress(run, done)) if progress else None
        await asyncio.gather(*(run.user(n) for n in range(options.users)))
        run.result.elapsed = time.monotonic() - run.started
        done.set()
        if reporter is not None:
            await reporter
    return run.result


def summary(result: LoadTestResult) -> str:
    ok = result.ok()
    latencies = [s.latency * 1000 for s in ok]
    ttfts = [s.ttft * 1000 for s in ok if s.ttft is not None]
    per_user = Counter(s.user for s in result.samples)
    conversations = len({(s.user, s.conversation) for s in result.samples})
    none_ok = "n/a (no request succeeded)"
    rows = [
        ("requests", f"{len(result.samples)} in {conversations} conversations"),
        ("ok / errors", f"{len(ok)} / {len(result.samples) - len(ok)}"),
        ("throughput", f"{len(ok) / result.elapsed:.1f} req/s" if result.elapsed else "n/a"),
        ("latency p50 / p90 / p99 / max", _ms(latencies, (0.5, 0.9, 0.99, 1.0)) if latencies else none_ok),
        ("ttft p50 / p90 / p99", _ms(ttfts, (0.5, 0.9, 0.99)) if ttfts else "n/a (not streaming)"),
        ("requests per user min / max", f"{min(per_user.values(), default=0)} / {max(per_user.values(), default=0)}"),
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
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--base-url", default=defaults.base_url, help="the gateway to drive")
    parser.add_argument("--model", default=defaults.model, help="model every turn asks for")
    parser.add_argument("--users", type=int, default=defaults.users, help="simulated users, each one at a time")
    parser.add_argument("--turns", type=int, default=defaults.turns, help="turns of each conversation")
    parser.add_argument(
        "--mode",
        choices=("previous", "conversation"),
        default=defaults.mode,
        help="continue with previous_response_id, or through the Conversations API",
    )
    parser.add_argument("--stream", action="store_true", help="stream every answer (and measure time to first token)")
    parser.add_argument("--rate", type=float, default=defaults.rate, help="target requests per second (0: no limit)")
    parser.add_argument(
        "--duration",
        type=float,
        default=defaults.duration,
        help="seconds to run, users starting new conversations until then (none: one conversation per user)",
    )
    parser.add_argument("--max-requests", type=int, default=defaults.max_requests, help="stop after this many")
    parser.add_argument("--timeout", type=float, default=defaults.timeout, help="seconds one request may take")
    parser.add_argument("--api-key", default=defaults.api_key, help="gateway key sent as a Bearer token")
    parser.add_argument("--json", type=Path, help="write the raw samples here")
    parser.add_argument("--png", type=Path, help="write a latency histogram here")
    parser.add_argument("--allow-remote", action="store_true", help="allow a base URL that is not loopback")
    parser.add_argument("--allow-errors", action="store_true", help="exit 0 even when requests failed")
    args = parser.parse_args(argv)
    if urlsplit(args.base_url).hostname not in LOOPBACK and not args.allow_remote:
        parser.error(f"{args.base_url} is not loopback; pass --allow-remote to load-test another host")
    if args.users < 1 or args.turns < 1:
        parser.error("--users and --turns must be at least 1")
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
    failed = sum(result.errors.values())
    if failed and not args.allow_errors:
        print(f"loadtest: {failed} requests failed (--allow-errors exits 0 all the same)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
