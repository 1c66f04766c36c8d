"""OpenAI clients on Anthropic models and Anthropic clients on OpenAI-compatible models, through the gateway."""

from __future__ import annotations

import base64

import anthropic
import openai
import pytest
from mock_upstream import REQUESTS
from support import http
from support.gateway import ANTHROPIC_KEY, OPENAI_KEY
from support.servers import ServerThread

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16).decode()
CHAT_TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
}
ANTHROPIC_TOOL = {"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}


@pytest.fixture
def stateless(make_gateway) -> ServerThread:
    return make_gateway(storage=None)


def last_sent(mock: ServerThread):
    assert mock.app is not None
    return mock.app[REQUESTS][-1]


@pytest.mark.parametrize("stream", [False, True])
def test_openai_sdk_on_claude_with_tool_round_trip_and_image(
    stateless: ServerThread, mock_upstream: ServerThread, stream: bool
) -> None:
    """Chat Completions to an Anthropic model: system hoisted, image as base64 source, tool call and its result."""
    client = openai.OpenAI(base_url=f"{stateless.url}/v1", api_key="k", max_retries=0)
    messages = [
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "weather here?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
            ],
        },
    ]
    if stream:
        with client.chat.completions.stream(model="claude-sonnet-4-5", messages=messages, tools=[CHAT_TOOL]) as s:
            first = s.get_final_completion()
    else:
        first = client.chat.completions.create(model="claude-sonnet-4-5", messages=messages, tools=[CHAT_TOOL])
    sent = last_sent(mock_upstream)
    assert sent.path == "/v1/messages" and sent.headers["x-api-key"] == ANTHROPIC_KEY
    assert sent.body["system"] == "Be brief." and sent.body["max_tokens"] == 64000
    assert sent.body["messages"][0]["content"][1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": PNG},
    }
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls" and call.function.name == "get_weather"
    second = client.chat.completions.create(
        model="claude-sonnet-4-5",
        tools=[CHAT_TOOL],
        stream=False,
        messages=[
            *messages,
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
        ],
    )
    assert (second.choices[0].message.content or "").startswith("tool result received: sunny.")
    assert "images: 1" in (second.choices[0].message.content or "")
    turn = last_sent(mock_upstream).body["messages"]
    assert turn[-1]["role"] == "user" and turn[-1]["content"][0]["type"] == "tool_result"


def test_openai_sdk_stream_on_claude_has_usage_and_done(stateless: ServerThread) -> None:
    """Chat SSE out of an Anthropic stream: role chunk first, finish chunk, usage chunk with no choices, [DONE]."""
    response = http.post(
        f"{stateless.url}/v1/chat/completions",
        {
            "model": "claude-sonnet-4-5",
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "hi"}],
        },
    )
    assert response.status == 200 and b"event:" not in response.body
    chunks = [line[6:] for line in response.body.decode().split("\n") if line.startswith("data: ")]
    assert chunks[-1] == "[DONE]"
    import json

    parsed = [json.loads(c) for c in chunks[:-1]]
    assert parsed[0]["choices"][0]["delta"]["role"] == "assistant"
    assert parsed[-1]["choices"] == [] and parsed[-1]["usage"]["total_tokens"] > 0
    assert parsed[-2]["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_sdk_on_gpt_with_tool_round_trip_and_image(
    stateless: ServerThread, mock_upstream: ServerThread, stream: bool
) -> None:
    """Messages to an OpenAI-compatible model: tool_use out, tool_result back, image as a data URL upstream."""
    client = anthropic.Anthropic(base_url=stateless.url, api_key="k", max_retries=0)
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "weather?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
            ],
        }
    ]
    if stream:
        with client.messages.stream(
            model="gpt-4o-mini", max_tokens=200, system="Be brief.", messages=messages, tools=[ANTHROPIC_TOOL]
        ) as s:
            first = s.get_final_message()
    else:
        first = client.messages.create(
            model="gpt-4o-mini", max_tokens=200, system="Be brief.", messages=messages, tools=[ANTHROPIC_TOOL]
        )
    sent = last_sent(mock_upstream)
    assert sent.path == "/v1/chat/completions" and sent.headers["Authorization"] == f"Bearer {OPENAI_KEY}"
    assert sent.body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert sent.body["messages"][1]["content"][1]["image_url"]["url"] == f"data:image/png;base64,{PNG}"
    tool_use = first.content[-1]
    assert first.stop_reason == "tool_use" and tool_use.type == "tool_use" and tool_use.input == {"city": "weather?"}
    second = client.messages.create(
        model="gpt-4o-mini",
        max_tokens=200,
        tools=[ANTHROPIC_TOOL],
        messages=[
            *messages,
            {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in first.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "rainy"}]},
        ],
    )
    assert second.content[0].text.startswith("tool result received: rainy.")
    assert second.stop_reason == "end_turn" and second.usage.output_tokens > 0


def test_anthropic_stream_from_gpt_has_anthropic_framing(stateless: ServerThread) -> None:
    """Anthropic SSE out of a Chat stream: event lines, one message_start, message_stop last, never [DONE]."""
    response = http.post(
        f"{stateless.url}/v1/messages",
        {"model": "gpt-4o-mini", "max_tokens": 100, "stream": True, "messages": [{"role": "user", "content": "hi"}]},
        headers={"anthropic-version": "2023-06-01"},
    )
    body = response.body.decode()
    events = [line[7:] for line in body.split("\n") if line.startswith("event: ")]
    assert events[0] == "message_start" and events.count("message_start") == 1
    assert events[-2:] == ["message_delta", "message_stop"] and "[DONE]" not in body


def test_anthropic_pass_through_forwards_beta_and_uses_provider_key(
    stateless: ServerThread, mock_upstream: ServerThread
) -> None:
    """To an Anthropic provider the body is relayed with only the model rewritten; anthropic-beta is forwarded."""
    client = anthropic.Anthropic(base_url=stateless.url, api_key="client-key", max_retries=0)
    client.messages.create(
        model="reasoning-model",
        max_tokens=20,
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"anthropic-beta": "tools-2024-05-16"},
    )
    sent = last_sent(mock_upstream)
    assert sent.body == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 20,
        "messages": [{"role": "user", "content": "hi"}],
    }
    assert sent.headers["anthropic-beta"] == "tools-2024-05-16" and sent.headers["x-api-key"] == ANTHROPIC_KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"


def test_errors_in_anthropic_format_whatever_the_upstream(stateless: ServerThread) -> None:
    """An OpenAI upstream's 429 reaches an Anthropic client as rate_limit_error; bad input is invalid_request_error."""
    client = anthropic.Anthropic(base_url=stateless.url, api_key="k", max_retries=0)
    with pytest.raises(anthropic.RateLimitError):
        client.messages.create(
            model="gpt-4o-mini", max_tokens=10, messages=[{"role": "user", "content": "[[fault:429]] x"}]
        )
    with pytest.raises(anthropic.OverloadedError):
        client.messages.create(
            model="claude-sonnet-4-5", max_tokens=10, messages=[{"role": "user", "content": "[[fault:529]] y"}]
        )
    response = http.post(
        f"{stateless.url}/v1/messages",
        {"model": "gpt-4o-mini", "messages": []},
        headers={"anthropic-version": "2023-06-01"},
    )
    assert response.status == 400
    assert response.json()["type"] == "error" and response.json()["error"]["type"] == "invalid_request_error"
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(model="nope", max_tokens=10, messages=[{"role": "user", "content": "x"}])


def test_mid_stream_failure_becomes_each_clients_error(stateless: ServerThread) -> None:
    """A provider stream that breaks after the first byte ends with the client format's own error event."""
    oai = openai.OpenAI(base_url=f"{stateless.url}/v1", api_key="k", max_retries=0)
    with pytest.raises(openai.APIError):
        for _ in oai.chat.completions.create(
            model="claude-sonnet-4-5",
            stream=True,
            messages=[{"role": "user", "content": "[[fault:error-mid-stream]] a b c d e"}],
        ):
            pass
    claude = anthropic.Anthropic(base_url=stateless.url, api_key="k", max_retries=0)
    with (
        pytest.raises(anthropic.APIStatusError),
        claude.messages.stream(
            model="gpt-4o-mini", max_tokens=50, messages=[{"role": "user", "content": "[[fault:cut]] a b c d e f"}]
        ) as s,
    ):
        s.get_final_message()


def test_count_tokens_exact_or_estimate(stateless: ServerThread) -> None:
    """count_tokens comes from an Anthropic upstream exactly, and is estimated (and says so) otherwise."""
    client = anthropic.Anthropic(base_url=stateless.url, api_key="k", max_retries=0)
    exact = client.messages.with_raw_response.count_tokens(
        model="claude-sonnet-4-5", messages=[{"role": "user", "content": "hello world"}]
    )
    assert exact.headers["x-plano-token-count"] == "exact" and exact.parse().input_tokens > 0
    estimate = client.messages.with_raw_response.count_tokens(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello world"}]
    )
    assert estimate.headers["x-plano-token-count"] == "estimate" and estimate.parse().input_tokens > 0
