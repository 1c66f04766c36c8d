"""The gateway's own work for a turn at depth 100 against a first turn, counted in instructions, not seconds.

CPU time per turn on a shared virtual machine carries more than the gateway's work: a first turn made to wait 1 ms
longer for its upstream measured about 1.5 times the CPU time of the same turn answered at once, about as much as a
turn at depth 100 (whose upstream takes longer to read its 30 KB body). Valgrind's callgrind counts the instructions
the gateway executes (its own code, the interpreter, the libraries; not the kernel), which is the same for the same
work whatever else the machine is doing.

For each store, the script runs one gateway under callgrind against the mock upstream, builds a chain of 100
turns, warms both depths up, then times nothing: it zeroes the counters, sends ``--turns`` turns continuing the first
response (depth 1), dumps the count, does the same for the 100th response, and repeats that ``--rounds`` times.
The figure is the ratio of the lower count of the rounds at each depth (a round may carry a full garbage collection
the other did not). It needs valgrind (``callgrind_control`` included); PostgreSQL is skipped when none answers at
``--postgres``. `bench.py` runs it too when valgrind is installed.

    python scripts/bench_depth_instructions.py [--turns 30] [--rounds 2] [--stores memory sqlite postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_state
from bench import PLANO_PROXY, running, wait_ready
from litellm_side import free_port, stop_process
from profile_gateway import config_text

CHAIN = 100
TEXT = "fork [[events:20]]"


async def count_turns(base: str, dump: Callable[[], int], turns: int, rounds: int) -> dict[str, list[int]]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:
        chain: list[str] = []
        for depth in range(CHAIN):
            response_id, _ = await bench_state.turn(
                session, base, f"turn {depth} [[events:20]]", chain[-1] if chain else None
            )
            chain.append(response_id)
        targets = {"depth 1": chain[0], f"depth {CHAIN}": chain[-1]}
        for target in targets.values():
            for _ in range(5):
                await bench_state.turn(session, base, TEXT, target)
        counts: dict[str, list[int]] = {name: [] for name in targets}
        for _ in range(rounds):
            for name, target in targets.items():
                dump()  # the counts so far are left out
                for _ in range(turns):
                    await bench_state.turn(session, base, TEXT, target)
                counts[name].append(dump())
    return counts


class Callgrind:
    """A gateway process under callgrind, whose counts are dumped (and zeroed) on demand."""

    def __init__(self, config: Path, port: int, out: Path) -> None:
        self._out = out
        self._dumps = 0
        self.process = subprocess.Popen(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                PLANO_PROXY,
                "serve",
                "--config",
                str(config),
                "--port",
                str(port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def dump(self) -> int:
        """Instructions executed since the last dump."""
        command = ["callgrind_control", "--dump", str(self.process.pid)]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._dumps += 1
        text = Path(f"{self._out}.{self._dumps}").read_text(errors="replace")
        found = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
        if found is None:
            raise RuntimeError(f"no instruction count in callgrind's dump {self._dumps}")
        return int(found[1])


def measure(store: str, mock: str, workdir: Path, postgres: str, turns: int, rounds: int) -> dict[str, list[int]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = workdir / f"{store}.yaml"
    storage = bench_state.storage_yaml(store, workdir / f"{store}.db", postgres, "plano_bench_instructions")
    config.write_text(config_text(mock, storage))
    gateway = Callgrind(config, port, workdir / f"{store}.callgrind")
    try:
        wait_ready(f"{base}/healthz", gateway.process, timeout=300)  # starting under callgrind takes tens of seconds
        return asyncio.run(count_turns(base, gateway.dump, turns, rounds))
    finally:
        stop_process(gateway.process)


def available() -> bool:
    return shutil.which("valgrind") is not None and shutil.which("callgrind_control") is not None


def count_instructions(
    mock: str, stores: list[str], postgres: str, turns: int = 30, rounds: int = 2
) -> list[dict[str, Any]]:
    """Per store: instructions per turn at depth 1 and at depth 100 in each round, and the ratio of the lower of
    each (a round may carry a full garbage collection the other did not); PostgreSQL is left out when it does not
    answer."""
    workdir = Path(tempfile.mkdtemp(prefix="plano-instructions-"))
    results = []
    for store in stores:
        if store == "postgres" and not asyncio.run(bench_state.postgres_reachable(postgres)):
            continue
        counts = measure(store, mock, workdir, postgres, turns, rounds)
        first, deep = ([count / turns for count in counts[name]] for name in counts)
        results.append({"store": store, "first": first, "deep": deep, "ratio": min(deep) / min(first)})
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--turns", type=int, default=30, help="turns counted per depth and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--stores", nargs="+", default=["memory", "sqlite", "postgres"])
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    if not available():
        print("valgrind (with callgrind_control) is not installed")
        return 1
    mock_port = free_port()
    mock = f"http://127.0.0.1:{mock_port}"
    mock_command = [sys.executable, str(Path(__file__).with_name("mock_upstream.py")), "--port", str(mock_port)]
    with running(mock_command, f"{mock}/v1/models"):
        results = count_instructions(mock, args.stores, args.postgres, args.turns, args.rounds)
    print(f"{'store':<9} {'depth 1':>16} {'depth 100':>16} {'ratio':>6}   (instructions per turn, each round)")
    for result in results:
        first, deep = result["first"], result["deep"]
        print(
            f"{result['store']:<9} {min(first) / 1e6:>14.3f} M {min(deep) / 1e6:>14.3f} M {result['ratio']:>5.2f}x"
            f"   ({', '.join(f'{v / 1e6:.3f}' for v in first)} / {', '.join(f'{v / 1e6:.3f}' for v in deep)})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
