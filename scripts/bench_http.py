"""Client-side measurements for the benchmark: latency, throughput, stream timing and open idle streams.

Every function takes a full URL and a JSON body, so the same measurement runs against the mock upstream directly,
the gateway and LiteLLM's proxy. All of it is loopback-only and bounded in requests or time. The paired measurements
alternate between the two targets in rounds, so that a slow spell of a shared machine falls on both, and give one
figure per round: `spread` makes the median and the run-to-run range of those.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import orjson

JSON = {"Content-Type": "application/json"}
Measured = TypeVar("Measured")


@dataclass(frozen=True, slots=True)
class Target:
    """One endpoint to measure: where to send, what to send, and the bytes that mark the first token in its stream."""

    url: str
    body: dict[str, Any]
    headers: dict[str, str]
    first_token: bytes = b""


def spread(runs: list[float]) -> dict[str, Any]:
    """A figure taken in several runs: their median, the lowest and the highest, and the runs themselves."""
    return {"median": statistics.median(runs), "low": min(runs), "high": max(runs), "runs": runs}


async def _one(session: aiohttp.ClientSession, target: Target) -> float:
    started = time.perf_counter()
    async with session.post(target.url, data=orjson.dumps(target.body), headers=target.headers) as response:
        await response.read()
        if response.status != 200:
            raise RuntimeError(f"{target.url} answered {response.status}")
    return time.perf_counter() - started


async def paired_latency(direct: Target, gateway: Target, rounds: int, per_round: int) -> list[tuple[float, float]]:
    """(direct, gateway) median seconds of sequential requests in each round, the two taken in alternating batches
    on one kept-alive connection each."""
    async with aiohttp.ClientSession() as to_direct, aiohttp.ClientSession() as to_gateway:
        for _ in range(20):
            await _one(to_direct, direct)
            await _one(to_gateway, gateway)
        medians = []
        for _ in range(rounds):
            direct_times = [await _one(to_direct, direct) for _ in range(per_round)]
            gateway_times = [await _one(to_gateway, gateway) for _ in range(per_round)]
            medians.append((statistics.median(direct_times), statistics.median(gateway_times)))
    return medians


async def paired_throughput(
    direct: Target, gateway: Target, concurrency: int, seconds: float, rounds: int
) -> list[tuple[float, float]]:
    """(direct, gateway) requests per second for each of `rounds` alternating runs."""
    return [
        (await throughput(direct, concurrency, seconds), await throughput(gateway, concurrency, seconds))
        for _ in range(rounds)
    ]


async def throughput(target: Target, concurrency: int, seconds: float) -> float:
    """Completed requests per second with `concurrency` clients sending back to back for `seconds`."""
    done = 0
    deadline = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(_one(session, target) for _ in range(concurrency)))

        async def client() -> None:
            nonlocal done
            while time.monotonic() < deadline:
                await _one(session, target)
                done += 1

        started = time.monotonic()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        return done / (time.monotonic() - started)


async def stream_timing(target: Target, repeats: int) -> tuple[float, float]:
    """Median seconds to the first token and median seconds to the end of the stream."""
    firsts, totals = [], []
    async with aiohttp.ClientSession() as session:
        for _ in range(repeats + 2):
            started = time.perf_counter()
            first = None
            async with session.post(target.url, data=orjson.dumps(target.body), headers=target.headers) as response:
                if response.status != 200:
                    raise RuntimeError(f"{target.url} answered {response.status}")
                async for line in response.content:
                    if first is None and target.first_token in line:
                        first = time.perf_counter() - started
            if first is None:
                raise RuntimeError(f"{target.url}: no first token in the stream")
            totals.append(time.perf_counter() - started)
            firsts.append(first)
    # The first two streams warm the connections up and are left out.
    return statistics.median(firsts[2:]), statistics.median(totals[2:])


async def hold_open_streams(target: Target, count: int, measure: Callable[[], Awaitable[Measured]]) -> Measured:
    """Opens `count` streams at once, waits for each one's first bytes, calls `measure()` while all are open and idle,
    then closes them all and returns what `measure()` returned."""
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:
        responses: list[aiohttp.ClientResponse] = []

        async def open_one() -> None:
            response = await session.post(target.url, data=orjson.dumps(target.body), headers=target.headers)
            responses.append(response)
            if response.status != 200:
                raise RuntimeError(f"{target.url} answered {response.status}")
            await response.content.readany()

        try:
            await asyncio.gather(*(open_one() for _ in range(count)))
            return await measure()
        finally:
            for response in responses:
                response.close()
