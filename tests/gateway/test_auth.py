"""Gateway keys: 401 in each client's format without a valid key, and stored state scoped to the caller's key."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import anthropic
import openai
import pytest
from mock_upstream import REQUESTS
from support import http
from support.gateway import ANTHROPIC_KEY, OPENAI_KEY
from support.servers import ServerThread

from plano_proxy.proxy.config import ConfigError, parse_config

TEAM_B_HASH = hashlib.sha256(b"key-team-b").hexdigest()
KEYS = f"gateway_keys:\n  - {{name: team-a, key: key-team-a}}\n  - {{name: team-b, key_sha256: {TEAM_B_HASH}}}\n"


@pytest.fixture
def guarded(make_gateway) -> ServerThread:
    return make_gateway("sqlite", extra_yaml=KEYS)


def test_missing_or_wrong_key_is_401_in_each_format(guarded: ServerThread) -> None:
    """OpenAI routes answer with an OpenAI 401 body, Anthropic routes with an Anthropic one; no provider key leaks."""
    with pytest.raises(openai.AuthenticationError) as caught:
        openai.OpenAI(base_url=f"{guarded.url}/v1", api_key="wrong", max_retries=0).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.code == "invalid_api_key"
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(base_url=guarded.url, api_key="wrong", max_retries=0).messages.create(
            model="claude-sonnet-4-5", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    bare = http.post(f"{guarded.url}/v1/responses", {"model": "gpt-4o-mini", "input": "x"})
    assert bare.status == 401 and "didn't provide an API key" in bare.json()["error"]["message"]
    for response in (bare,):
        assert OPENAI_KEY.encode() not in response.body and ANTHROPIC_KEY.encode() not in response.body
    assert http.get(f"{guarded.url}/healthz").status == 200
    assert http.get(f"{guarded.url}/metrics").status == 200


def test_keys_accepted_as_bearer_and_x_api_key(guarded: ServerThread, mock_upstream: ServerThread) -> None:
    """A plain key and a hashed key both work, as Bearer (OpenAI SDK) or x-api-key (Anthropic SDK); the provider
    gets its own key, never the gateway key."""
    a = openai.OpenAI(base_url=f"{guarded.url}/v1", api_key="key-team-a", max_retries=0)
    assert a.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]).choices
    b = anthropic.Anthropic(base_url=guarded.url, api_key="key-team-b", max_retries=0)
    assert b.messages.create(
        model="claude-sonnet-4-5", max_tokens=5, messages=[{"role": "user", "content": "x"}]
    ).content
    assert mock_upstream.app is not None
    sent = mock_upstream.app[REQUESTS][-1]
    assert sent.headers["x-api-key"] == ANTHROPIC_KEY and "key-team-b" not in str(sent.headers)


def test_state_is_scoped_per_key(guarded: ServerThread) -> None:
    """Another key sees neither responses nor conversations: 404 on reads, 400 when continuing."""
    a = openai.OpenAI(base_url=f"{guarded.url}/v1", api_key="key-team-a", max_retries=0)
    b = openai.OpenAI(base_url=f"{guarded.url}/v1", api_key="key-team-b", max_retries=0)
    mine = a.responses.create(model="gpt-4o-mini", input="secret of team a")
    conversation = a.conversations.create(items=[{"type": "message", "role": "user", "content": "team a notes"}])
    with pytest.raises(openai.NotFoundError):
        b.responses.retrieve(mine.id)
    with pytest.raises(openai.NotFoundError):
        b.responses.delete(mine.id)
    with pytest.raises(openai.BadRequestError) as caught:
        b.responses.create(model="gpt-4o-mini", input="continue", previous_response_id=mine.id)
    assert caught.value.code == "previous_response_not_found"
    with pytest.raises(openai.NotFoundError):
        b.conversations.retrieve(conversation.id)
    with pytest.raises(openai.NotFoundError):
        b.responses.create(model="gpt-4o-mini", input="join", conversation=conversation.id)
    assert a.responses.retrieve(mine.id).id == mine.id
    follow = a.responses.create(model="gpt-4o-mini", input="again", previous_response_id=mine.id)
    assert "secret of team a" in follow.output_text


def test_provider_keys_go_only_to_their_own_provider(make_gateway, mock_upstream: ServerThread) -> None:
    """Across every request the mock has received, the OpenAI canary key only reached OpenAI-style endpoints and the
    Anthropic canary key only the Messages endpoint."""
    gateway = make_gateway(None)
    openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0).chat.completions.create(
        model="claude-sonnet-4-5", messages=[{"role": "user", "content": "x"}]
    )
    anthropic.Anthropic(base_url=gateway.url, api_key="k", max_retries=0).messages.create(
        model="gpt-4o-mini", max_tokens=5, messages=[{"role": "user", "content": "x"}]
    )
    assert mock_upstream.app is not None
    for sent in mock_upstream.app[REQUESTS]:
        text = str(sent.headers) + str(sent.body)
        if ANTHROPIC_KEY in text:
            assert sent.path.startswith("/v1/messages")
        if OPENAI_KEY in text:
            assert not sent.path.startswith("/v1/messages")


PASSTHROUGH = """
model_providers:
  - {{model: openai/gpt-4o-mini, base_url: '{mock}/v1', passthrough_auth: true, retries: {{attempts: 0}}}}
  - {{model: anthropic/claude-sonnet-4-5, base_url: '{mock}', passthrough_auth: true, retries: {{attempts: 0}}}}
  - {{model: openai/gpt-4o, base_url: '{mock}/v1', access_key: {openai_key}, passthrough_auth: true}}
"""


@pytest.fixture
def passthrough(mock_upstream: ServerThread) -> Iterator[ServerThread]:
    from plano_proxy.proxy.app import create_app

    text = PASSTHROUGH.format(mock=mock_upstream.url, openai_key=OPENAI_KEY)
    server = ServerThread(lambda: create_app(parse_config(text, {})))
    yield server
    server.close()


def test_passthrough_auth_sends_the_callers_own_key(passthrough: ServerThread, mock_upstream: ServerThread) -> None:
    """Each SDK's key reaches the provider in that provider's header; the configured key is only the fallback."""
    openai.OpenAI(base_url=f"{passthrough.url}/v1", api_key="sk-caller-1", max_retries=0).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
    )
    assert mock_upstream.app[REQUESTS][-1].headers["Authorization"] == "Bearer sk-caller-1"
    anthropic.Anthropic(base_url=passthrough.url, api_key="sk-ant-caller-2", max_retries=0).messages.create(
        model="gpt-4o-mini", max_tokens=5, messages=[{"role": "user", "content": "x"}]
    )
    assert mock_upstream.app[REQUESTS][-1].headers["Authorization"] == "Bearer sk-ant-caller-2"
    openai.OpenAI(base_url=f"{passthrough.url}/v1", api_key="sk-caller-3", max_retries=0).responses.create(
        model="claude-sonnet-4-5", input="x"
    )
    assert mock_upstream.app[REQUESTS][-1].headers["x-api-key"] == "sk-caller-3"
    http.post(
        f"{passthrough.url}/v1/chat/completions", {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}
    )
    assert mock_upstream.app[REQUESTS][-1].headers["Authorization"] == f"Bearer {OPENAI_KEY}"


def test_passthrough_auth_without_any_key_is_401(passthrough: ServerThread) -> None:
    """No key from the caller and none configured: a 401 in the client's format, and nothing reaches the provider."""
    bare = http.post(
        f"{passthrough.url}/v1/chat/completions",
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]},
    )
    assert bare.status == 401 and "your own API key" in bare.json()["error"]["message"]
    anthropic_bare = http.post(
        f"{passthrough.url}/v1/messages",
        {"model": "claude-sonnet-4-5", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
        headers={"anthropic-version": "2023-06-01"},
    )
    assert anthropic_bare.status == 401 and anthropic_bare.json()["error"]["type"] == "authentication_error"


def test_passthrough_key_never_echoed(passthrough: ServerThread) -> None:
    """A provider's 401 about the caller's key comes back without the key in it."""
    with pytest.raises(openai.AuthenticationError) as caught:
        openai.OpenAI(
            base_url=f"{passthrough.url}/v1", api_key="sk-caller-secret-77", max_retries=0
        ).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "[[fault:401]] x"}])
    assert "sk-caller-secret-77" not in str(caught.value.body) and "sk-caller-secret-77" not in caught.value.message


def test_passthrough_auth_and_gateway_keys_conflict() -> None:
    with pytest.raises(
        ConfigError, match=r"model_providers\[0\]\.passthrough_auth: cannot be combined with gateway_keys"
    ):
        parse_config(PASSTHROUGH.format(mock="http://127.0.0.1:9", openai_key="k") + KEYS, {})


def test_callers_key_never_follows_a_fallback_to_another_provider(mock_upstream: ServerThread) -> None:
    """The caller's OpenAI key is for OpenAI: when OpenAI fails and the fallback is an Anthropic passthrough
    provider, Anthropic gets its own configured key, not the caller's."""
    from plano_proxy.proxy.app import create_app

    text = (
        "model_providers:\n"
        f"  - {{model: openai/gpt-4o-mini, base_url: '{mock_upstream.url}/v1', passthrough_auth: true,"
        " retries: {attempts: 0}, fallbacks: [claude-sonnet-4-5]}\n"
        f"  - {{model: anthropic/claude-sonnet-4-5, base_url: '{mock_upstream.url}', passthrough_auth: true,"
        f" access_key: {ANTHROPIC_KEY}}}\n"
    )
    server = ServerThread(lambda: create_app(parse_config(text, {})))
    try:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="sk-caller-openai-55", max_retries=0)
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "[[fault:500x1]] x"}])
        sent = mock_upstream.app[REQUESTS]
        assert sent[-2].headers["Authorization"] == "Bearer sk-caller-openai-55"  # the addressed provider
        assert sent[-1].headers["x-api-key"] == ANTHROPIC_KEY  # the fallback, with its own key
    finally:
        server.close()
