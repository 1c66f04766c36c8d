"""What acknowledged-means-durable costs on this machine, part by part: the disk's fdatasync, a hop to a thread and
back, and a commit through the SQLite committer process at each ``synchronous`` setting (the gap between FULL and
OFF is the fsync, OFF itself the hops and the insert).

    python scripts/bench_commit.py [--commits 400]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import uvloop

from plano_proxy.storage.sql_executor import execute
from plano_proxy.storage.sqlite_committer import SqliteCommitter
from plano_proxy.storage.threads import ThreadRunner

ROW = b"x" * 1500
"""About the size of a recorded chat turn."""


def median_us(times: list[float]) -> str:
    ordered, tenth = sorted(times), len(times) // 10
    low, high = ordered[tenth] * 1e6, ordered[-tenth - 1] * 1e6
    return f"{statistics.median(ordered) * 1e6:5.0f} µs median (p10 {low:.0f}, p90 {high:.0f})"


async def timed(step: Callable[[], Awaitable[object]], count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        await step()
        times.append(time.perf_counter() - started)
    return times[count // 10 :]  # the first tenth warms up


def fdatasync_times(folder: Path, count: int) -> list[float]:
    fd = os.open(folder / "appended", os.O_CREAT | os.O_WRONLY)
    times = []
    try:
        for _ in range(count):
            os.write(fd, b"x" * 4096)
            started = time.perf_counter()
            os.fdatasync(fd)
            times.append(time.perf_counter() - started)
    finally:
        os.close(fd)
    return times


async def committer_times(folder: Path, synchronous: str, count: int) -> list[float]:
    path = folder / f"{synchronous}.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE turns (id INTEGER PRIMARY KEY, body BLOB)")
    committer = SqliteCommitter(str(path), synchronous=synchronous, busy_timeout=5.0)
    await committer.start()
    rows = iter(range(count))
    try:
        return await timed(
            lambda: committer.commit([execute("INSERT INTO turns (id, body) VALUES (?, ?)", next(rows), ROW)]), count
        )
    finally:
        await committer.close()


async def main(commits: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="plano-commit-"))
    print(f"fdatasync after a 4 KiB append       {median_us(fdatasync_times(folder, commits))}")
    threads = ThreadRunner(1, "hop")
    print(f"thread hop and back                  {median_us(await timed(lambda: threads.run(lambda: None), commits))}")
    threads.shutdown()
    for synchronous in ("FULL", "NORMAL", "OFF"):
        times = await committer_times(folder, synchronous, commits)
        print(f"committer round trip, {synchronous:<6}         {median_us(times)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--commits", type=int, default=400)
    uvloop.run(main(parser.parse_args().commits))
