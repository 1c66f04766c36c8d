"""The client examples of Plano's documentation, against the gateway (only the base URL's port differs).

They cover the OpenAI SDK (chat, streaming, Claude and Ollama models through it), model aliases, chat continuation
with metadata.response_id, the Anthropic SDK (create, stream, GPT through it), the Responses API with
previous_response_id, and the documented error handling.
"""

from __future__ import annotations

import anthropic
import openai
import pytest
from mock_upstream import REQUESTS
from support import http
from support.servers import ServerThread


@pytest.fixture
def base(gateway: ServerThread) -> str:
    return gateway.url


def test_openai_sdk_basic_and_streaming(base: str) -> None:
    """client.chat.completions.create with and without stream=True, on an alias and on Claude and Ollama models."""
    client = openai.OpenAI(api_key="test-key", base_url=f"{base}/v1")
    completion = client.chat.completions.create(
        model="gpt-4o-mini", max_tokens=50, messages=[{"role": "user", "content": "Hello, how are you?"}]
    )
    assert completion.choices[0].message.content
    stream = client.chat.completions.create(
        model="gpt-4o-mini", max_tokens=50, messages=[{"role": "user", "content": "Tell me a short story"}], stream=True
    )
    story = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert story
    for model in ("claude-3-5-sonnet-20241022", "llama3.1", "fast-model"):
        reply = client.chat.completions.create(
            model=model, max_tokens=50, messages=[{"role": "user", "content": "What's the capital of France?"}]
        )
        assert reply.choices[0].message.content


def test_chat_continuation_with_metadata_response_id(make_gateway, store_kind: str) -> None:
    """On each store: the second chat turn names the first response's id in metadata and the provider hears both."""
    client = openai.OpenAI(api_key="test-key", base_url=f"{make_gateway(store_kind).url}/v1")
    for model in ("gpt-4o-mini", "claude-3-5-sonnet-20241022"):
        response = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "My name is Alice"}]
        )
        response = client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "What's my name?"}],
            metadata={"response_id": response.id},
        )
        assert 'earlier user texts: ["My name is Alice"]' in (response.choices[0].message.content or "")


def test_anthropic_sdk_examples(base: str) -> None:
    """messages.create and messages.stream on Claude, and messages.create on GPT and Ollama models."""
    client = anthropic.Anthropic(api_key="test-key", base_url=base)
    message = client.messages.create(
        model="claude-3-5-sonnet-20241022",
        max_tokens=50,
        messages=[{"role": "user", "content": "Hello, please respond briefly!"}],
    )
    assert message.content[0].text
    with client.messages.stream(
        model="claude-3-5-sonnet-20241022",
        max_tokens=50,
        messages=[{"role": "user", "content": "Tell me about artificial intelligence"}],
    ) as stream:
        streamed = "".join(stream.text_stream)
        final_message = stream.get_final_message()
    final_text = "".join(block.text for block in final_message.content if block.type == "text")
    assert final_text == streamed
    for model in ("gpt-4o-mini", "llama3.1"):
        reply = client.messages.create(
            model=model, max_tokens=50, messages=[{"role": "user", "content": "Explain machine learning"}]
        )
        assert reply.content[0].text


def test_curl_examples(base: str) -> None:
    """The cURL requests: Bearer-authenticated chat, an alias, streaming, and the Anthropic endpoint."""
    basic = http.post(
        f"{base}/v1/chat/completions",
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello!"}], "max_tokens": 50},
        headers={"Authorization": "Bearer test-key"},
    )
    assert basic.status == 200 and basic.json()["choices"][0]["message"]["content"]
    alias = http.post(
        f"{base}/v1/chat/completions",
        {"model": "fast-model", "messages": [{"role": "user", "content": "Summarize this text..."}], "max_tokens": 100},
    )
    assert alias.status == 200
    streamed = http.post(
        f"{base}/v1/chat/completions",
        {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "Tell me a story"}],
            "stream": True,
            "max_tokens": 200,
        },
    )
    assert streamed.status == 200 and streamed.body.rstrip().endswith(b"data: [DONE]")
    claude = http.post(
        f"{base}/v1/messages",
        {
            "model": "claude-3-5-sonnet-20241022",
            "max_tokens": 50,
            "messages": [{"role": "user", "content": "Hello Claude!"}],
        },
        headers={"x-api-key": "test-key", "anthropic-version": "2023-06-01"},
    )
    assert claude.status == 200 and claude.json()["content"][0]["type"] == "text"


def test_cross_client_and_aliases(base: str) -> None:
    """OpenAI client on Claude, Anthropic client on GPT, and the alias-based helper."""
    oai = openai.OpenAI(base_url=f"{base}/v1", api_key="test")
    assert (
        oai.chat.completions.create(model="claude-3-5-sonnet-20241022", messages=[{"role": "user", "content": "Hello"}])
        .choices[0]
        .message.content
    )
    claude = anthropic.Anthropic(base_url=base, api_key="test")
    assert claude.messages.create(
        model="gpt-4o-mini", max_tokens=50, messages=[{"role": "user", "content": "Hello"}]
    ).content
    assert oai.chat.completions.create(
        model="reasoning-model", messages=[{"role": "user", "content": "Solve this math problem..."}]
    ).choices


def test_error_handling_examples(base: str) -> None:
    """A nonexistent model raises NotFoundError in both SDKs."""
    oai = openai.OpenAI(base_url=f"{base}/v1", api_key="test", max_retries=0)
    with pytest.raises(openai.NotFoundError):
        oai.chat.completions.create(model="nonexistent-model", messages=[{"role": "user", "content": "Hello"}])
    claude = anthropic.Anthropic(base_url=base, api_key="test", max_retries=0)
    with pytest.raises(anthropic.NotFoundError):
        claude.messages.create(
            model="nonexistent-model", max_tokens=50, messages=[{"role": "user", "content": "Hello"}]
        )


def test_conversational_state_example(make_gateway, store_kind: str) -> None:
    """On each store, Plano's conversational-state example: the second turn hears every message so far."""
    client = openai.OpenAI(api_key="test-key", base_url=f"{make_gateway(store_kind).url}/v1")
    response = client.responses.create(model="claude-sonnet-4-5", input="My name is Alice and I like Python")
    resp2 = client.responses.create(
        model="claude-sonnet-4-5",
        input="Please list all the messages you have received in our conversation, numbering each one.",
        previous_response_id=response.id,
    )
    assert 'earlier user texts: ["My name is Alice and I like Python"]' in resp2.output_text


def test_plexus_conversation_by_name(make_gateway, store_kind: str) -> None:
    """On each store, Plexus's example: a conversation named by the client starts on first use and carries on;
    an unknown id shaped like a minted one is still OpenAI's 404."""
    url = f"{make_gateway(store_kind).url}/v1/responses"
    headers = {"Authorization": "Bearer YOUR_API_KEY"}
    first = http.post(
        url,
        {"model": "gpt-4o", "conversation": "conv_my_session", "input": "Remember: my favorite color is blue."},
        headers=headers,
    )
    assert first.status == 200, first.body
    later = http.post(
        url,
        {"model": "gpt-4o", "conversation": "conv_my_session", "input": "What is my favorite color?"},
        headers=headers,
    )
    assert later.status == 200 and later.json()["conversation"] == {"id": "conv_my_session"}
    text = later.json()["output"][0]["content"][0]["text"]
    assert 'earlier user texts: ["Remember: my favorite color is blue."]' in text
    missing = http.post(url, {"model": "gpt-4o", "conversation": "conv_" + "0" * 48, "input": "x"}, headers=headers)
    assert missing.status == 404 and "not found" in missing.json()["error"]["message"]


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5"])
def test_plexus_tool_results_example(gateway: ServerThread, mock_upstream: ServerThread, model: str) -> None:
    """Plexus's "Providing tool results" body as written, whose output is an object ({"text": …}) where OpenAI
    wants a string: the upstream gets the text, in its own format."""
    body = {
        "model": model,
        "input": [
            {
                "type": "function_call",
                "call_id": "call_123",
                "name": "get_weather",
                "arguments": '{"location":"San Francisco, CA","unit":"fahrenheit"}',
            },
            {"type": "function_call_output", "call_id": "call_123", "output": {"text": "Sunny, 72°F"}},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "What should I wear?"}]},
        ],
    }
    answer = http.post(f"{gateway.url}/v1/responses", body, headers={"Authorization": "Bearer YOUR_API_KEY"})
    assert answer.status == 200, answer.body
    assert "tool results: 1" in answer.json()["output"][0]["content"][0]["text"]
    assert "Sunny, 72°F" in str(mock_upstream.app[REQUESTS][-1].body)
