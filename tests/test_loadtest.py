"""The load-test tool: a short bounded scenario against a real gateway process and mock upstream, plus its helpers."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
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
    options = LoadTestOptions(base_url=gateway_process.url, users=4, turns=3, mode=mode, stream=stream, rate=100)
    result = asyncio.run(run_loadtest(options))
    assert len(result.samples) == 12 and not result.errors
    assert all(s.ttft is not None for s in result.samples) == stream
    assert re.search(r"requests per user min / max +3 / 3", summary(result))
    assert re.search(r"requests +12 in 4 conversations", summary(result))


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
            "--json",
            str(tmp_path / "r.json"),
            "--png",
            str(tmp_path / "r.png"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "throughput" in result.stdout and "ttft p50" in result.stdout
    assert re.search(r"\[#{30}\] 100% 6/6 requests, 0 errors", result.stderr.rsplit("\r", 1)[-1])
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


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "loadtest.py"), *args], capture_output=True, text=True, timeout=60
    )


def test_duration_is_honoured_with_new_conversations(gateway_process: GatewayProcess) -> None:
    """With --duration the users keep starting new conversations until the time is up; the bar ends at 100 %."""
    started = time.monotonic()
    result = run_script(
        "--base-url", gateway_process.url, "--users", "2", "--turns", "2", "--rate", "20", "--duration", "2"
    )
    took = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert 2 <= took < 10
    requests, conversations = map(int, re.search(r"requests +(\d+) in (\d+) conversations", result.stdout).groups())
    assert requests >= 20 and conversations >= requests // 2
    assert re.search(r"\[#{30}\] 100% \d+ requests, 0 errors", result.stderr.rsplit("\r", 1)[-1])


def test_errors_by_status_and_reason_fail_the_run(gateway_process: GatewayProcess) -> None:
    """Failed requests are counted by status, reason and error code, with no NaN latencies, and make the exit status
    1 unless --allow-errors."""
    args = ("--base-url", gateway_process.url, "--users", "2", "--turns", "2", "--model", "no-such-model")
    failed = run_script(*args)
    assert failed.returncode == 1
    assert re.search(r"error: HTTP 400 Bad Request: model_not_found +4", failed.stdout)
    assert re.search(r"latency p50 / p90 / p99 / max +n/a \(no request succeeded\)", failed.stdout)
    assert "nan" not in failed.stdout
    assert "4 requests failed" in failed.stderr
    assert run_script(*args, "--allow-errors").returncode == 0


def test_every_flag_has_help_with_its_default() -> None:
    """--help describes every flag and names its default."""
    text = run_script("--help").stdout
    entries = re.split(r"\n  (?=-)", text.split("options:", 1)[1])[1:]
    flags = {entry.split()[0]: " ".join(entry.split()) for entry in entries}
    assert len(flags) == 16 and "--fail-on-error" not in flags
    for flag, entry in flags.items():
        assert flag == "-h," or re.search(r" [a-z(][^(]* \(default: [^)]+\)$", entry), entry
