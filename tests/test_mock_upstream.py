"""The mock upstream speaks each provider's wire format well enough for the official SDKs, and injects faults."""

from __future__ import annotations

import re

import anthropic
import openai
import pytest
from support import http
from support.servers import ServerThread

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
ECHO = re.compile(
    r'heard (\d+) messages \(system: (yes|no), images: (\d+), tool results: (\d+)\); last user said: "(.*?)";'
)


@pytest.fixture
def oai(mock_upstream: ServerThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{mock_upstream.url}/v1", api_key="k", max_retries=0)


@pytest.fixture
def claude(mock_upstream: ServerThread) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=mock_upstream.url, api_key="k", max_retries=0)


def test_chat_echo_reveals_history(oai: openai.OpenAI) -> None:
    """The answer says how many messages arrived and what the user said."""
    completion = oai.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "My name is Alice"},
            {"role": "assistant", "content": "Hi Alice"},
            {"role": "user", "content": "What's my name?"},
        ],
    )
    match = ECHO.search(completion.choices[0].message.content or "")
    assert match is not None
    assert match.groups() == ("3", "yes", "0", "0", "What's my name?")
    assert 'earlier user texts: ["My name is Alice"]' in (completion.choices[0].message.content or "")
    assert completion.usage is not None and completion.usage.total_tokens > 0


def test_chat_stream_with_tool_call(oai: openai.OpenAI) -> None:
    """A streamed tool call assembles in the SDK's stream helper into a call with JSON arguments."""
    with oai.chat.completions.stream(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER_TOOL],
        stream_options={"include_usage": True},
    ) as stream:
        final = stream.get_final_completion()
    call = final.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert call.function.arguments == '{"city": "Weather in Paris?"}'
    assert final.choices[0].finish_reason == "tool_calls"
    assert final.usage is not None


def test_chat_parallel_calls_then_tool_result(oai: openai.OpenAI) -> None:
    """'parallel' gives two calls; after a tool result the answer quotes it."""
    first = oai.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "parallel please"}], tools=[WEATHER_TOOL]
    )
    assert len(first.choices[0].message.tool_calls or []) == 2
    second = oai.chat.completions.create(
        model="m",
        tools=[WEATHER_TOOL],
        messages=[
            {"role": "user", "content": "weather?"},
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": first.choices[0].message.tool_calls[0].id, "content": "sunny"},
        ],
    )
    assert (second.choices[0].message.content or "").startswith("tool result received: sunny.")


def test_responses_stream_and_create(oai: openai.OpenAI) -> None:
    """responses.create and the responses.stream helper both work; reasoning comes as a reasoning item."""
    created = oai.responses.create(model="gpt-4o", input="hello there", store=False)
    assert 'last user said: "hello there"' in created.output_text
    with oai.responses.stream(model="gpt-4o", input="hi", reasoning={"effort": "low"}, store=False) as stream:
        final = stream.get_final_response()
    assert [item.type for item in final.output] == ["reasoning", "message"]
    assert final.output[0].encrypted_content
    assert 'last user said: "hi"' in final.output_text


def test_responses_refuses_previous_response_id(oai: openai.OpenAI) -> None:
    """The mock keeps no state, like an upstream used with store: false."""
    with pytest.raises(openai.BadRequestError) as caught:
        oai.responses.create(model="gpt-4o", input="x", previous_response_id="resp_123")
    assert caught.value.code == "previous_response_not_found"


def test_anthropic_create_and_stream_with_thinking_and_tools(claude: anthropic.Anthropic) -> None:
    """messages.create and messages.stream().get_final_message() accept the stream, thinking signature included."""
    message = claude.messages.create(
        model="claude-sonnet-4-5", max_tokens=100, messages=[{"role": "user", "content": "hey"}]
    )
    assert message.content[0].type == "text" and 'last user said: "hey"' in message.content[0].text
    with claude.messages.stream(
        model="claude-sonnet-4-5",
        max_tokens=2000,
        thinking={"type": "enabled", "budget_tokens": 1024},
        tools=[{"name": "get_weather", "input_schema": WEATHER_TOOL["function"]["parameters"]}],
        messages=[{"role": "user", "content": "weather in Oslo"}],
    ) as stream:
        final = stream.get_final_message()
    assert [block.type for block in final.content] == ["thinking", "tool_use"]
    assert final.content[0].signature.startswith("mocksig-")
    assert final.content[1].input == {"city": "weather in Oslo"}
    assert final.stop_reason == "tool_use"


def test_max_tokens_truncates(oai: openai.OpenAI, claude: anthropic.Anthropic) -> None:
    """A small output budget cuts the answer and reports a length finish in each format."""
    chat = oai.chat.completions.create(model="m", max_tokens=3, messages=[{"role": "user", "content": "hello"}])
    assert chat.choices[0].finish_reason == "length" and len((chat.choices[0].message.content or "").split()) == 3
    msg = claude.messages.create(model="c", max_tokens=3, messages=[{"role": "user", "content": "hello"}])
    assert msg.stop_reason == "max_tokens"
    resp = oai.responses.create(model="g", input="hello", max_output_tokens=16, store=False)
    assert resp.status == "incomplete" and resp.incomplete_details.reason == "max_output_tokens"


@pytest.mark.parametrize(
    ("fault", "chat_error", "anthropic_error"),
    [
        ("429", openai.RateLimitError, anthropic.RateLimitError),
        ("500", openai.InternalServerError, anthropic.InternalServerError),
        ("529", openai.InternalServerError, anthropic.OverloadedError),
    ],
)
def test_status_faults_raise_sdk_errors(
    oai: openai.OpenAI, claude: anthropic.Anthropic, fault: str, chat_error: type, anthropic_error: type
) -> None:
    """Injected statuses arrive with each provider's error body, so the SDKs raise their own classes."""
    with pytest.raises(chat_error):
        oai.chat.completions.create(model="m", messages=[{"role": "user", "content": f"[[fault:{fault}]] a"}])
    with pytest.raises(anthropic_error):
        claude.messages.create(model="c", max_tokens=5, messages=[{"role": "user", "content": f"[[fault:{fault}]] b"}])


def test_fault_limited_to_first_attempts(oai: openai.OpenAI) -> None:
    """x2 fails twice, then the same request succeeds."""
    messages = [{"role": "user", "content": "[[fault:500x2]] retry me"}]
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            oai.chat.completions.create(model="m", messages=messages)
    assert oai.chat.completions.create(model="m", messages=messages).choices[0].message.content


def test_rate_limit_has_retry_after(mock_upstream: ServerThread) -> None:
    """429 answers carry Retry-After, as real providers send it."""
    response = http.post(
        f"{mock_upstream.url}/v1/chat/completions",
        {"model": "m", "messages": [{"role": "user", "content": "x"}]},
        headers={"x-mock-fault": "429"},
    )
    assert response.status == 429 and response.headers["retry-after"] == "1"
    assert response.json()["error"]["code"] == "rate_limit_exceeded"


def test_cut_and_error_mid_stream(oai: openai.OpenAI, claude: anthropic.Anthropic) -> None:
    """A cut stream breaks the client's read; an in-stream error raises the SDK's API error."""
    with pytest.raises(openai.APIConnectionError):
        for _ in oai.chat.completions.create(
            model="m", stream=True, messages=[{"role": "user", "content": "[[fault:cut]] one two three four five"}]
        ):
            pass
    with pytest.raises(openai.APIError):
        for _ in oai.chat.completions.create(
            model="m", stream=True, messages=[{"role": "user", "content": "[[fault:error-mid-stream]] one two three"}]
        ):
            pass
    with (
        pytest.raises(anthropic.APIStatusError),
        claude.messages.stream(
            model="c", max_tokens=50, messages=[{"role": "user", "content": "[[fault:error-mid-stream]] a b c d"}]
        ) as stream,
    ):
        stream.get_final_message()


def test_anthropic_requires_key_and_version(mock_upstream: ServerThread) -> None:
    """Without x-api-key the mock answers 401 in Anthropic's error shape."""
    response = http.post(
        f"{mock_upstream.url}/v1/messages",
        {"model": "c", "max_tokens": 5, "messages": []},
        headers={"anthropic-version": "2023-06-01"},
    )
    assert response.status == 401
    assert response.json()["error"]["type"] == "authentication_error"


def test_records_requests(mock_upstream: ServerThread, oai: openai.OpenAI) -> None:
    """Every request is recorded with its headers and body."""
    oai.chat.completions.create(model="recorded-model", messages=[{"role": "user", "content": "x"}])
    from mock_upstream import REQUESTS

    assert mock_upstream.app is not None
    last = mock_upstream.app[REQUESTS][-1]
    assert last.body["model"] == "recorded-model" and last.headers["Authorization"] == "Bearer k"
