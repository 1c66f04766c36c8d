"""``POST /v1/responses/input_tokens`` on every upstream kind, with the openai SDK's ``responses.input_tokens.count``.

An Anthropic upstream counts with its ``/v1/messages/count_tokens`` and a native Responses upstream with its own
``/responses/input_tokens`` (the mock counts a word as a token); a Chat Completions upstream has no counting endpoint,
so the gateway estimates. Stored history counts in every case.
"""

from __future__ import annotations

import json

import openai
import pytest
from mock_upstream import REQUESTS, ReceivedRequest, heard_from_anthropic, heard_from_responses
from support.servers import ServerThread

from plano_proxy.proxy.config import parse_config

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def count(client: openai.OpenAI, **params: object) -> tuple[int, str]:
    """The count and the gateway's ``x-plano-token-count`` header (``exact`` or ``estimate``)."""
    raw = client.responses.input_tokens.with_raw_response.count(**params)  # type: ignore[arg-type]
    answer = raw.parse()
    assert answer.object == "response.input_tokens"
    return answer.input_tokens, raw.headers["x-plano-token-count"]


def last(mock: ServerThread) -> ReceivedRequest:
    received: ReceivedRequest = mock.app[REQUESTS][-1]
    return received


def test_anthropic_upstream_counts_exactly(openai_client: openai.OpenAI, mock_upstream: ServerThread) -> None:
    """The Anthropic body the gateway would send (history, instructions as system, tools) goes to count_tokens,
    without the fields that endpoint refuses, and its count comes back as it is."""
    first = openai_client.responses.create(model="claude-sonnet-4-5", input="My name is Alice")
    tokens, how = count(
        openai_client,
        model="claude-sonnet-4-5",
        input="What is my name?",
        instructions="Be brief.",
        tools=[WEATHER],
        previous_response_id=first.id,
    )
    sent = last(mock_upstream)
    assert sent.path == "/v1/messages/count_tokens" and how == "exact"
    assert tokens == heard_from_anthropic(sent.body).input_words
    assert sent.body["system"] == "Be brief." and sent.body["tools"][0]["name"] == "get_weather"
    assert "max_tokens" not in sent.body and "stream" not in sent.body
    texts = json.dumps(sent.body["messages"])
    assert "My name is Alice" in texts and first.output_text[:30] in texts and "What is my name?" in texts


def test_native_responses_upstream_counts_exactly(openai_client: openai.OpenAI, mock_upstream: ServerThread) -> None:
    """A native Responses upstream gets the stateless input (history included) at its own input_tokens endpoint."""
    first = openai_client.responses.create(model="gpt-4o", input="My name is Alice")
    tokens, how = count(openai_client, model="gpt-4o", input="What is my name?", previous_response_id=first.id)
    sent = last(mock_upstream)
    assert sent.path == "/v1/responses/input_tokens" and how == "exact"
    assert tokens == heard_from_responses(sent.body).input_words
    assert [item["type"] for item in sent.body["input"]] == ["message", "message", "message"]
    assert "My name is Alice" in json.dumps(sent.body["input"][0])
    assert not {"store", "include", "stream", "previous_response_id"} & set(sent.body)


def test_chat_upstream_is_estimated(openai_client: openai.OpenAI, mock_upstream: ServerThread) -> None:
    """A Chat Completions upstream cannot count: the gateway estimates without calling it, history included."""
    first = openai_client.responses.create(model="gpt-4o-mini", input="My name is Alice " * 20)
    calls = len(mock_upstream.app[REQUESTS])
    alone, how = count(openai_client, model="gpt-4o-mini", input="What is my name?")
    continued, _ = count(openai_client, model="gpt-4o-mini", input="What is my name?", previous_response_id=first.id)
    assert how == "estimate" and len(mock_upstream.app[REQUESTS]) == calls
    assert 0 < alone < continued
    assert count(openai_client, input="What is my name?") == (alone, "estimate")  # no model: the default one


def test_conversation_items_count(openai_client: openai.OpenAI, mock_upstream: ServerThread) -> None:
    """With a conversation, its items are counted before the new input."""
    conversation = openai_client.conversations.create(items=[{"role": "user", "content": "My name is Alice"}])
    _, how = count(openai_client, model="claude-sonnet-4-5", input="What is my name?", conversation=conversation.id)
    messages = last(mock_upstream).body["messages"]
    assert how == "exact" and "My name is Alice" in json.dumps(messages) and "What is my name?" in json.dumps(messages)


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gpt-4o", "claude-sonnet-4-5"])
def test_unknown_previous_response_is_refused(openai_client: openai.OpenAI, model: str) -> None:
    """Counting follows the state rules of POST /v1/responses: an unknown previous response is OpenAI's 400."""
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.responses.input_tokens.count(model=model, input="hi", previous_response_id="resp_missing")
    assert caught.value.code == "previous_response_not_found"


def test_upstream_without_the_endpoint_is_estimated(mock_upstream: ServerThread) -> None:
    """A native Responses upstream that answers 404 at input_tokens (an OpenAI-compatible server without it) is
    estimated instead of failing the count."""
    from plano_proxy.proxy.app import create_app

    yaml = f"model_providers:\n  - {{model: openai/gpt-5, access_key: k, base_url: '{mock_upstream.url}/none/v1'}}\n"
    config = parse_config(yaml, {})
    gateway = ServerThread(lambda: create_app(config))
    try:
        client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
        tokens, how = count(client, model="gpt-5", input="What is my name?")
    finally:
        gateway.close()
    assert how == "estimate" and tokens > 0
