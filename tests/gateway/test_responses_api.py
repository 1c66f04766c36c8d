"""The Responses API on every upstream kind (Chat Completions, Anthropic Messages, native Responses), statelessly."""

from __future__ import annotations

import base64
import json

import openai
import pytest
from mock_upstream import REQUESTS
from support.servers import ServerThread

UPSTREAMS = {"chat": "gpt-4o-mini", "anthropic": "claude-sonnet-4-5", "native": "gpt-4o"}
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
CLOCK = {
    "type": "function",
    "name": "get_time",
    "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}},
}


@pytest.fixture
def client(make_gateway) -> openai.OpenAI:
    gateway = make_gateway(storage=None)
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)


def comparable(response: openai.types.responses.Response) -> dict:
    body = response.model_dump(exclude={"id", "created_at", "completed_at"}, exclude_none=True)
    for item in body["output"]:
        item.pop("id", None)
        if item.get("type") == "function_call":
            item.pop("call_id", None)
    return body


@pytest.mark.parametrize("upstream", UPSTREAMS)
def test_text_stream_equals_create(client: openai.OpenAI, upstream: str) -> None:
    """The streaming helper's final response equals the non-streaming one apart from ids and times."""
    model = UPSTREAMS[upstream]
    created = client.responses.create(
        model=model, input="hello there", instructions="Be kind.", temperature=0.5, metadata={"k": "v"}
    )
    with client.responses.stream(
        model=model, input="hello there", instructions="Be kind.", temperature=0.5, metadata={"k": "v"}
    ) as stream:
        events = list(stream)
        streamed = stream.get_final_response()
    assert 'last user said: "hello there"' in created.output_text and "system: yes" in created.output_text
    assert comparable(created) == comparable(streamed)
    assert created.model == model and created.temperature == 0.5 and created.metadata == {"k": "v"}
    assert created.usage is not None and created.usage.input_tokens_details.cached_tokens == 0
    assert created.id.startswith("resp_") and len(created.id) > 40
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[0].type == "response.created" and events[-1].type == "response.completed"


TEXT_THEN_CALL = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.output_item.added",
    "response.function_call_arguments.delta",
    "response.function_call_arguments.done",
    "response.output_item.done",
    "response.completed",
]
"""A sentence, then a call, with each run of deltas counted once."""


@pytest.mark.parametrize("upstream", UPSTREAMS)
def test_text_then_function_call_event_order(client: openai.OpenAI, upstream: str) -> None:
    """A streamed answer that says a sentence and then calls a tool: the message item is closed before the call's
    item opens, indices and sequence numbers count up, and the final response holds both items in order."""
    events = list(
        client.responses.create(model=UPSTREAMS[upstream], input="[[say-first]] weather", tools=[WEATHER], stream=True)
    )
    types = [event.type for event in events]
    runs = [kind for index, kind in enumerate(types) if not (kind.endswith(".delta") and kind == types[index - 1])]
    assert runs == TEXT_THEN_CALL
    assert [event.sequence_number for event in events] == list(range(len(events)))
    added = [event for event in events if event.type == "response.output_item.added"]
    assert [(event.output_index, event.item.type) for event in added] == [(0, "message"), (1, "function_call")]
    final = events[-1].response
    assert [item.type for item in final.output] == ["message", "function_call"]
    assert final.output_text == "Let me look that up." and final.output[1].name == "get_weather"


@pytest.mark.parametrize("upstream", UPSTREAMS)
def test_stateless_tool_round_trip_and_parallel_calls(client: openai.OpenAI, upstream: str) -> None:
    """Function calls come back as items; sending them back with their outputs continues without stored state."""
    model = UPSTREAMS[upstream]
    first = client.responses.create(model=model, input="parallel weather and time", tools=[WEATHER, CLOCK], store=False)
    calls = [item for item in first.output if item.type == "function_call"]
    assert [c.name for c in calls] == ["get_weather", "get_time"]
    assert all(c.id.startswith("fc_") for c in calls)
    second = client.responses.create(
        model=model,
        tools=[WEATHER, CLOCK],
        store=False,
        input=[
            {"role": "user", "content": "parallel weather and time"},
            *[c.model_dump(exclude_none=True) for c in calls],
            *[
                {"type": "function_call_output", "call_id": c.call_id, "output": f"result {i}"}
                for i, c in enumerate(calls)
            ],
        ],
    )
    assert second.output_text.startswith("tool result received: result 1.")


def test_reasoning_on_anthropic_round_trips(client: openai.OpenAI, make_gateway, mock_upstream: ServerThread) -> None:
    """reasoning.effort becomes Anthropic thinking; the reasoning item replays the exact thinking block."""
    first = client.responses.create(model="claude-sonnet-4-5", input="think", reasoning={"effort": "low"}, store=False)
    reasoning = first.output[0]
    assert reasoning.type == "reasoning" and reasoning.summary[0].text.startswith("Thinking about")
    assert mock_upstream.app is not None
    assert mock_upstream.app[REQUESTS][-1].body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    client.responses.create(
        model="claude-sonnet-4-5",
        reasoning={"effort": "low"},
        store=False,
        input=[
            {"role": "user", "content": "think"},
            reasoning.model_dump(exclude_none=True),
            {"role": "user", "content": "more"},
        ],
    )
    replayed = mock_upstream.app[REQUESTS][-1].body["messages"][1]["content"][0]
    assert replayed["type"] == "thinking" and replayed["signature"].startswith("mocksig-")
    assert replayed["thinking"] == reasoning.summary[0].text


@pytest.mark.parametrize("upstream", UPSTREAMS)
def test_max_output_tokens_gives_incomplete(client: openai.OpenAI, upstream: str) -> None:
    """Hitting max_output_tokens is status incomplete with reason max_output_tokens, streamed or not."""
    response = client.responses.create(model=UPSTREAMS[upstream], input="tell me everything", max_output_tokens=16)
    assert response.status == "incomplete" and response.incomplete_details.reason == "max_output_tokens"
    with client.responses.stream(model=UPSTREAMS[upstream], input="tell me everything", max_output_tokens=16) as stream:
        last = list(stream)[-1]
    assert last.type == "response.incomplete"


@pytest.mark.parametrize("upstream", UPSTREAMS)
def test_structured_output(client: openai.OpenAI, upstream: str) -> None:
    """text.format json_schema becomes the provider's structured output and the text parses."""
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "temp": {"type": "integer"}},
        "required": ["city", "temp"],
    }
    response = client.responses.create(
        model=UPSTREAMS[upstream],
        input="weather",
        text={"format": {"type": "json_schema", "name": "w", "schema": schema}},
    )
    assert set(json.loads(response.output_text)) == {"city", "temp"}


@pytest.mark.parametrize("upstream", UPSTREAMS)
def test_image_input(client: openai.OpenAI, upstream: str) -> None:
    """An input_image part reaches every provider as an image."""
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n").decode()
    response = client.responses.create(
        model=UPSTREAMS[upstream],
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "what is this"},
                    {"type": "input_image", "image_url": f"data:image/png;base64,{png}"},
                ],
            }
        ],
    )
    assert "images: 1" in response.output_text


@pytest.mark.parametrize("upstream", UPSTREAMS)
def test_upstream_failure_mid_stream(client: openai.OpenAI, upstream: str) -> None:
    """A provider failing after the first byte ends the stream with response.failed."""
    with client.responses.stream(
        model=UPSTREAMS[upstream], input="[[fault:error-mid-stream]] one two three four five"
    ) as stream:
        events = list(stream)
    assert events[-1].type == "response.failed"
    assert events[-1].response.error is not None


def test_builtin_tool_left_out_for_a_translated_upstream(client: openai.OpenAI, mock_upstream: ServerThread) -> None:
    """A built-in tool on a non-OpenAI model is not sent there; the answer names it in x-plano-ignored-params."""
    raw = client.responses.with_raw_response.create(
        model="claude-sonnet-4-5",
        input="x",
        tools=[{"type": "web_search_preview"}, {"type": "function", "name": "f", "parameters": {"type": "object"}}],
    )
    assert raw.headers["x-plano-ignored-params"] == "tools:web_search_preview"
    assert mock_upstream.app is not None
    assert [tool["name"] for tool in mock_upstream.app[REQUESTS][-1].body["tools"]] == ["f"]


def test_unknown_parameter_goes_to_a_native_upstream(client: openai.OpenAI, mock_upstream: ServerThread) -> None:
    """An unknown top-level parameter reaches a native Responses upstream as sent, and no header names it."""
    raw = client.responses.with_raw_response.create(
        model="gpt-4o", input="x", extra_body={"client_metadata": {"session_id": "s"}, "seed": 1}
    )
    assert "x-plano-ignored-params" not in raw.headers
    assert mock_upstream.app is not None
    sent = mock_upstream.app[REQUESTS][-1].body
    assert (sent["client_metadata"], sent["seed"]) == ({"session_id": "s"}, 1)


def test_unknown_parameter_left_out_for_a_translated_upstream(
    client: openai.OpenAI, mock_upstream: ServerThread
) -> None:
    """To a Chat Completions upstream the unknown parameters are left out and named, sorted, in one header."""
    raw = client.responses.with_raw_response.create(
        model="gpt-4o-mini", input="x", extra_body={"client_metadata": {"session_id": "s"}, "prompt_cache_key": "k"}
    )
    assert raw.headers["x-plano-ignored-params"] == "client_metadata, prompt_cache_key"
    assert mock_upstream.app is not None
    sent = mock_upstream.app[REQUESTS][-1].body
    assert "client_metadata" not in sent and "prompt_cache_key" not in sent


def test_native_upstream_gets_stateless_request(client: openai.OpenAI, mock_upstream: ServerThread) -> None:
    """A native Responses upstream receives store false, the full input without ids, and encrypted reasoning asked for."""
    client.responses.create(model="gpt-4o", input=[{"id": "msg_x", "type": "message", "role": "user", "content": "hi"}])
    assert mock_upstream.app is not None
    sent = mock_upstream.app[REQUESTS][-1]
    assert sent.path == "/v1/responses"
    assert sent.body["store"] is False and sent.body["include"] == ["reasoning.encrypted_content"]
    assert "id" not in sent.body["input"][0]


def test_builtin_tool_passed_to_native_upstream(client: openai.OpenAI, mock_upstream: ServerThread) -> None:
    """On a model with a native Responses upstream, built-in tools are forwarded as sent."""
    client.responses.create(model="gpt-4o", input="search the news", tools=[{"type": "web_search_preview"}])
    assert mock_upstream.app is not None
    assert mock_upstream.app[REQUESTS][-1].body["tools"] == [{"type": "web_search_preview"}]
