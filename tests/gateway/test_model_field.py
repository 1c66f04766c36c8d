"""What a request without ``model`` does, on every client API, as docs/configuration.md says: the provider marked
``default: true`` answers it; without one it is a 400 naming ``model``. Compaction is the one endpoint that needs a
model (see test_responses_compact.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from mock_upstream import REQUESTS
from support import http
from support.gateway import gateway_config_text
from support.servers import ServerThread

from plano_proxy.proxy.config import parse_config

ANTHROPIC = {"anthropic-version": "2023-06-01"}
USER = [{"role": "user", "content": "Hello"}]

# (path, body without a model, headers)
WITHOUT_MODEL = [
    ("/v1/chat/completions", {"messages": USER}, {}),
    ("/v1/messages", {"max_tokens": 50, "messages": USER}, ANTHROPIC),
    ("/v1/messages/count_tokens", {"messages": USER}, ANTHROPIC),
    ("/v1/responses", {"input": "Hello"}, {}),
    ("/v1/responses", {"input": "Hello", "stream": True}, {}),
    ("/v1/responses/input_tokens", {"input": "Hello"}, {}),
]


@pytest.mark.parametrize(("path", "body", "headers"), WITHOUT_MODEL)
def test_no_model_goes_to_the_default_provider(
    gateway: ServerThread, mock_upstream: ServerThread, path: str, body: dict, headers: dict
) -> None:
    """The default provider (openai/gpt-4o-mini here) answers a request without a model."""
    sent = len(mock_upstream.app[REQUESTS])
    answer = http.post(f"{gateway.url}{path}", body, headers=headers)
    assert answer.status == 200, answer.body
    upstream = list(mock_upstream.app[REQUESTS])[sent:]
    if path.endswith("tokens"):  # an estimate for a Chat Completions upstream: nothing is sent
        assert answer.headers["x-plano-token-count"] == "estimate"
        return
    assert [request.body["model"] for request in upstream] == ["gpt-4o-mini"]
    if path == "/v1/responses" and not body.get("stream"):
        assert answer.json()["model"] == "gpt-4o-mini"


@pytest.fixture
def no_default(mock_upstream: ServerThread) -> Iterator[ServerThread]:
    from plano_proxy.proxy.app import create_app

    text = gateway_config_text(mock_upstream.url, "state_storage: {type: memory}\n").replace("default: true", "")
    config = parse_config(text, {})
    server = ServerThread(lambda: create_app(config))
    yield server
    server.close()


@pytest.mark.parametrize(("path", "body", "headers"), WITHOUT_MODEL)
def test_no_model_and_no_default_is_a_400(no_default: ServerThread, path: str, body: dict, headers: dict) -> None:
    """Without a default provider, a request without a model is a 400 naming model, in the client's format."""
    answer = http.post(f"{no_default.url}{path}", body, headers=headers)
    assert answer.status == 400, answer.body
    error = answer.json()["error"]
    assert "model" in error["message"]
    if "/messages" in path:
        assert answer.json()["type"] == "error" and error["type"] == "invalid_request_error"
    else:
        assert error["param"] == "model"
