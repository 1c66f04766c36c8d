"""One canonical tool, tool choice and output schema as each upstream builder sends them, and the validate-only checks
the byte relay runs: OpenAI's and Anthropic's first errors, without reading content."""

from __future__ import annotations

from typing import Any

import pytest

from plano_proxy.transformers.anthropic_request import anthropic_request_to_canonical, check_messages_request
from plano_proxy.transformers.anthropic_upstream import canonical_to_anthropic_request
from plano_proxy.transformers.canonical import CanonicalRequest, FunctionTool, OutputFormat, ToolChoice
from plano_proxy.transformers.chat_request import chat_request_to_canonical, check_chat_request
from plano_proxy.transformers.chat_upstream import canonical_to_chat_request
from plano_proxy.transformers.errors import RequestError
from plano_proxy.transformers.responses_request import canonical_to_responses_request

WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}}
EMPTY_SCHEMA = {"type": "object", "properties": {}}


def request(**fields: Any) -> CanonicalRequest:
    return CanonicalRequest(model="m", items=({"type": "message", "role": "user", "content": []},), **fields)


def bodies(req: CanonicalRequest) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    chat, _ = canonical_to_chat_request(req, upstream_model="m")
    anthropic = canonical_to_anthropic_request(req, upstream_model="m", default_max_tokens=100)
    return chat, canonical_to_responses_request(req, upstream_model="m"), anthropic


def test_function_tools_in_each_format() -> None:
    """A described strict tool keeps all its fields; a bare one gets the empty object schema; Anthropic has no strict."""
    tools = (FunctionTool("weather", "Weather of a city", WEATHER, True), FunctionTool("now"))
    chat, responses, anthropic = bodies(request(tools=tools))
    assert chat["tools"] == [
        {
            "type": "function",
            "function": {"name": "weather", "parameters": WEATHER, "description": "Weather of a city", "strict": True},
        },
        {"type": "function", "function": {"name": "now", "parameters": EMPTY_SCHEMA}},
    ]
    assert responses["tools"] == [
        {
            "type": "function",
            "name": "weather",
            "parameters": WEATHER,
            "description": "Weather of a city",
            "strict": True,
        },
        {"type": "function", "name": "now", "parameters": EMPTY_SCHEMA},
    ]
    assert anthropic["tools"] == [
        {"name": "weather", "input_schema": WEATHER, "description": "Weather of a city"},
        {"name": "now", "input_schema": EMPTY_SCHEMA},
    ]


@pytest.mark.parametrize(
    ("choice", "chat", "responses", "anthropic"),
    [
        (ToolChoice("auto"), "auto", "auto", {"type": "auto"}),
        (ToolChoice("none"), "none", "none", {"type": "none"}),
        (ToolChoice("required"), "required", "required", {"type": "any"}),
        (
            ToolChoice("function", "now"),
            {"type": "function", "function": {"name": "now"}},
            {"type": "function", "name": "now"},
            {"type": "tool", "name": "now"},
        ),
    ],
)
def test_tool_choice_in_each_format(choice: ToolChoice, chat: Any, responses: Any, anthropic: Any) -> None:
    """Modes are OpenAI's strings or Anthropic's types; a forced function is named where each format puts it."""
    bodies_ = bodies(request(tools=(FunctionTool("now"),), tool_choice=choice))
    assert [body["tool_choice"] for body in bodies_] == [chat, responses, anthropic]


def test_json_schema_output_in_each_format() -> None:
    """OpenAI's formats name the schema ("response" when unnamed) and keep strict; Anthropic's takes the schema only."""
    chat, responses, anthropic = bodies(request(output_format=OutputFormat("json_schema", None, WEATHER, False)))
    fields = {"name": "response", "schema": WEATHER, "strict": False}
    assert chat["response_format"] == {"type": "json_schema", "json_schema": fields}
    assert responses["text"] == {"format": {"type": "json_schema", **fields}}
    assert anthropic["output_config"] == {"format": {"type": "json_schema", "schema": WEATHER}}


@pytest.mark.parametrize("choice", [ToolChoice("auto"), ToolChoice("none"), ToolChoice("required")])
def test_anthropic_tool_choice_reads_back_as_written(choice: ToolChoice) -> None:
    """Anthropic's tool_choice types read back into the canonical modes they were written from."""
    written = bodies(request(tools=(FunctionTool("now"),), tool_choice=choice))[2]["tool_choice"]
    body = {"messages": [{"role": "user", "content": "x"}], "max_tokens": 5, "tool_choice": written}
    assert anthropic_request_to_canonical(check_messages_request(body, need_max_tokens=True)).tool_choice == choice


def test_validate_only_checks_leave_content_to_the_provider() -> None:
    """The relay's checks pass content they do not read; the translating parser then refuses what it cannot carry."""
    chat = check_chat_request({"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]})
    with pytest.raises(RequestError, match="Audio input"):
        chat_request_to_canonical(chat)
    check_messages_request({"messages": [{"role": "user", "content": [{"type": "novel"}]}]}, need_max_tokens=False)


@pytest.mark.parametrize(
    ("body", "message", "param"),
    [
        ({}, "Missing required parameter: 'messages'.", "messages"),
        ({"messages": "hi"}, "Invalid type for 'messages': expected an array, but got a string instead.", "messages"),
        ({"messages": []}, "Invalid 'messages': empty array.", "messages"),
        (
            {"messages": [5]},
            "Invalid type for 'messages[0]': expected an object, but got a number instead.",
            "messages[0]",
        ),
        ({"messages": [{"content": "x"}]}, "Missing required parameter: 'messages[0].role'.", "messages[0].role"),
        (
            {"messages": [{"role": "wizard"}]},
            "Invalid value: 'wizard'. Supported values are: 'system',",
            "messages[0].role",
        ),
        ({"messages": [{"role": "user"}], "stream": "yes"}, "Invalid type for 'stream': expected a boolean", "stream"),
    ],
)
def test_chat_checks_use_openai_words(body: dict[str, Any], message: str, param: str) -> None:
    """Each first check fails with OpenAI's wording and parameter path."""
    with pytest.raises(RequestError) as caught:
        check_chat_request(body)
    assert caught.value.message.startswith(message)
    assert caught.value.param == param


@pytest.mark.parametrize(
    ("body", "need_max_tokens", "message"),
    [
        ({}, False, "messages: Field required"),
        ({"messages": {}}, False, "messages: Input should be a list"),
        ({"messages": [{"role": "bot"}]}, False, "messages.0: each message needs a role of 'user', 'assistant' or"),
        ({"messages": [{"role": "user", "content": 5}]}, False, "messages.0.content: Input should be a valid string"),
        ({"messages": [{"role": "user", "content": [{}]}]}, False, "messages.0.content.0: each content block must"),
        ({"messages": []}, True, "max_tokens: Field required"),
        ({"messages": [], "max_tokens": 0}, False, "max_tokens: Input should be a valid integer greater than or"),
        ({"messages": [], "max_tokens": 5, "stream": 1}, True, "stream: Input should be a valid boolean"),
    ],
)
def test_messages_checks_use_anthropic_words(body: dict[str, Any], need_max_tokens: bool, message: str) -> None:
    """Each first check fails with Anthropic's wording; count_tokens does not need max_tokens."""
    with pytest.raises(RequestError) as caught:
        check_messages_request(body, need_max_tokens=need_max_tokens)
    assert caught.value.message.startswith(message)
