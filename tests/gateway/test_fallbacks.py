"""Fallback models: a provider failing before its answer starts hands the request to the next configured model."""

from __future__ import annotations

import openai
import pytest
from structlog.testing import capture_logs
from support import http
from support.servers import ServerThread

from plano_proxy.proxy.app import create_app
from plano_proxy.proxy.config import ConfigError, parse_config


def config_text(mock: ServerThread) -> str:
    return (
        "model_providers:\n"
        f"  - {{model: openai/gpt-4o-mini, access_key: k, base_url: '{mock.url}/v1', default: true,"
        " retries: {attempts: 0}, fallbacks: [claude-sonnet-4-5]}\n"
        f"  - {{model: anthropic/claude-sonnet-4-5, access_key: k, base_url: '{mock.url}', retries: {{attempts: 0}}}}\n"
        f"  - {{model: openai/gpt-4o, access_key: k, base_url: '{mock.url}/v1', retries: {{attempts: 0}}}}\n"
        "model_aliases:\n"
        "  smart: {target: gpt-4o, fallbacks: [gpt-4o-mini]}\n"
        "state_storage: {type: memory}\n"
    )


@pytest.fixture
def gateway(mock_upstream: ServerThread):
    config = parse_config(config_text(mock_upstream), {})
    server = ServerThread(lambda: create_app(config))
    yield server
    server.close()


def test_chat_falls_back_across_formats(gateway: ServerThread) -> None:
    """GPT failing with a 500 hands a Chat request to Claude; the answer says who served it, and the log records it."""
    with capture_logs() as logs:
        response = http.post(
            f"{gateway.url}/v1/chat/completions",
            {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "[[fault:500x1]] fall back please"}]},
        )
    assert response.status == 200
    assert response.json()["choices"][0]["message"]["content"].startswith("mock-claude-sonnet-4-5 heard")
    assert response.headers["x-plano-fallback-from"] == "openai/gpt-4o-mini"
    access = next(entry for entry in logs if entry["event"] == "request")
    assert access["fallback_from"] == "openai/gpt-4o-mini" and access["provider"] == "anthropic/claude-sonnet-4-5"
    assert any(entry["event"] == "fallback" and entry["status"] == 500 for entry in logs)


def test_alias_fallback_for_a_streamed_response(gateway: ServerThread) -> None:
    """An alias's own fallback list applies to a streamed Responses turn, which is then stored and continuable."""
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
    with client.responses.stream(model="smart", input="[[fault:429x1]] stream anyway") as stream:
        final = stream.get_final_response()
    assert final.output_text.startswith("mock-gpt-4o-mini heard") and final.model == "smart"
    follow = client.responses.create(model="smart", input="and then", previous_response_id=final.id)
    assert '"[[fault:429x1]] stream anyway"' in follow.output_text


def test_all_candidates_failing_reports_the_last_error(gateway: ServerThread) -> None:
    """When the fallback fails too, the client gets that failure in its own format."""
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "[[fault:503]] down"}]
        )


def test_unknown_fallback_is_a_config_error(mock_upstream: ServerThread) -> None:
    """A fallback naming nothing configured stops the gateway at start with the key path."""
    text = config_text(mock_upstream).replace("fallbacks: [gpt-4o-mini]", "fallbacks: [gpt-9]")
    with pytest.raises(
        ConfigError, match=r"model_aliases.smart.fallbacks\[0\]: 'gpt-9' is not a configured model or alias"
    ):
        parse_config(text, {})
