"""The plano-proxy command: check prints the model table, serve runs a gateway the openai SDK can use."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import openai
from support.gateway import ANTHROPIC_KEY, OPENAI_KEY, gateway_config_text
from support.processes import PLANO_PROXY, GatewayProcess
from support.servers import ServerThread

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PLANO_PROXY, *args], capture_output=True, text=True, timeout=60, env=env)


def test_check_prints_model_table_without_keys() -> None:
    """check on the shipped config lists every name, its provider, interface and URL, and never a key."""
    env = {"OPENAI_API_KEY": "sk-secret-openai-1234", "ANTHROPIC_API_KEY": "sk-ant-secret-5678", "PATH": "/usr/bin"}
    result = run_cli("check", "--config", str(ROOT / "plano_config.yaml"), env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "ALIAS", "OF", "PROVIDER", "INTERFACE", "UPSTREAM", "URL"]
    assert any(line.startswith("openai/gpt-4o-mini (default)") for line in lines)
    assert any(line.split()[:3] == ["fast-model", "gpt-4o-mini", "openai"] for line in lines)
    assert any("anthropic/claude-sonnet-4-5" in line and "https://api.anthropic.com/v1" in line for line in lines)
    assert "secret" not in result.stdout + result.stderr
    assert "warning" not in result.stderr  # every key of the shipped config is read


def test_plano_setting_is_named_as_a_warning(tmp_path: Path) -> None:
    """A Plano setting plano-proxy does not implement is named on stderr; the config still loads."""
    config = tmp_path / "plano.yaml"
    config.write_text("prompt_targets: []\nmodel_providers:\n  - {model: ollama/llama3.1}\n")
    result = run_cli("check", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "prompt_targets is a Plano setting plano-proxy does not implement; it is ignored" in result.stderr


def test_bad_config_names_its_key(tmp_path: Path) -> None:
    """A bad value stops the command with exit code 2 and a message naming the key path and the value."""
    config = tmp_path / "bad.yaml"
    config.write_text("model_providers:\n  - model: ollama/llama3.1\n    timeouts: {idle: soon}\n")
    result = run_cli("check", "--config", str(config))
    assert result.returncode == 2
    assert result.stderr == (
        f"plano-proxy: invalid config {config}: model_providers[0].timeouts.idle: 'soon' is not a valid duration "
        "(for example 30s, 500ms, 5m, 7d)\n"
    )


def test_every_problem_is_listed_with_suggestions(tmp_path: Path) -> None:
    """Misspelt keys are errors with the key meant, all of them in one run, under one header line."""
    config = tmp_path / "typos.yaml"
    config.write_text("model_providers:\n  - {model: ollama/llama3.1, timeout: 5s}\nstate_storge: {type: sqlite}\n")
    result = run_cli("check", "--config", str(config))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"plano-proxy: invalid config {config}: 2 problems",
        "  - state_storge: unknown key, did you mean `state_storage`?",
        "  - model_providers[0].timeout: unknown key, did you mean `timeouts`?",
    ]


def test_check_needs_no_keys_unless_strict() -> None:
    """check on the shipped config without keys passes and lists each unset variable as a warning; --strict fails."""
    shipped = str(ROOT / "plano_config.yaml")
    result = run_cli("check", "--config", shipped, env={"PATH": "/usr/bin"})
    assert result.returncode == 0, result.stderr
    warnings = result.stderr.splitlines()
    assert len(warnings) == 4 and all(line.startswith("plano-proxy: warning: ") for line in warnings)
    assert "model_providers[0].access_key: environment variable OPENAI_API_KEY is not set " in warnings[0]
    assert "ANTHROPIC_API_KEY" in warnings[2]
    assert "openai/gpt-4o-mini (default)" in result.stdout
    strict = run_cli("check", "--strict", "--config", shipped, env={"PATH": "/usr/bin"})
    assert strict.returncode == 2
    assert strict.stderr.splitlines()[-1] == "plano-proxy: --strict: 4 environment variables not set"


def test_serve_refuses_unset_keys_naming_them_all() -> None:
    """serve needs every key: each unset variable is named with the provider that needs it, in one run."""
    result = run_cli("serve", "--config", str(ROOT / "plano_config.yaml"), env={"PATH": "/usr/bin"})
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[0].endswith("plano_config.yaml: 4 problems")
    assert "environment variable OPENAI_API_KEY is not set (provider 'openai/gpt-4o-mini' needs it)" in lines[1]


def test_serve_answers_sdk_and_logs_access_lines(tmp_path: Path, mock_upstream: ServerThread) -> None:
    """serve starts on the given port; a chat request works; the JSON access line has its fields and no key; a config
    key it does not read is logged as a warning; SIGTERM exits 0."""
    config = tmp_path / "plano_config.yaml"
    config.write_text(
        gateway_config_text(
            mock_upstream.url, f"state_storage: {{type: sqlite, path: '{tmp_path / 's.db'}'}}\n", "prompt_targets: []\n"
        )
    )
    gateway = GatewayProcess(config)
    try:
        client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="test-key", max_retries=0)
        reply = client.chat.completions.create(model="fast-model", messages=[{"role": "user", "content": "Hello!"}])
        assert 'last user said: "Hello!"' in (reply.choices[0].message.content or "")
        stream = client.chat.completions.create(
            model="gpt-4o-mini", stream=True, messages=[{"role": "user", "content": "go"}]
        )
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        tool = {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
        with client.chat.completions.stream(
            model="gpt-4o-mini", tools=[tool], messages=[{"role": "user", "content": "Paris"}]
        ) as tool_stream:
            call = tool_stream.get_final_completion().choices[0].message.tool_calls[0]
        assert call.function.name == "get_weather" and call.function.arguments == '{"city": "Paris"}'
    finally:
        code = gateway.stop()
    assert code == 0
    log = gateway.log()
    access = [json.loads(line) for line in log.splitlines() if line.startswith("{") and '"request"' in line]
    chat = [entry for entry in access if entry.get("endpoint") == "/v1/chat/completions"]
    assert len(chat) == 3
    first = chat[0]
    assert first["model"] == "fast-model" and first["provider"] == "openai/gpt-4o-mini" and first["status"] == 200
    assert first["stream"] is False and chat[1]["stream"] is True
    assert first["request_id"] and isinstance(first["latency_ms"], float)
    assert OPENAI_KEY not in log and ANTHROPIC_KEY not in log
    ignored = [json.loads(line) for line in log.splitlines() if '"config_key_ignored"' in line]
    assert [(entry["key"], entry["level"]) for entry in ignored] == [("prompt_targets", "warning")]
    events = [json.loads(line)["event"] for line in log.splitlines() if line.startswith("{")]
    state = f"state: sqlite at {tmp_path / 's.db'}"
    assert f"listening on {gateway.url}, {state}, 6 models and 3 aliases" in events
    assert events[-2:] == [
        "shutting down: no new connections, open requests have up to 30s to finish",
        "stopped cleanly",
    ]
