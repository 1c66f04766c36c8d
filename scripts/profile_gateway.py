"""Where one gateway process spends its time on one path, sampled with py-spy while a client drives that path.

It starts the mock upstream and `plano-proxy serve` (one worker) on loopback, warms the path up, then records the
gateway with ``py-spy record --threads`` while the load runs, and prints the functions that take most samples: their
own samples (the frame on top) and their inclusive samples (anywhere on the stack), as shares of the busy samples of
each thread (the event loop, the SQLite writer ...). The raw profile is kept for a flame graph.

Paths:

- ``relay``: non-streaming chat at concurrency 64, no state storage (the byte relay);
- ``stored``: the same with SQLite state storage, as the shipped configuration stores every chat turn;
- ``responses-anthropic``: streamed Responses turns on a Claude model (20 events), stored in SQLite, concurrency 16;
- ``depth-100``: Responses turns continuing the 100th turn of one chain on the memory store, one at a time;
- ``depth-1``: the same, continuing the chain's first turn: its profile beside depth-100's shows what depth adds.

``--store`` puts the stored paths on another store (``memory``, ``sqlite``, ``postgres``).

py-spy is not a dependency of the project: ``pip install py-spy`` into any environment and pass ``--py-spy``, or have
it on PATH. It needs the right to trace the gateway (root, or ``ptrace_scope`` 0). It samples with ``--nonblocking``:
by default py-spy stops the process for every sample, which over-counts system calls (``os.urandom`` showed up at
6 % of the samples that way, and making it ten times rarer saved no measurable CPU).

    python scripts/profile_gateway.py stored [--seconds 10] [--out profiles] [--py-spy PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_state
from bench import PLANO_PROXY, chat, responses, running
from bench_http import throughput
from litellm_side import free_port, stop_process

PATHS = ("relay", "stored", "responses-anthropic", "depth-100", "depth-1")


def config_text(mock: str, storage: str) -> str:
    return (
        "model_providers:\n"
        f"  - {{model: openai/gpt-4o-mini, access_key: k, base_url: '{mock}/v1', default: true}}\n"
        f"  - {{model: anthropic/claude-sonnet-4-5, access_key: k, base_url: '{mock}'}}\n" + storage
    )


def storage_for(path: str, store: str | None, workdir: Path, postgres: str) -> str:
    """No storage for the relay; else the store asked for, by default the memory store for the depth paths and SQLite
    (the shipped configuration's) for the others."""
    if path == "relay":
        return ""
    kind = store or ("memory" if path.startswith("depth-") else "sqlite")
    return bench_state.storage_yaml(kind, workdir / "state.db", postgres, "plano_profile")


async def depth_load(base: str, seconds: float, depth: int) -> None:
    """Build a chain of 100 turns, then continue its response at `depth` (1 or 100), one turn at a time, until time
    is up."""
    async with aiohttp.ClientSession() as session:
        chain: list[str] = []
        for turn in range(100):
            response_id, _ = await bench_state.turn(
                session, base, f"turn {turn} [[events:20]]", chain[-1] if chain else None
            )
            chain.append(response_id)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            await bench_state.turn(session, base, f"fork at {depth} [[events:20]]", chain[depth - 1])


def load_for(path: str, base: str, concurrency: int) -> Callable[[float], Awaitable[object]]:
    if path == "responses-anthropic":
        return lambda seconds: throughput(responses(base, "[[events:20]] go"), 16, seconds)
    if path.startswith("depth-"):
        depth = int(path.removeprefix("depth-"))
        return lambda seconds: depth_load(base, seconds, depth)
    return lambda seconds: throughput(chat(base), concurrency, seconds)


async def record(spy: str, pid: int, load: Callable[[float], Awaitable[object]], seconds: float, out: Path) -> None:
    await load(2.0)  # warm-up (the depth-100 load also builds its chain here)
    command = [
        spy,
        "record",
        "-p",
        str(pid),
        "-d",
        str(int(seconds)),
        "-r",
        "200",
        "--threads",
        "--nonblocking",
        "-f",
        "raw",
    ]
    sampler = subprocess.Popen([*command, "-o", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        await load(seconds + 1.0)
    finally:
        _, errors = sampler.communicate(timeout=60)
    if sampler.returncode != 0:
        raise RuntimeError(f"py-spy failed: {errors.decode(errors='replace')}")


def summarize(raw: Path, top: int) -> str:
    """Per thread: busy samples, then the top functions by own and by inclusive samples."""
    own: dict[str, Counter[str]] = defaultdict(Counter)
    inclusive: dict[str, Counter[str]] = defaultdict(Counter)
    busy: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        thread = next((frame for frame in frames if frame.startswith("thread ")), "thread ?")
        frames = [frame for frame in frames if not frame.startswith(("thread ", "process "))]
        if not frames:
            continue
        samples = int(count)
        busy[thread] += samples
        own[thread][_short(frames[-1])] += samples
        for name in {_short(frame) for frame in frames}:
            inclusive[thread][name] += samples
    lines = []
    for thread, total in busy.most_common():
        lines.append(f"\n{thread}: {total} busy samples")
        for title, counts in (("own", own[thread]), ("inclusive", inclusive[thread])):
            lines.append(f"  top {top} by {title} samples:")
            lines += [f"    {n / total:6.1%}  {name}" for name, n in counts.most_common(top)]
    return "\n".join(lines)


def _short(frame: str) -> str:
    """``name (path/to/module.py:12)`` → ``name (module.py)``: the line number would split one function in many."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rpartition(':')[0].rpartition('/')[2]})"


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("path", choices=PATHS)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--store",
        choices=("memory", "sqlite", "postgres"),
        help="default: memory for the depth paths, sqlite otherwise",
    )
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--py-spy", default="py-spy", dest="spy")
    parser.add_argument("--out", type=Path, default=Path("profiles"))
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--concurrency", type=int, default=64, help="clients of the chat paths")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="plano-profile-"))
    mock_port, port = free_port(), free_port()
    mock, base = f"http://127.0.0.1:{mock_port}", f"http://127.0.0.1:{port}"
    config = workdir / "plano_config.yaml"
    config.write_text(config_text(mock, storage_for(args.path, args.store, workdir, args.postgres)))
    args.out.mkdir(parents=True, exist_ok=True)
    raw = args.out / f"{args.path}.txt"
    mock_command = [sys.executable, str(Path(__file__).with_name("mock_upstream.py")), "--port", str(mock_port)]
    with running(mock_command, f"{mock}/v1/models"):
        serve = [PLANO_PROXY, "serve", "--config", str(config), "--port", str(port)]
        gateway = subprocess.Popen(serve, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            asyncio.run(bench_state.wait_healthy(base, gateway))
            asyncio.run(record(args.spy, gateway.pid, load_for(args.path, base, args.concurrency), args.seconds, raw))
        finally:
            stop_process(gateway)
    summary = summarize(raw, args.top)
    (args.out / f"{args.path}.summary.txt").write_text(summary + "\n")
    print(summary)
    print(f"\nraw profile (collapsed stacks, for a flame graph): {raw}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
