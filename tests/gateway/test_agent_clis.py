"""The agent CLIs people put behind a gateway, as they ship today (pinned in tests/agent_clis), each running one
non-interactive session through the gateway with SQLite state: the model asks for a shell command, the CLI runs it
and sends the result back, the model answers. Each CLI on an OpenAI model and on an Anthropic model; the mock
provider's records show it heard the user's text and the tool's output.

Run with ``-s`` to see each session's transcript (model, command, tool output, final answer)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mock_upstream import REQUESTS, Heard, heard_from_anthropic, heard_from_chat, heard_from_responses
from support.agent_clis import Session, run_claude_code, run_codex
from support.servers import ServerThread

MARKER = "plano-tool-ran"
COMMAND = f'[[call:{{tool}} {{{{"{{argument}}": "echo {MARKER}"}}}}]]'
READERS: dict[str, Callable[[dict[str, Any]], Heard]] = {
    "/v1/chat/completions": heard_from_chat,
    "/v1/messages": heard_from_anthropic,
    "/v1/responses": heard_from_responses,
}


def prompt_for(tool: str, argument: str) -> str:
    """The user's text: the mock provider calls `tool` with `echo plano-tool-ran` as `argument`."""
    return "Show that tools work. " + COMMAND.format(tool=tool, argument=argument)


def heard_since(mock: ServerThread, start: int) -> list[tuple[str, Heard]]:
    """What the provider heard in each model call since `start`, with the API it was called on."""
    assert mock.app is not None
    received = list(mock.app[REQUESTS])[start:]
    return [(r.path, READERS[r.path](r.body)) for r in received if r.path in READERS]


def check_session(session: Session, mock: ServerThread, start: int, prompt: str, upstream_path: str) -> None:
    print(
        f"\n[{session.model}] command: {session.commands}\n  tool output: {session.tool_outputs}\n"
        f"  answer: {session.answer[:200]!r}"
    )
    assert any(MARKER in command for command in session.commands), session.transcript
    assert any(MARKER in output for output in session.tool_outputs), session.transcript
    assert session.answer.startswith("tool result received:") and MARKER in session.answer
    calls = heard_since(mock, start)
    assert {path for path, _ in calls} == {upstream_path}
    first, last = calls[0][1], calls[-1][1]
    assert prompt in first.user_texts[-1] and not first.tool_results
    assert prompt in " ".join(last.user_texts)
    assert last.last_is_tool_result and MARKER in last.tool_results[-1]


@pytest.fixture
def session_dirs(tmp_path: Path) -> tuple[Path, Path]:
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    return home, work


@pytest.mark.parametrize(
    ("model", "upstream_path"),
    [
        ("gpt-4o", "/v1/responses"),
        ("gpt-4o-mini", "/v1/chat/completions"),
        ("claude-sonnet-4-5", "/v1/messages"),
    ],
)
def test_codex_cli_session(
    gateway: ServerThread, mock_upstream: ServerThread, session_dirs: tuple[Path, Path], model: str, upstream_path: str
) -> None:
    """Codex CLI (Responses API, store false, client_metadata, namespace and web_search tools) runs a command and
    answers, on a native Responses, a Chat Completions and an Anthropic upstream."""
    assert mock_upstream.app is not None
    start = len(mock_upstream.app[REQUESTS])
    prompt = prompt_for("exec_command", "cmd")
    session = run_codex(gateway.url, model, prompt, *session_dirs)
    check_session(session, mock_upstream, start, prompt, upstream_path)


@pytest.mark.parametrize(
    ("model", "upstream_path"),
    [("claude-sonnet-4-5", "/v1/messages"), ("gpt-4o-mini", "/v1/chat/completions")],
)
def test_claude_code_session(
    gateway: ServerThread, mock_upstream: ServerThread, session_dirs: tuple[Path, Path], model: str, upstream_path: str
) -> None:
    """Claude Code (mid-conversation system messages, adaptive thinking, context_management) runs a Bash command and
    answers, relayed to an Anthropic upstream and translated to a Chat Completions one."""
    assert mock_upstream.app is not None
    start = len(mock_upstream.app[REQUESTS])
    prompt = prompt_for("Bash", "command")
    session = run_claude_code(gateway.url, model, prompt, *session_dirs)
    check_session(session, mock_upstream, start, prompt, upstream_path)
