"""One failure, one error: a provider's error and a cut stream reach each client format in the same words and with
the same status whether the answer is relayed byte for byte or translated from another provider's format."""

from __future__ import annotations

from typing import Any

import pytest
from support import http
from support.servers import ServerThread

from plano_proxy.transformers.sse import SSEDecoder, SSEMessage

RELAYED, TRANSLATED = "relayed", "translated"
# The models each client format is answered from, and how: gpt-4o-mini is an OpenAI Chat provider, gpt-4o an OpenAI
# Responses one, claude-sonnet-4-5 an Anthropic one. Responses clients are always answered through the translator.
PATHS: dict[str, dict[str, str]] = {
    "chat": {"gpt-4o-mini": RELAYED, "claude-sonnet-4-5": TRANSLATED},
    "anthropic": {"claude-sonnet-4-5": RELAYED, "gpt-4o-mini": TRANSLATED, "gpt-4o": TRANSLATED},
    "responses": {"gpt-4o": TRANSLATED, "gpt-4o-mini": TRANSLATED, "claude-sonnet-4-5": TRANSLATED},
}
CUT_MESSAGE = "The provider's stream ended unexpectedly."


@pytest.fixture
def stateless(make_gateway) -> ServerThread:
    return make_gateway(storage=None)


def ask(gateway: ServerThread, client: str, model: str, text: str, stream: bool) -> http.RawResponse:
    if client == "chat":
        body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": text}]}
        return http.post(f"{gateway.url}/v1/chat/completions", {**body, "stream": stream})
    if client == "anthropic":
        body = {"model": model, "max_tokens": 50, "messages": [{"role": "user", "content": text}], "stream": stream}
        return http.post(f"{gateway.url}/v1/messages", body, headers={"anthropic-version": "2023-06-01"})
    return http.post(f"{gateway.url}/v1/responses", {"model": model, "input": text, "stream": stream})


def last_event(response: http.RawResponse) -> SSEMessage:
    assert response.status == 200
    decoder = SSEDecoder()
    messages = decoder.decode(response.body) + decoder.flush()
    assert len(messages) > 1, "the stream should break after the answer started"
    return messages[-1]


def in_stream_error(client: str, response: http.RawResponse) -> tuple[Any, ...]:
    """The words of the format's one in-stream error shape that ends `response`."""
    event = last_event(response)
    payload = event.json() if event.data != "[DONE]" else {}
    if client == "chat":
        error = payload["error"]  # and no [DONE] after it
        return error["type"], error["code"], error["message"]
    if client == "anthropic":
        assert event.event == "error" == payload["type"]
        return payload["error"]["type"], payload["error"]["message"]
    assert payload["type"] == "response.failed" and payload["response"]["status"] == "failed"
    return payload["response"]["error"]["code"], payload["response"]["error"]["message"]


CUT: dict[str, tuple[Any, ...]] = {
    "chat": ("server_error", "upstream_stream_error", CUT_MESSAGE),
    "anthropic": ("api_error", CUT_MESSAGE),
    "responses": ("server_error", CUT_MESSAGE),
}


@pytest.mark.parametrize("client", sorted(PATHS))
def test_a_cut_stream_ends_with_the_same_error_on_every_path(stateless: ServerThread, client: str) -> None:
    """A provider stream that drops mid-answer ends with the same error whichever provider and path served it."""
    seen = {
        (model, path): in_stream_error(client, ask(stateless, client, model, "[[fault:cut]] a b c d e f g h", True))
        for model, path in PATHS[client].items()
    }
    assert set(seen.values()) == {CUT[client]}, seen


# status → what an OpenAI client (Chat or Responses) reads, and what an Anthropic client reads
PROVIDER_ERRORS: dict[int, tuple[tuple[str, str | None], str]] = {
    401: (("invalid_request_error", "invalid_api_key"), "authentication_error"),
    402: (("insufficient_quota", "insufficient_quota"), "billing_error"),
    500: (("server_error", None), "api_error"),
    529: (("server_error", None), "overloaded_error"),
}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("status", sorted(PROVIDER_ERRORS))
@pytest.mark.parametrize("client", sorted(PATHS))
def test_a_provider_error_reads_the_same_from_every_provider(
    stateless: ServerThread, client: str, status: int, stream: bool
) -> None:
    """An OpenAI and an Anthropic provider failing with the same status give the client the same status and error
    words: Anthropic's overloaded_error or billing_error never reach an OpenAI client, nor OpenAI's words an
    Anthropic one."""
    seen = {}
    for model, path in PATHS[client].items():
        response = ask(stateless, client, model, f"[[fault:{status}]] x", stream)
        error = response.json()["error"]
        words = error["type"] if client == "anthropic" else (error["type"], error["code"])
        seen[model, path] = (response.status, words)
    openai_words, anthropic_type = PROVIDER_ERRORS[status]
    assert set(seen.values()) == {(status, anthropic_type if client == "anthropic" else openai_words)}, seen


def test_a_providers_own_in_stream_error_is_put_in_the_clients_words(stateless: ServerThread) -> None:
    """Anthropic's in-stream overloaded_error reaches a Chat or Responses client as OpenAI's server_error, as an
    OpenAI provider's own in-stream server_error does; an Anthropic client reads that server_error as api_error."""
    text = "[[fault:error-mid-stream]] a b c d e f"
    providers = ("gpt-4o-mini", "claude-sonnet-4-5")  # their in-stream errors: OpenAI's server_error, overloaded_error

    def words(client: str, model: str) -> tuple[Any, ...]:
        return in_stream_error(client, ask(stateless, client, model, text, True))

    assert {words("chat", model)[:2] for model in providers} == {("server_error", None)}
    assert {words("responses", model)[0] for model in providers} == {"server_error"}
    assert [words("anthropic", model)[0] for model in providers] == ["api_error", "overloaded_error"]
