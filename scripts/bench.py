"""The gateway against the mock upstream called directly and against LiteLLM's proxy, side by side in one run.

One command, loopback only, bounded in time (about five minutes, plus LiteLLM's install on the first run). It starts
the mock upstream, then `plano-proxy serve` with 1 worker and with N workers, then LiteLLM's proxy on the same mock
(installed into its own throwaway venv from PyPI; no database), and measures:

1. non-streaming chat, one request at a time: median added latency over calling the mock directly;
2. non-streaming chat throughput at concurrency 64: gateway / direct and gateway / LiteLLM;
3. streaming chat: added time to first token, and added time per event over a 1,000-event stream;
4. Responses streaming on an Anthropic upstream (the translation path): the same two figures;
5. stateful Responses turns at depth 1, 10, 100 on every store: gateway time and stored bytes (scripts/bench_state.py);
6. resident memory per open idle stream at 1,000 concurrent streams.

Every figure is taken in several runs that alternate between the mock called directly and the gateway (or LiteLLM),
and reported as the median of those runs with their run-to-run range: this machine is shared, and one run says
little. With chat turns stored, it also reads how long the turns waited for their durable commit (the gateway's
``plano_state_commit_seconds``), the price of acknowledged meaning durable.

It prints a table saying which budgets (DESIGN.md §6, issue 14) are met, and writes the raw results (results.json),
the table as Markdown (results.md) and a chart (results.png) to --out.

    python scripts/bench.py [--workers 2] [--seconds 3] [--out bench-results] [--no-litellm]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_state
from bench_chart import draw_chart
from bench_http import (
    JSON,
    Target,
    hold_open_streams,
    paired_latency,
    paired_throughput,
    spread,
    stream_timing,
)
from bench_rows import budget_rows, format_table, markdown_table
from litellm_side import ensure_litellm, free_port, start_litellm, stop_process, wait_litellm_ready

SCRIPTS = Path(__file__).resolve().parent
PLANO_PROXY = str(Path(sys.executable).with_name("plano-proxy"))
CONCURRENCY = 64
ROUNDS = 5
"""Alternating rounds of each stream figure."""
STREAM_EVENTS = 1000
OPEN_STREAMS = 1000
ANTHROPIC_HEADERS = {**JSON, "x-api-key": "k", "anthropic-version": "2023-06-01"}


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


@contextmanager
def running(command: list[str], ready_url: str) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(ready_url, process)
        yield process
    finally:
        stop_process(process)


def gateway_config(workdir: Path, mock: str, stored: bool) -> Path:
    """Both providers on the mock; with `stored`, SQLite state storage as the shipped plano_config.yaml has it (chat
    turns are then stored too, so they can be continued), without it the gateway keeps no state at all."""
    path = workdir / "plano_config.yaml"
    storage = f"state_storage: {{type: sqlite, path: '{workdir / 'state.db'}'}}\n" if stored else ""
    path.write_text(
        "model_providers:\n"
        f"  - {{model: openai/gpt-4o-mini, access_key: k, base_url: '{mock}/v1', default: true}}\n"
        f"  - {{model: anthropic/claude-sonnet-4-5, access_key: k, base_url: '{mock}'}}\n" + storage
    )
    return path


@contextmanager
def gateway(workdir: Path, mock: str, workers: int, *, stored: bool) -> Iterator[tuple[str, int]]:
    """`plano-proxy serve` with the given number of workers; yields its URL and the pid of its main process."""
    folder = Path(tempfile.mkdtemp(prefix="gateway-", dir=workdir))
    port = free_port()
    command = [PLANO_PROXY, "serve", "--config", str(gateway_config(folder, mock, stored)), "--port", str(port)]
    with running([*command, "--workers", str(workers)], f"http://127.0.0.1:{port}/healthz") as process:
        yield f"http://127.0.0.1:{port}", process.pid


def chat(base: str, content: str = "hello there", stream: bool = False) -> Target:
    body: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}]}
    if stream:
        body["stream"] = True
    return Target(f"{base}/v1/chat/completions", body, JSON, first_token=b'"content":"w')


def anthropic_messages(mock: str, content: str) -> Target:
    messages = [{"role": "user", "content": content}]
    body = {"model": "claude-sonnet-4-5", "max_tokens": 4096, "stream": True, "messages": messages}
    return Target(f"{mock}/v1/messages", body, ANTHROPIC_HEADERS, first_token=b'"text_delta"')


def responses(base: str, content: str) -> Target:
    body = {"model": "claude-sonnet-4-5", "input": content, "stream": True, "max_output_tokens": 4096}
    return Target(f"{base}/v1/responses", body, JSON, first_token=b"response.output_text.delta")


LONG = f"[[events:{STREAM_EVENTS}]] go"
SHORT = "[[events:20]] go"
IDLE = "[[delay:60000]] hold the stream open"


async def stream_figures(direct: Callable[[str], Target], gateway: Callable[[str], Target]) -> dict[str, Any]:
    """Added time to first token on a 20-event stream, where the first token is not held up by the host's CPU
    relaying the rest of a burst, and added time per event of a 1,000-event stream sent by the mock as fast as it
    can; each the median of `ROUNDS` alternating rounds (10 and 3 streams a side)."""
    first: list[float] = []
    per_event: list[float] = []
    for _ in range(ROUNDS):
        direct_first, _ = await stream_timing(direct(SHORT), 10)
        gateway_first, _ = await stream_timing(gateway(SHORT), 10)
        _, direct_total = await stream_timing(direct(LONG), 3)
        _, gateway_total = await stream_timing(gateway(LONG), 3)
        first.append((gateway_first - direct_first) * 1000)
        per_event.append((gateway_total - direct_total) * 1_000_000 / STREAM_EVENTS)
    return {"added_ttft_ms": spread(first), "added_per_event_us": spread(per_event), "events": STREAM_EVENTS}


async def paired_figures(
    mock: str, base: str, seconds: float, *, latency_rounds: int = 6, commits: bool = False
) -> dict[str, Any]:
    """Added latency (alternating batches of 50 sequential requests) and throughput against the mock (alternating
    runs at concurrency 64), each with its run-to-run range; with `commits`, the mean wait of the stored turns for
    their durable commit in each of the two phases."""
    before = commit_wait(base) if commits else (0.0, 0.0)
    latency = await paired_latency(chat(mock), chat(base), rounds=latency_rounds, per_round=50)
    between = commit_wait(base) if commits else (0.0, 0.0)
    rounds = await paired_throughput(chat(mock), chat(base), CONCURRENCY, seconds, rounds=3)
    figures: dict[str, Any] = {
        "direct_latency_ms": statistics.median(direct for direct, _ in latency) * 1000,
        "gateway_latency_ms": statistics.median(gateway for _, gateway in latency) * 1000,
        "added_latency_ms": spread([(gateway - direct) * 1000 for direct, gateway in latency]),
        "throughput_rounds": rounds,
        "direct_rps": statistics.median(direct for direct, _ in rounds),
        "gateway_rps": statistics.median(gateway for _, gateway in rounds),
        "rps_ratio": spread([gateway / direct for direct, gateway in rounds]),
    }
    if commits:
        after = commit_wait(base)
        figures["commit_wait_ms"] = {
            "sequential": _mean_wait(before, between),
            "under_load": _mean_wait(between, after),
        }
    return figures


def commit_wait(base: str) -> tuple[float, float]:
    """(seconds, turns) the gateway's turns have waited for their durable commit so far."""
    text = urllib.request.urlopen(f"{base}/metrics", timeout=10).read().decode()
    total, count = (re.search(rf"^plano_state_commit_seconds_{name} (\S+)$", text, re.M) for name in ("sum", "count"))
    return (float(total[1]), float(count[1])) if total and count else (0.0, 0.0)


async def chat_figures(mock: str, base: str, seconds: float, stored: bool) -> dict[str, Any]:
    """Sections 1-3 for one gateway: each figure on the mock directly and through the gateway, alternating."""
    figures = await paired_figures(mock, base, seconds, commits=stored)
    figures["stream"] = await stream_figures(
        lambda text: chat(mock, text, stream=True), lambda text: chat(base, text, stream=True)
    )
    return figures


def _mean_wait(before: tuple[float, float], after: tuple[float, float]) -> float | None:
    turns = after[1] - before[1]
    return (after[0] - before[0]) / turns * 1000 if turns else None


def resident_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


async def idle_stream_memory(pid: int, target: Target) -> dict[str, Any]:
    """The gateway's resident memory before, and with OPEN_STREAMS idle streams open through it."""
    before = resident_kib(pid)

    async def settled() -> int:
        await asyncio.sleep(1.0)
        return resident_kib(pid)

    started = time.monotonic()
    during = await hold_open_streams(target, OPEN_STREAMS, settled)
    return {
        "streams": OPEN_STREAMS,
        "rss_before_kib": before,
        "rss_open_kib": during,
        "open_seconds": time.monotonic() - started,
        "kb_per_stream": (during - before) * 1024 / OPEN_STREAMS / 1000,
    }


def memory_figures(workdir: Path, mock: str) -> dict[str, Any]:
    """Each path in a gateway of its own, warmed up by a few short streams, so that memory freed by one run cannot
    hide what the next one takes."""
    paths: dict[str, tuple[Callable[[str, str], Target], bool]] = {
        "chat relay": (lambda base, content: chat(base, content, stream=True), False),
        "Responses on Anthropic, stored": (responses, True),
    }
    figures = {}
    for path, (target, stored) in paths.items():
        with gateway(workdir, mock, 1, stored=stored) as (base, pid):
            asyncio.run(stream_timing(target(base, "[[events:20]] warm up"), 10))
            figures[path] = asyncio.run(idle_stream_memory(pid, target(base, IDLE)))
    return figures


def run_litellm(workdir: Path, venv: Path, mock: str, workers: int, seconds: float) -> dict[str, Any]:
    executable = ensure_litellm(venv)
    port = free_port()
    folder = workdir / f"litellm-{workers}"
    folder.mkdir()
    process = start_litellm(executable, f"{mock}/v1", port, folder, workers=workers)
    try:
        wait_litellm_ready(port, timeout=180)
        figures = asyncio.run(paired_figures(mock, f"http://127.0.0.1:{port}", seconds, latency_rounds=2))
        return {**figures, "rps": figures["gateway_rps"]}
    finally:
        stop_process(process)


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.machine()}",
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="plano-bench-"))
    mock_port = free_port()
    mock = f"http://127.0.0.1:{mock_port}"
    results: dict[str, Any] = {"machine": machine(), "chat": {}, "litellm": {}}
    mock_command = [sys.executable, str(SCRIPTS / "mock_upstream.py"), "--port", str(mock_port)]
    with running(mock_command, f"{mock}/v1/models"):
        for workers in sorted({1, args.workers}):
            with gateway(workdir, mock, workers, stored=False) as (base, _):
                print(f"measuring the chat relay with {workers} worker(s) ...", flush=True)
                figures = asyncio.run(chat_figures(mock, base, args.seconds, stored=False))
                results["chat"][f"relay, {workers} worker(s)"] = {**figures, "workers": workers, "stored": False}
        with gateway(workdir, mock, 1, stored=True) as (base, _):
            print("measuring chat turns stored in SQLite and Responses streams on Anthropic ...", flush=True)
            figures = asyncio.run(chat_figures(mock, base, args.seconds, stored=True))
            shipped = "stored in SQLite (shipped config), 1 worker(s)"
            results["chat"][shipped] = {**figures, "workers": 1, "stored": True}
            results["responses_anthropic"] = asyncio.run(
                stream_figures(lambda text: anthropic_messages(mock, text), lambda text: responses(base, text))
            )
        print(f"measuring memory with {OPEN_STREAMS:,} open idle streams ...", flush=True)
        results["memory"] = memory_figures(workdir, mock)
        import bench_depth_instructions  # here, not above: it builds on this module's helpers

        if bench_depth_instructions.available():
            print("counting the gateway's instructions per stateful turn under callgrind ...", flush=True)
            stores = ["memory", "sqlite", "postgres"]
            results["instructions"] = bench_depth_instructions.count_instructions(mock, stores, args.postgres)
        if args.no_litellm:
            results["litellm"] = {"skipped": "--no-litellm"}
        else:
            for workers in sorted({1, args.workers}):
                print(f"measuring LiteLLM's proxy with {workers} worker(s) ...", flush=True)
                results["litellm"][str(workers)] = run_litellm(workdir, args.litellm_venv, mock, workers, args.seconds)
    print("measuring stateful turns ...", flush=True)
    results["state"] = asyncio.run(bench_state.main(args.state_repeats, args.postgres))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="the N of the N-worker runs")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each throughput run")
    parser.add_argument("--state-repeats", type=int, default=500, help="turns timed at each depth")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    parser.add_argument("--no-litellm", action="store_true", help="skip LiteLLM (its budget is then not checked)")
    parser.add_argument(
        "--litellm-venv",
        type=Path,
        default=Path(tempfile.gettempdir()) / "plano-bench-litellm",
        help="throwaway venv LiteLLM is installed into (reused when present)",
    )
    args = parser.parse_args()
    results = run(args)
    rows = budget_rows(results)
    results["rows"] = [row.as_dict() for row in rows]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))
    draw_chart(results, args.out / "results.png")
    (args.out / "results.md").write_text(markdown_table(rows))
    print(format_table(rows))
    print(
        f"raw results: {args.out / 'results.json'}; table: {args.out / 'results.md'}; chart: {args.out / 'results.png'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
