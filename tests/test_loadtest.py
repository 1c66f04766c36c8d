"""The load-test tool: a short bounded scenario against a real gateway process and mock upstream, plus its helpers."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from loadtest import LoadTestOptions, Pacer, percentile, run_loadtest, summary
from support.gateway import gateway_config_text
from support.processes import GatewayProcess, free_port
from support.servers import ServerThread

ROOT = Path(__file__).resolve().parent.parent


def test_percentile_nearest_rank() -> None:
    """Nearest-rank percentiles over unsorted values."""
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert [percentile(values, f) for f in (0.2, 0.5, 0.9, 1.0)] == [1.0, 3.0, 5.0, 5.0]
    assert percentile([], 0.5) != percentile([], 0.5)  # NaN


def test_pacer_is_open_loop() -> None:
    """At 10 req/s the k-th request is due k/10 s after the start, regardless of when the others ran."""
    now = [100.0]
    pacer = Pacer(10, clock=lambda: now[0])
    assert pacer.delay() == 0.0
    assert pacer.delay() == pytest.approx(0.1)
    now[0] = 100.5
    assert pacer.delay() == 0.0
    assert Pacer(0).delay() == 0.0


@pytest.fixture
def gateway_process(tmp_path: Path, mock_upstream: ServerThread):
    config = tmp_path / "plano_config.yaml"
    config.write_text(
        gateway_config_text(mock_upstream.url, f"state_storage: {{type: sqlite, path: '{tmp_path / 's.db'}'}}\n")
    )
    gateway = GatewayProcess(config)
    yield gateway
    gateway.stop()


@pytest.mark.parametrize(
    ("mode", "stream"), [("previous", False), ("previous", True), ("conversation", True), ("conversation", False)]
)
def test_short_scenario(gateway_process: GatewayProcess, mode: str, stream: bool) -> None:
    """4 users × 3 turns complete without errors; streaming runs report time to first token."""
    options = LoadTestOptions(
        base_url=gateway_process.url, users=4, turns=3, mode=mode, stream=stream, rate=100, duration=20
    )
    result = asyncio.run(run_loadtest(options))
    assert len(result.samples) == 12 and not result.errors
    assert all(s.ttft is not None for s in result.samples) == stream
    assert re.search(r"turns per user min / max +3 / 3", summary(result))


def test_command_line_writes_json_and_png(gateway_process: GatewayProcess, tmp_path: Path) -> None:
    """The script runs bounded, prints the summary, and writes the raw JSON and a PNG histogram."""
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "loadtest.py"),
            "--base-url",
            gateway_process.url,
            "--users",
            "3",
            "--turns",
            "2",
            "--stream",
            "--duration",
            "20",
            "--json",
            str(tmp_path / "r.json"),
            "--png",
            str(tmp_path / "r.png"),
            "--fail-on-error",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "throughput" in result.stdout and "ttft p50" in result.stdout
    assert len(json.loads((tmp_path / "r.json").read_text())["samples"]) == 6
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_refuses_remote_targets() -> None:
    """A non-loopback URL is refused unless --allow-remote is given."""
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "loadtest.py"),
            "--base-url",
            "http://example.com:12000",
            "--duration",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "not loopback" in result.stderr
    assert free_port() > 0
