"""Stateful Responses turns at depth 1, 10 and 100: gateway time per turn and stored bytes, per store.

Everything runs on loopback in this process: the mock upstream, one gateway per store, and the client. A turn's
gateway time is its latency through the gateway minus the latency of sending the same upstream request (the whole
history, as the gateway sent it) straight to the mock, both as medians over the same number of turns forked from the
response at that depth. Stored bytes are the JSON the store keeps (items plus response records) for one chain. Every
turn asks the mock for a fixed 20-word answer, so a linear store shows a constant number of bytes per turn.

    python scripts/bench_state.py [--repeats 30] [--postgres postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
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

from mock_upstream import REQUESTS, create_mock_app

from plano_proxy.proxy.app import create_app
from plano_proxy.proxy.config import parse_config

DEPTHS = (1, 10, 100)
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


async def bench_store(kind: str, mock_url: str, mock_app: web.Application, repeats: int, dsn: str) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="plano-bench-"))
    schema = f"plano_bench_{secrets.token_hex(4)}"
    text = (
        "model_providers:\n"
        f"  - {{model: openai/gpt-4o-mini, access_key: k, base_url: '{mock_url}/v1', default: true}}\n"
        + storage_yaml(kind, workdir / "state.db", dsn, schema)
    )
    runner, url = await serve(create_app(parse_config(text, {})))
    results: dict[str, Any] = {"store": kind, "depths": {}}
    try:
        async with aiohttp.ClientSession() as session:
            previous = None
            chain: set[str] = set()
            for depth in range(1, max(DEPTHS) + 1):
                if depth in DEPTHS:
                    bytes_before = await stored_bytes(kind, workdir / "state.db", dsn, schema, chain)
                    gateway, upstream = [], []
                    for _ in range(repeats):
                        _, elapsed = await turn(session, url, f"fork at {depth} [[events:20]]", previous)
                        gateway.append(elapsed)
                        sent = mock_app[REQUESTS][-1]
                        upstream.append(await direct(session, mock_url, sent.path, sent.body))
                    results["depths"][depth] = {
                        # Bytes of the chain's first `depth - 1` turns, i.e. what this turn continues.
                        "gateway_ms": (statistics.median(gateway) - statistics.median(upstream)) * 1000,
                        "through_gateway_ms": statistics.median(gateway) * 1000,
                        "direct_ms": statistics.median(upstream) * 1000,
                        "stored_bytes": bytes_before,
                    }
                previous, _ = await turn(session, url, f"turn {depth} [[events:20]]", previous)
                chain.add(previous)
    finally:
        await runner.cleanup()
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
        "store     depth  stored bytes  through gw ms  direct ms  gateway ms",
        "--------  -----  ------------  -------------  ---------  ----------",
    ]
    for result in results:
        for depth, row in result["depths"].items():
            stored = "n/a" if row["stored_bytes"] is None else f"{row['stored_bytes']:,}"
            lines.append(
                f"{result['store']:<8}  {depth:>5}  {stored:>12}  {row['through_gateway_ms']:>13.3f}  "
                f"{row['direct_ms']:>9.3f}  {row['gateway_ms']:>10.3f}"
            )
        first, last = result["depths"][DEPTHS[0]], result["depths"][DEPTHS[-1]]
        lines.append(
            f"{result['store']:<8}  gateway time depth {DEPTHS[-1]} / depth {DEPTHS[0]}: "
            f"{last['gateway_ms'] / first['gateway_ms']:.2f}x"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args()
    outcome = asyncio.run(main(args.repeats, args.postgres))
    print(report(outcome))
    if args.json:
        args.json.write_bytes(orjson.dumps(outcome, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))
