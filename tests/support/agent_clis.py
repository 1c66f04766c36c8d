"""The agent CLIs (Codex CLI, Claude Code) installed from npm at the versions pinned in tests/agent_clis, and run
non-interactively against a gateway, each in a home of its own so nothing of the machine's user leaks in."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

PINS = Path(__file__).resolve().parents[1] / "agent_clis"
INSTALL_DIR = Path(__file__).resolve().parents[2] / ".venv" / "agent-clis"
REQUIRE_ENV = "PLANO_REQUIRE_AGENT_CLIS"
TIMEOUT = 180


def installed_bin(name: str) -> Path:
    """The pinned CLI's executable, installed with `npm ci` on first use (or when the pins changed)."""
    lock = PINS / "package-lock.json"
    installed_lock = INSTALL_DIR / "package-lock.json"
    if shutil.which("npm") is None:
        message = "npm is not installed: the agent CLI tests need Node.js and npm"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(message)
        pytest.skip(message)
    binary = INSTALL_DIR / "node_modules" / ".bin" / name
    if not binary.exists() or not installed_lock.exists() or installed_lock.read_bytes() != lock.read_bytes():
        INSTALL_DIR.mkdir(parents=True, exist_ok=True)
        for pin in ("package.json", "package-lock.json"):
            shutil.copy(PINS / pin, INSTALL_DIR / pin)
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=INSTALL_DIR,
            check=True,
            capture_output=True,
            timeout=600,
        )
    return binary


@dataclass(frozen=True, slots=True)
class Session:
    """What one non-interactive CLI session did: the commands its tool calls ran, their output, and the last answer."""

    model: str
    commands: list[str]
    tool_outputs: list[str]
    answer: str
    transcript: list[dict[str, Any]]


def run_codex(gateway_url: str, model: str, prompt: str, home: Path, workdir: Path) -> Session:
    """`codex exec --json` on the Responses API of the gateway, as a Codex user configures a custom provider."""
    (home / "config.toml").write_text(
        f'model = "{model}"\n'
        'model_provider = "plano"\n'
        "[model_providers.plano]\n"
        'name = "plano"\n'
        f'base_url = "{gateway_url}/v1"\n'
        'env_key = "PLANO_TEST_KEY"\n'
        'wire_api = "responses"\n'
    )
    env = {**_base_env(home), "CODEX_HOME": str(home), "PLANO_TEST_KEY": "test-key"}
    command = [str(installed_bin("codex")), "exec", "--json", "--skip-git-repo-check", prompt]
    events = _json_lines(_run(command, env, workdir))
    runs = [e["item"] for e in events if e.get("type") == "item.completed" and e["item"]["type"] == "command_execution"]
    answers = [
        e["item"]["text"] for e in events if e.get("type") == "item.completed" and e["item"]["type"] == "agent_message"
    ]
    return Session(
        model=model,
        commands=[item["command"] for item in runs],
        tool_outputs=[item["aggregated_output"] for item in runs],
        answer=answers[-1] if answers else "",
        transcript=events,
    )


def run_claude_code(gateway_url: str, model: str, prompt: str, home: Path, workdir: Path) -> Session:
    """`claude -p` with the gateway as ANTHROPIC_BASE_URL, its Bash tool allowed for `echo` only."""
    env = {
        **_base_env(home),
        "ANTHROPIC_BASE_URL": gateway_url,
        "ANTHROPIC_API_KEY": "test-key",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
    }
    command = [
        str(installed_bin("claude")),
        "-p",
        prompt,
        "--model",
        model,
        "--allowedTools",
        "Bash(echo:*)",
        "--output-format",
        "stream-json",
        "--verbose",
    ]
    events = _json_lines(_run(command, env, workdir))
    blocks = [
        (event["type"], block)
        for event in events
        if event.get("type") in ("assistant", "user")
        for block in event["message"]["content"]
        if isinstance(block, dict)
    ]
    results = [event for event in events if event.get("type") == "result"]
    return Session(
        model=model,
        commands=[block["input"].get("command", "") for kind, block in blocks if block.get("type") == "tool_use"],
        tool_outputs=[str(block.get("content")) for kind, block in blocks if block.get("type") == "tool_result"],
        answer=str(results[-1].get("result", "")) if results else "",
        transcript=events,
    )


def _base_env(home: Path) -> dict[str, str]:
    return {"HOME": str(home), "PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8", "NO_COLOR": "1"}


def _run(command: list[str], env: dict[str, str], workdir: Path) -> str:
    done = subprocess.run(command, env=env, cwd=workdir, capture_output=True, text=True, timeout=TIMEOUT)
    if done.returncode != 0:
        raise AssertionError(f"{command[0]} exited with {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _json_lines(output: str) -> list[dict[str, Any]]:
    events = []
    for line in output.splitlines():
        if line.startswith("{"):
            events.append(json.loads(line))
    return events
