"""scripts/smoke.py against a gateway on the mock upstream: every step passes, and a broken gateway fails the run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support.servers import ServerThread

SMOKE = Path(__file__).resolve().parent.parent / "scripts" / "smoke.py"


def run_smoke(base_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SMOKE), "--base-url", base_url], capture_output=True, text=True, timeout=120
    )


def test_smoke_run_passes_on_every_step(gateway: ServerThread) -> None:
    result = run_smoke(gateway.url)
    assert result.returncode == 0, result.stdout + result.stderr
    steps = [line for line in result.stdout.splitlines() if line.startswith(("ok ", "FAIL"))]
    assert len(steps) == 13 and all(line.startswith("ok ") for line in steps)
    assert "output_item.done function_call" in result.stdout
    assert 'earlier user texts: ["My name is Alice"]' in result.stdout


def test_smoke_run_fails_on_a_gateway_without_state(make_gateway) -> None:
    """Without state storage the first stateful step fails, and the run says so with exit code 1."""
    result = run_smoke(make_gateway(None).url)
    assert result.returncode == 1
    assert "FAIL responses, state from Claude to GPT" in result.stdout
