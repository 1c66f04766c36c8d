"""Stateful Responses turns at depth 1, 10 and 100: gateway time per turn and stored bytes, per store.

The mock upstream and the client run in this process; each store gets a `plano-proxy serve` process of its own, all
on loopback. At each depth the client sends `--repeats` turns forked from the chain's response at that depth, and two
figures are taken:

- gateway CPU time per turn: the CPU the gateway process (all its threads) used over those turns, divided by their
  number. It is taken in `ROUNDS` rounds that alternate the depths, and the depth-100 / depth-1 ratio of each round
  gives the ratio's median and run-to-run range. The same rounds take a control: depth-1 turns whose upstream answers
  1 ms later (the mock's ``slow-first-byte`` fault), the same work for the gateway. On a shared virtual machine,
  CPU time grows with the time spent waiting (waking a process that slept longer costs more), so where the control's
  ratio comes near the depth ratio, the depth ratio is mostly waiting, not work (`bench_depth_instructions.py`
  counts the work itself);
- added latency: the median latency through the gateway minus the median latency of sending the same upstream
  request (the whole history, as the gateway sent it) straight to the mock.

Stored bytes are the JSON the store keeps (items plus response records) for one chain. Every turn asks the mock for a
fixed 20-word answer, so a linear store shows a constant number of bytes per turn.

    python scripts/bench_state.py [--repeats 500] [--postgres postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_http import spread
from litellm_side import free_port, stop_process
from mock_upstream import REQUESTS, create_mock_app

PLANO_PROXY = str(Path(sys.executable).with_name("plano-proxy"))

DEPTHS = (1, 10, 100)
WAITED = "fork at 1 [[events:20]] [[fault:slow-first-byte:1]]"
"""The control: a depth-1 turn whose upstream answers 1 ms later."""
JSON = {"Content-Type": "application/json"}
ITEM_BYTES = "SELECT response_id, LENGTH(body) FROM items"
RESPONSE_BYTES = "SELECT id, LENGTH(request) + LENGTH(output) + COALESCE(LENGTH(usage), 0) FROM responses"


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def turn(session: aiohttp.ClientSession, url: str, text: str, previous: str | None) -> tuple[str, float]:
    body: dict[str, Any] = {"model": "gpt-4o-mini", "input": text}
    if previous:
        body["previous_response_id"] = previous
    started = time.perf_counter()
    async with session.post(f"{url}/v1/responses", data=orjson.dumps(body), headers=JSON) as response:
        payload = await response.json(loads=orjson.loads)
        if response.status != 200:
            raise RuntimeError(f"turn failed: {response.status} {payload}")
    return payload["id"], time.perf_counter() - started


async def direct(session: aiohttp.ClientSession, mock_url: str, path: str, body: dict[str, Any]) -> float:
    """The same upstream request the gateway just made, sent straight to the mock."""
    started = time.perf_counter()
    async with session.post(f"{mock_url}{path}", data=orjson.dumps(body), headers=JSON) as response:
        await response.read()
        if response.status != 200:
            raise RuntimeError(f"direct call failed: {response.status}")
    return time.perf_counter() - started


async def stored_bytes(kind: str, path: Path, dsn: str, schema: str, chain: set[str]) -> int | None:
    """Bytes of JSON kept for the responses of one chain (forks made for timing are left out)."""
    if kind == "sqlite":
        import sqlite3

        with sqlite3.connect(path) as conn:
            rows = conn.execute(ITEM_BYTES).fetchall() + conn.execute(RESPONSE_BYTES).fetchall()
    elif kind == "postgres":
        conn = await asyncpg.connect(dsn, server_settings={"search_path": schema})
        try:
            rows = [tuple(r) for r in await conn.fetch(ITEM_BYTES)] + [
                tuple(r) for r in await conn.fetch(RESPONSE_BYTES)
            ]
        finally:
            await conn.close()
    else:
        return None
    return sum(size for owner, size in rows if owner in chain)


def storage_yaml(kind: str, path: Path, dsn: str, schema: str) -> str:
    if kind == "memory":
        return "state_storage: {type: memory}\n"
    if kind == "sqlite":
        return f"state_storage: {{type: sqlite, path: '{path}'}}\n"
    return f"state_storage: {{type: postgres, connection_string: '{dsn}', schema: {schema}}}\n"


def cpu_seconds(pid: int) -> float:
    """CPU time of a process, all its threads included: the nanoseconds each thread has run (``schedstat``), summed.
    The clock ticks of ``/proc/<pid>/stat`` come in 10 ms, too coarse for a round of a few hundred milliseconds."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # a thread that ended meanwhile
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


async def wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(400):
            if process.poll() is not None:
                raise RuntimeError(f"plano-proxy exited with {process.returncode}")
            try:
                async with session.get(f"{url}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


ROUNDS = 5
"""The depths are measured in this many alternating rounds, so that drift over the run falls on all of them alike."""


async def measure_depths(
    session: aiohttp.ClientSession,
    url: str,
    pid: int,
    mock_url: str,
    mock_app: web.Application,
    forked_from: dict[int, str | None],
    repeats: int,
) -> tuple[dict[int, dict[str, float]], list[float]]:
    """Turns forked from the chain's response at each depth: the gateway's CPU per turn and its added latency; and
    the CPU per turn of the control, one figure per round."""
    cpu: dict[int, list[float]] = {depth: [] for depth in DEPTHS}
    """CPU milliseconds per turn, one figure per round."""
    waited: list[float] = []
    through: dict[int, list[float]] = {depth: [] for depth in DEPTHS}
    sent = {}
    for depth in DEPTHS:  # warm-up, and the upstream request each depth makes
        for _ in range(20):
            await turn(session, url, f"fork at {depth} [[events:20]]", forked_from[depth])
        sent[depth] = mock_app[REQUESTS][-1]
    per_round = repeats // ROUNDS
    for _ in range(ROUNDS):
        for depth in DEPTHS:
            before = cpu_seconds(pid)
            for _ in range(per_round):
                through[depth].append(
                    (await turn(session, url, f"fork at {depth} [[events:20]]", forked_from[depth]))[1]
                )
            cpu[depth].append((cpu_seconds(pid) - before) / per_round * 1000)
        before = cpu_seconds(pid)
        for _ in range(per_round):
            await turn(session, url, WAITED, forked_from[DEPTHS[0]])
        waited.append((cpu_seconds(pid) - before) / per_round * 1000)
    figures = {}
    for depth in DEPTHS:
        straight = [await direct(session, mock_url, sent[depth].path, sent[depth].body) for _ in range(200)]
        figures[depth] = {
            "gateway_cpu_ms": statistics.median(cpu[depth]),
            "cpu_rounds_ms": cpu[depth],
            "gateway_ms": (statistics.median(through[depth]) - statistics.median(straight)) * 1000,
            "through_gateway_ms": statistics.median(through[depth]) * 1000,
            "direct_ms": statistics.median(straight) * 1000,
        }
    return figures, waited


async def bench_store(kind: str, mock_url: str, mock_app: web.Application, repeats: int, dsn: str) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="plano-bench-"))
    schema = f"plano_bench_{secrets.token_hex(4)}"
    config = workdir / "plano_config.yaml"
    config.write_text(
        "model_providers:\n"
        f"  - {{model: openai/gpt-4o-mini, access_key: k, base_url: '{mock_url}/v1', default: true}}\n"
        + storage_yaml(kind, workdir / "state.db", dsn, schema)
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [PLANO_PROXY, "serve", "--config", str(config), "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results: dict[str, Any] = {"store": kind, "depths": {}}
    try:
        await wait_healthy(url, process)
        async with aiohttp.ClientSession() as session:
            previous = None
            chain: set[str] = set()
            forked_from: dict[int, str | None] = {}
            stored: dict[int, int | None] = {}
            for depth in range(1, max(DEPTHS) + 1):
                if depth in DEPTHS:
                    # Bytes of the chain's first `depth - 1` turns, i.e. what a turn at this depth continues.
                    stored[depth] = await stored_bytes(kind, workdir / "state.db", dsn, schema, chain)
                    forked_from[depth] = previous
                previous, _ = await turn(session, url, f"turn {depth} [[events:20]]", previous)
                chain.add(previous)
            figures, waited = await measure_depths(session, url, process.pid, mock_url, mock_app, forked_from, repeats)
            results["depths"] = {depth: {**figures[depth], "stored_bytes": stored[depth]} for depth in DEPTHS}
            first, last = figures[DEPTHS[0]]["cpu_rounds_ms"], figures[DEPTHS[-1]]["cpu_rounds_ms"]
            results["cpu_ratio"] = spread([deep / shallow for shallow, deep in zip(first, last, strict=True)])
            results["waited_cpu_ms"] = statistics.median(waited)
            results["waited_ratio"] = spread([slow / fast for fast, slow in zip(first, waited, strict=True)])
    finally:
        stop_process(process)
        if kind == "postgres":
            conn = await asyncpg.connect(dsn)
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            await conn.close()
    return results


async def postgres_reachable(dsn: str) -> bool:
    try:
        conn = await asyncpg.connect(dsn, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


async def main(repeats: int, dsn: str) -> list[dict[str, Any]]:
    mock_app = create_mock_app()
    mock_runner, mock_url = await serve(mock_app)
    kinds = ["memory", "sqlite"] + (["postgres"] if await postgres_reachable(dsn) else [])
    try:
        return [await bench_store(kind, mock_url, mock_app, repeats, dsn) for kind in kinds]
    finally:
        await mock_runner.cleanup()


def report(results: list[dict[str, Any]]) -> str:
    lines = [
        "store     depth  stored bytes  gateway cpu ms  through gw ms  direct ms  added ms",
        "--------  -----  ------------  --------------  -------------  ---------  --------",
    ]
    for result in results:
        for depth, row in result["depths"].items():
            stored = "n/a" if row["stored_bytes"] is None else f"{row['stored_bytes']:,}"
            lines.append(
                f"{result['store']:<8}  {depth:>5}  {stored:>12}  {row['gateway_cpu_ms']:>14.3f}  "
                f"{row['through_gateway_ms']:>13.3f}  {row['direct_ms']:>9.3f}  {row['gateway_ms']:>8.3f}"
            )
        ratio, waited = result["cpu_ratio"], result["waited_ratio"]
        lines.append(
            f"{result['store']:<8}  gateway CPU per turn, depth {DEPTHS[-1]} / depth {DEPTHS[0]}: "
            f"{ratio['median']:.2f}x (rounds {ratio['low']:.2f}-{ratio['high']:.2f}x); control, depth {DEPTHS[0]} "
            f"answered 1 ms later / depth {DEPTHS[0]}: {waited['median']:.2f}x "
            f"({waited['low']:.2f}-{waited['high']:.2f}x)"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeats", type=int, default=500, help=f"turns timed at each depth, at least {ROUNDS} (default: 500)"
    )
    parser.add_argument(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="PostgreSQL to measure too, skipped when it does not answer (default: %(default)s)",
    )
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args()
    if args.repeats < ROUNDS:
        parser.error(f"--repeats must be at least {ROUNDS}: the depths are timed in {ROUNDS} alternating rounds")
    outcome = asyncio.run(main(args.repeats, args.postgres))
    print(report(outcome))
    if args.json:
        args.json.write_bytes(orjson.dumps(outcome, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))
