"""Retries before the first byte: transient provider failures are retried with backoff that honours Retry-After."""

from __future__ import annotations

import time

import anthropic
import openai
import pytest
from mock_upstream import REQUESTS
from support import http
from support.servers import ServerThread

from plano_proxy.proxy.app import create_app
from plano_proxy.proxy.config import RetryPolicy, parse_config


def gateway_with_retries(mock: ServerThread, attempts: int, max_delay: str = "2s") -> ServerThread:
    retries = f"{{attempts: {attempts}, initial_delay: 10ms, max_delay: {max_delay}}}"
    text = (
        "model_providers:\n"
        f"  - {{model: openai/gpt-4o-mini, access_key: k, base_url: '{mock.url}/v1', default: true, retries: {retries}}}\n"
        f"  - {{model: anthropic/claude-sonnet-4-5, access_key: k, base_url: '{mock.url}', retries: {retries}}}\n"
    )
    config = parse_config(text, {})
    return ServerThread(lambda: create_app(config))


@pytest.fixture
def retrying(mock_upstream: ServerThread):
    server = gateway_with_retries(mock_upstream, attempts=2)
    yield server
    server.close()


def calls_with(mock: ServerThread, text: str) -> int:
    assert mock.app is not None
    return sum(1 for r in mock.app[REQUESTS] if text in str(r.body))


@pytest.mark.parametrize("fault", ["500", "503", "529", "429"])
def test_transient_failures_are_retried(retrying: ServerThread, mock_upstream: ServerThread, fault: str) -> None:
    """A provider failing twice with a retryable status is retried and the client sees a success."""
    client = openai.OpenAI(base_url=f"{retrying.url}/v1", api_key="k", max_retries=0)
    marker = f"[[fault:{fault}x2]] retry {fault}"
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": marker}])
    assert reply.choices[0].message.content
    assert calls_with(mock_upstream, marker) == 3


def test_retry_after_is_honoured(retrying: ServerThread, mock_upstream: ServerThread) -> None:
    """The mock's 429 says Retry-After: 1, so the retried call comes about a second later."""
    client = anthropic.Anthropic(base_url=retrying.url, api_key="k", max_retries=0)
    started = time.monotonic()
    client.messages.create(
        model="claude-sonnet-4-5", max_tokens=20, messages=[{"role": "user", "content": "[[fault:429x1]] wait"}]
    )
    assert time.monotonic() - started >= 0.95


def test_exhausted_retries_relay_the_error(retrying: ServerThread, mock_upstream: ServerThread) -> None:
    """After the configured retries the provider's own error reaches the client, in the client's format."""
    client = anthropic.Anthropic(base_url=retrying.url, api_key="k", max_retries=0)
    marker = "[[fault:529]] never recovers"
    with pytest.raises(anthropic.OverloadedError):
        client.messages.create(model="claude-sonnet-4-5", max_tokens=20, messages=[{"role": "user", "content": marker}])
    assert calls_with(mock_upstream, marker) == 3


def test_client_errors_are_not_retried(retrying: ServerThread, mock_upstream: ServerThread) -> None:
    """A 401 is the caller's problem: one call, no retry."""
    client = openai.OpenAI(base_url=f"{retrying.url}/v1", api_key="k", max_retries=0)
    marker = "[[fault:401]] bad key"
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": marker}])
    assert calls_with(mock_upstream, marker) == 1


def test_unreachable_provider_is_retried_then_502() -> None:
    """Connection refused is retried, then reported as a 502."""
    config = parse_config(
        "model_providers:\n  - {model: vllm/m, base_url: 'http://127.0.0.1:9', retries: {attempts: 2, initial_delay: 10ms}}\n",
        {},
    )
    server = ServerThread(lambda: create_app(config))
    try:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="k", max_retries=0)
        with pytest.raises(openai.InternalServerError) as caught:
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
        assert caught.value.status_code == 502
    finally:
        server.close()


def test_policy_delays() -> None:
    """Backoff doubles from the initial delay, Retry-After in seconds wins, and both are capped."""
    policy = RetryPolicy(attempts=3, initial_delay=0.25, max_delay=1.0)
    assert [policy.delay(n, None) for n in range(4)] == [0.25, 0.5, 1.0, 1.0]
    assert policy.delay(0, "0.5") == 0.5 and policy.delay(0, "30") == 1.0
    assert policy.delay(1, "Wed, 21 Oct 2026 07:28:00 GMT") == 0.5


@pytest.mark.parametrize(
    ("path", "model", "limit_header"),
    [
        ("/v1/chat/completions", "gpt-4o-mini", "x-ratelimit-remaining-requests"),
        ("/v1/chat/completions", "claude-sonnet-4-5", "anthropic-ratelimit-requests-remaining"),
        ("/v1/messages", "claude-sonnet-4-5", "anthropic-ratelimit-requests-remaining"),
        ("/v1/responses", "gpt-4o-mini", "x-ratelimit-remaining-requests"),
    ],
)
def test_rate_limit_reaches_the_client_with_retry_after(
    gateway: ServerThread, path: str, model: str, limit_header: str
) -> None:
    """A 429 the gateway does not retry (retries are off here) keeps the provider's Retry-After and rate-limit state,
    so the client's own SDK can back off as it would against the provider."""
    body = {"model": model, "max_tokens": 20, "messages": [{"role": "user", "content": "[[fault:429]] x"}]}
    if path == "/v1/responses":
        body = {"model": model, "input": "[[fault:429]] x"}
    answer = http.post(f"{gateway.url}{path}", body, headers={"anthropic-version": "2023-06-01"})
    assert answer.status == 429
    assert answer.headers["retry-after"] == "1" and answer.headers[limit_header] == "0"


def test_openai_sdk_waits_for_the_passed_on_retry_after(gateway: ServerThread) -> None:
    """The openai SDK reads the passed-on Retry-After: its one retry comes about a second later, and succeeds."""
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=1)
    started = time.monotonic()
    reply = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "[[fault:429x1]] x"}]
    )
    assert 0.9 <= time.monotonic() - started < 5 and reply.choices[0].message.content
