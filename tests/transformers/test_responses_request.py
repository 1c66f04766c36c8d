"""Responses requests ⇄ canonical: every input form, every parameter, OpenAI's validation errors, and the stateless
body sent to a native Responses upstream."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plano_proxy.transformers.canonical import (
    CanonicalRequest,
    FunctionTool,
    OutputFormat,
    Reasoning,
    ToolChoice,
    ToolNamespace,
)
from plano_proxy.transformers.errors import RequestError
from plano_proxy.transformers.reasoning_codec import pack_anthropic_block
from plano_proxy.transformers.responses_items import normalise_input_items
from plano_proxy.transformers.responses_request import canonical_to_responses_request, responses_request_to_canonical

PNG = "data:image/png;base64,iVBORw0KGgo="
PDF = "data:application/pdf;base64,JVBERi0xLjQ="


def sent_body(req: CanonicalRequest, *, upstream_model: str) -> dict[str, Any]:
    """The native body as the upstream reads it: its input is serialised ahead (`history_memo`)."""
    body: dict[str, Any] = orjson.loads(
        orjson.dumps(canonical_to_responses_request(req, upstream_model=upstream_model))
    )
    return body


def parse(**body: Any) -> CanonicalRequest:
    return responses_request_to_canonical({"model": "gpt-test", **body})


def items(raw: Any) -> list[dict[str, Any]]:
    return list(parse(input=raw).items)


# -- input forms ----------------------------------------------------------------------------------------------------


def test_string_input_is_one_user_message() -> None:
    """A string input is a single user message with one input_text part."""
    assert items("Hello") == [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hello"}]}]


@pytest.mark.parametrize("role", ["user", "system", "developer"])
def test_easy_message_string_content_for_input_roles(role: str) -> None:
    """An easy message's string content becomes an input_text part for user, system and developer."""
    assert items([{"role": role, "content": "x"}]) == [
        {"type": "message", "role": role, "content": [{"type": "input_text", "text": "x"}]}
    ]


def test_assistant_text_becomes_output_text_with_annotations() -> None:
    """Assistant text, as a string or in either text part spelling, is output_text with empty annotations."""
    out = items(
        [
            {"role": "assistant", "content": "a"},
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "b", "annotations": []}],
            },
            {"role": "assistant", "content": [{"type": "input_text", "text": "c"}]},
        ]
    )
    assert [m["content"] for m in out] == [
        [{"type": "output_text", "text": t, "annotations": []}] for t in ("a", "b", "c")
    ]


def test_typed_message_with_every_user_part() -> None:
    """Text, an image URL, a data-URL image with detail and an inline file keep their content."""
    out = items(
        [
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "look"},
                    {"type": "input_image", "image_url": "https://example.com/cat.png"},
                    {"type": "input_image", "image_url": PNG, "detail": "high"},
                    {"type": "input_file", "file_data": PDF, "filename": "doc.pdf"},
                ],
            }
        ]
    )
    assert out[0]["content"] == [
        {"type": "input_text", "text": "look"},
        {"type": "input_image", "image_url": "https://example.com/cat.png", "detail": "auto"},
        {"type": "input_image", "image_url": PNG, "detail": "high"},
        {"type": "input_file", "file_data": PDF, "filename": "doc.pdf"},
    ]


def test_bare_base64_file_data_becomes_a_data_url() -> None:
    """file_data given as bare base64 is typed from its filename (PDF when unknown)."""
    out = items(
        [
            {
                "role": "user",
                "content": [
                    {"type": "input_file", "file_data": "aGk=", "filename": "notes.txt"},
                    {"type": "input_file", "file_data": "JVBE"},
                ],
            }
        ]
    )
    assert [p["file_data"] for p in out[0]["content"]] == [
        "data:text/plain;base64,aGk=",
        "data:application/pdf;base64,JVBE",
    ]


def test_assistant_refusal_part() -> None:
    """An assistant refusal part is kept as a refusal."""
    out = items([{"role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]}])
    assert out[0]["content"] == [{"type": "refusal", "refusal": "No."}]


def test_function_call_and_output_items() -> None:
    """Calls keep call_id, name, arguments and their id; outputs may be a string or parts."""
    out = items(
        [
            {
                "type": "function_call",
                "id": "fc_1",
                "call_id": "call_1",
                "name": "f",
                "arguments": "{}",
                "status": "completed",
            },
            {"type": "function_call_output", "call_id": "call_1", "output": "42"},
            {
                "type": "function_call_output",
                "call_id": "call_2",
                "output": [{"type": "input_text", "text": "see"}, {"type": "input_image", "image_url": PNG}],
            },
        ]
    )
    assert out == [
        {"id": "fc_1", "type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "42"},
        {
            "type": "function_call_output",
            "call_id": "call_2",
            "output": [
                {"type": "input_text", "text": "see"},
                {"type": "input_image", "image_url": PNG, "detail": "auto"},
            ],
        },
    ]


def test_reasoning_item_is_kept_verbatim() -> None:
    """A reasoning item keeps its id, summary and encrypted content exactly."""
    raw = {
        "type": "reasoning",
        "id": "rs_1",
        "summary": [{"type": "summary_text", "text": "thought"}],
        "encrypted_content": "gAAAAB==",
    }
    assert items([raw]) == [raw]


def test_item_reference_with_and_without_type() -> None:
    """Item references stay references for the state layer, whether or not they say their type."""
    assert items([{"type": "item_reference", "id": "msg_1"}, {"id": "msg_2"}]) == [
        {"type": "item_reference", "id": "msg_1"},
        {"type": "item_reference", "id": "msg_2"},
    ]


def test_message_ids_are_kept() -> None:
    """An output message resent as input keeps its id (the store deduplicates by it)."""
    out = items([{"type": "message", "id": "msg_9", "role": "assistant", "status": "completed", "content": "hi"}])
    assert out[0]["id"] == "msg_9"


def test_conversation_items_use_the_same_parser() -> None:
    """Conversations items are parsed like input, with errors naming their own parameter."""
    assert normalise_input_items([{"role": "user", "content": "x"}], param="items")[0]["role"] == "user"
    with pytest.raises(RequestError) as caught:
        normalise_input_items([{"role": "robot", "content": "x"}], param="items")
    assert caught.value.param == "items[0].role"


# -- parameters -----------------------------------------------------------------------------------------------------


def test_every_parameter_maps() -> None:
    """Instructions, tools, tool choice, sampling, limits, format, reasoning, metadata, user and stream map."""
    req = parse(
        input="hi",
        instructions="Be brief.",
        tools=[{"type": "function", "name": "f", "description": "d", "parameters": {"type": "object"}, "strict": True}],
        tool_choice={"type": "function", "name": "f"},
        parallel_tool_calls=False,
        temperature=0.5,
        top_p=0.9,
        max_output_tokens=64,
        text={"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}, "strict": True}},
        reasoning={"effort": "low", "summary": "auto"},
        metadata={"k": "v"},
        user="u1",
        stream=True,
    )
    assert req.instructions == "Be brief."
    assert req.tools == (FunctionTool("f", "d", {"type": "object"}, True),)
    assert req.tool_choice == ToolChoice("function", "f")
    assert (req.parallel_tool_calls, req.temperature, req.top_p, req.max_output_tokens) == (False, 0.5, 0.9, 64)
    assert req.output_format == OutputFormat("json_schema", "out", {"type": "object"}, True)
    assert req.reasoning == Reasoning(effort="low", summary="auto")
    assert (req.metadata, req.user, req.stream) == ({"k": "v"}, "u1", True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ({"format": {"type": "text"}}, OutputFormat("text")),
        ({"format": {"type": "json_object"}}, OutputFormat("json_object")),
        ({"verbosity": "low"}, None),
    ],
)
def test_text_formats(text: dict[str, Any], expected: OutputFormat | None) -> None:
    """text.format text and json_object map; text without a format means none."""
    assert parse(input="x", text=text).output_format == expected


@pytest.mark.parametrize("choice", ["auto", "none", "required"])
def test_tool_choice_strings(choice: str) -> None:
    """String tool choices keep their mode."""
    assert parse(input="x", tool_choice=choice).tool_choice == ToolChoice(choice)  # type: ignore[arg-type]


def test_safety_identifier_wins_over_user() -> None:
    """safety_identifier (the newer name) is the user when both are sent."""
    assert parse(input="x", user="old", safety_identifier="new").user == "new"


def test_defaults_when_absent() -> None:
    """Absent parameters stay unset, so each provider applies its own defaults."""
    req = parse(input="x")
    assert (req.tools, req.tool_choice, req.temperature, req.output_format, req.reasoning, req.stream) == (
        (),
        None,
        None,
        None,
        None,
        False,
    )


def test_builtin_tools_are_kept_as_sent() -> None:
    """A built-in tool (or any tool type newer than the gateway) is kept as sent, apart from the function tools."""
    req = parse(input="x", tools=[{"type": "function", "name": "f"}, {"type": "web_search_preview"}])
    assert req.tools == (FunctionTool("f"),)
    assert req.foreign_tools == ({"type": "web_search_preview"},)


def test_namespace_tools_become_functions_that_know_their_namespace() -> None:
    """A namespace tool's functions are canonical functions carrying the namespace, flattened for other providers."""
    space = {
        "type": "namespace",
        "name": "agents",
        "description": "Sub-agents.",
        "tools": [{"type": "function", "name": "spawn"}],
    }
    req = parse(input="x", tools=[space, {"type": "function", "name": "f"}])
    assert req.tools == (FunctionTool("spawn", namespace=ToolNamespace("agents", "Sub-agents.")), FunctionTool("f"))
    assert [tool.flat_name for tool in req.tools] == ["agents__spawn", "f"]
    assert req.foreign_tools == ()


def test_unknown_parameters_are_kept_for_a_native_upstream() -> None:
    """Parameters the gateway does not read are kept as sent, not refused (Codex sends client_metadata)."""
    req = parse(input="x", client_metadata={"session_id": "s"}, prompt_cache_key="k", seed=1, store=False)
    assert req.extra == {"client_metadata": {"session_id": "s"}, "prompt_cache_key": "k", "seed": 1}
    assert req.client_format == "responses"


def test_unknown_items_and_parts_are_kept() -> None:
    """An unknown item type is kept as sent; an unknown part becomes text when it has some, else is kept as sent."""
    got = items(
        [
            {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"query": "q"}},
            {"role": "user", "content": [{"type": "input_note", "text": "n"}, {"type": "input_audio", "data": "AAA="}]},
        ]
    )
    assert got == [
        {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"query": "q"}},
        {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "n"}, {"type": "input_audio", "data": "AAA="}],
        },
    ]


def test_function_call_keeps_its_namespace() -> None:
    """A function call of a namespaced tool keeps the namespace it was called in."""
    call = {"type": "function_call", "call_id": "c", "name": "spawn", "namespace": "agents", "arguments": "{}"}
    assert items([call]) == [call]


# -- validation -----------------------------------------------------------------------------------------------------

ERRORS: list[tuple[dict[str, Any], str, str | None]] = [
    ({"messages": []}, "Unsupported parameter: 'messages'. In the Responses API, this parameter has moved to 'input'.", None),
    ({"stream": "yes"}, "Invalid type for 'stream': expected a boolean, but got a string instead.", "stream"),
    ({"input": 5}, "Invalid type for 'input': expected a string or an array, but got a number instead.", "input"),
    ({"temperature": 3}, "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 3 instead.", "temperature"),
    ({"top_p": -1}, "Invalid 'top_p': decimal below minimum value. Expected a value >= 0, but got -1 instead.", "top_p"),
    ({"max_output_tokens": 15}, "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got 15 instead.", "max_output_tokens"),
    ({"max_output_tokens": True}, "Invalid type for 'max_output_tokens': expected an integer, but got a boolean instead.", "max_output_tokens"),
    ({"truncation": "bogus"}, "Invalid value: 'bogus'. Supported values are: 'auto' and 'disabled'.", "truncation"),
    ({"include": ["reasoning.encrypted_content", "x"]}, "Invalid value: 'x'. Supported values are:", "include[1]"),
    ({"metadata": {str(i): "v" for i in range(17)}}, "Invalid 'metadata': too many properties. Expected an object with at most 16 properties, but got an object with 17 properties instead.", "metadata"),
    ({"metadata": {"k": 1}}, "Invalid type for 'metadata.k': expected a string, but got a number instead.", "metadata.k"),
    ({"metadata": {"k": "v" * 513}}, "Invalid 'metadata.k': string too long.", "metadata.k"),
    ({"metadata": {"k" * 65: "v"}}, "Invalid 'metadata': string too long.", "metadata"),
    ({"tool_choice": "sometimes"}, "Invalid value: 'sometimes'. Supported values are: 'none', 'auto', and 'required'.", "tool_choice"),
    ({"tool_choice": {"type": "function"}}, "Missing required parameter: 'tool_choice.name'.", "tool_choice.name"),
    ({"tool_choice": {"type": "file_search"}}, "Tool choice type 'file_search' is not supported", "tool_choice.type"),
    ({"tools": [{"type": "function"}]}, "Missing required parameter: 'tools[0].name'.", "tools[0].name"),
    ({"tools": [{"type": "function", "name": "f", "parameters": "x"}]}, "Invalid type for 'tools[0].parameters'", "tools[0].parameters"),
    ({"tools": ["f"]}, "Invalid type for 'tools[0]': expected an object, but got a string instead.", "tools[0]"),
    ({"text": {"format": {"type": "yaml"}}}, "Invalid value: 'yaml'. Supported values are: 'text', 'json_object', and 'json_schema'.", "text.format.type"),
    ({"text": {"format": {"type": "json_schema", "schema": {}}}}, "Missing required parameter: 'text.format.name'.", "text.format.name"),
    ({"text": {"format": {"type": "json_schema", "name": "n"}}}, "Missing required parameter: 'text.format.schema'.", "text.format.schema"),
    ({"reasoning": {"summary": "long"}}, "Invalid value: 'long'. Supported values are: 'auto', 'concise', and 'detailed'.", "reasoning.summary"),
    ({"input": ["hi"]}, "Invalid type for 'input[0]': expected an object, but got a string instead.", "input[0]"),
    ({"input": [{"role": "robot", "content": "x"}]}, "Invalid value: 'robot'. Supported values are: 'user', 'assistant', 'system', and 'developer'.", "input[0].role"),
    ({"input": [{"role": "user", "content": 3}]}, "Invalid type for 'input[0].content'", "input[0].content"),
    ({"input": [{"type": 7}]}, "Invalid type for 'input[0].type': expected a string, but got a number instead.", "input[0].type"),
    ({"tools": [{"name": "f"}]}, "Missing required parameter: 'tools[0].type'.", "tools[0].type"),
    ({"tools": [{"type": "namespace", "name": "n", "tools": "x"}]}, "Invalid type for 'tools[0].tools'", "tools[0].tools"),
    ({"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}, "Missing required parameter: 'input[0].call_id'.", "input[0].call_id"),
    ({"input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": {}}]}, "Invalid type for 'input[0].arguments': expected a string, but got an object instead.", "input[0].arguments"),
    ({"input": [{"type": "function_call_output", "call_id": "c"}]}, "Missing required parameter: 'input[0].output'.", "input[0].output"),
    ({"input": [{"type": "function_call_output", "call_id": "c", "output": 1}]}, "Invalid type for 'input[0].output'", "input[0].output"),
    ({"input": [{"type": "reasoning", "summary": [{"type": "text", "text": "x"}]}]}, "Invalid value: 'text'. Supported values are: 'summary_text'.", "input[0].summary[0].type"),
    ({"input": [{"type": "item_reference"}]}, "Missing required parameter: 'input[0].id'.", "input[0].id"),
    ({"input": [{"role": "assistant", "content": [{"type": "input_image", "image_url": PNG}]}]}, "Invalid value: 'input_image'. Supported values are: 'output_text' and 'refusal'.", "input[0].content[0].type"),
    ({"input": [{"role": "user", "content": [{"type": "refusal", "refusal": "x"}]}]}, "Invalid value: 'refusal'.", "input[0].content[0].type"),
    ({"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file-1"}]}]}, "'input[0].content[0].file_id' is not supported", "input[0].content[0].file_id"),
    ({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": PNG, "detail": "max"}]}]}, "Invalid value: 'max'.", "input[0].content[0].detail"),
    ({"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "file-1"}]}]}, "'input[0].content[0].file_id' is not supported", "input[0].content[0].file_id"),
    ({"input": [{"role": "user", "content": [{"type": "input_file", "file_url": "https://x/y.pdf"}]}]}, "'input[0].content[0].file_url' is not supported", "input[0].content[0].file_url"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "message", "param"), ERRORS)
def test_invalid_requests_get_openai_errors(body: dict[str, Any], message: str, param: str | None) -> None:
    """Each bad request raises RequestError with OpenAI's wording and parameter path."""
    with pytest.raises(RequestError) as caught:
        parse(**body)
    assert caught.value.message.startswith(message)
    assert caught.value.param == param


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
KEYS = st.sampled_from(
    ["input", "tools", "tool_choice", "text", "reasoning", "metadata", "include", "temperature", "instructions"]
)
ITEM = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(
            ["message", "function_call", "function_call_output", "reasoning", "item_reference", "x"]
        ),
        "role": st.sampled_from(["user", "assistant", "system", "developer"]),
        "content": JSON,
        "call_id": JSON,
        "name": JSON,
        "arguments": JSON,
        "output": JSON,
        "summary": JSON,
        "id": JSON,
    },
)


@settings(max_examples=300, deadline=None)
@given(body=st.dictionaries(KEYS, JSON, max_size=4), raw_items=st.lists(ITEM, max_size=3))
def test_arbitrary_bodies_parse_or_raise_request_error(body: dict[str, Any], raw_items: list[dict[str, Any]]) -> None:
    """Any JSON body either parses or raises RequestError (a 400), never another exception."""
    for candidate in (body, {**body, "input": raw_items}):
        try:
            parse(**candidate)
        except RequestError as error:
            assert error.message


# -- canonical → native Responses upstream --------------------------------------------------------------------------


def test_native_request_is_stateless_and_complete() -> None:
    """store false, full input without ids, encrypted reasoning requested, and every parameter carried."""
    anthropic = pack_anthropic_block({"type": "thinking", "thinking": "t", "signature": "s"})
    req = parse(
        input=[
            {"role": "user", "content": "hi", "id": "msg_1"},
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAAB=="},
            {"type": "reasoning", "id": "rs_2", "summary": [], "encrypted_content": anthropic},
            {"type": "reasoning", "summary": [], "encrypted_content": None},
            {"type": "function_call", "id": "fc_1", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "ok"},
        ],
        instructions="sys",
        tool_choice="required",
        parallel_tool_calls=False,
        temperature=0.1,
        top_p=0.5,
        max_output_tokens=100,
        text={"format": {"type": "json_object"}},
        reasoning={"effort": "high"},
        safety_identifier="u",
        stream=True,
        tools=[{"type": "function", "name": "f"}, {"type": "web_search"}],
        prompt_cache_key="k",
    )
    body = sent_body(req, upstream_model="gpt-5")
    assert body == {
        "model": "gpt-5",
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
            {"type": "reasoning", "summary": [], "encrypted_content": "gAAAAB=="},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "ok"},
        ],
        "store": False,
        "include": ["reasoning.encrypted_content"],
        "instructions": "sys",
        "parallel_tool_calls": False,
        "temperature": 0.1,
        "top_p": 0.5,
        "max_output_tokens": 100,
        "safety_identifier": "u",
        "tools": [
            {"type": "function", "name": "f", "parameters": {"type": "object", "properties": {}}},
            {"type": "web_search"},
        ],
        "tool_choice": "required",
        "text": {"format": {"type": "json_object"}},
        "reasoning": {"effort": "high"},
        "stream": True,
        "prompt_cache_key": "k",
    }


def test_native_request_gathers_namespaces_again() -> None:
    """A native upstream gets the namespace tool back, in its place, with the calls made in it."""
    space = {
        "type": "namespace",
        "name": "agents",
        "description": "d",
        "tools": [{"type": "function", "name": "spawn"}],
    }
    call = {"type": "function_call", "call_id": "c", "name": "spawn", "namespace": "agents", "arguments": "{}"}
    body = sent_body(parse(input=[call], tools=[space]), upstream_model="m")
    assert body["tools"] == [
        {
            "type": "namespace",
            "name": "agents",
            "description": "d",
            "tools": [{"type": "function", "name": "spawn", "parameters": {"type": "object", "properties": {}}}],
        }
    ]
    assert body["input"] == [call]


def test_native_request_tool_choice_and_schema() -> None:
    """A named function choice and a json_schema format keep OpenAI's flat shapes."""
    req = parse(
        input="x",
        tools=[
            {"type": "function", "name": "f", "description": "d", "parameters": {"type": "object"}, "strict": False}
        ],
        tool_choice={"type": "function", "name": "f"},
        text={"format": {"type": "json_schema", "name": "n", "schema": {"type": "object"}, "strict": True}},
    )
    body = sent_body(req, upstream_model="m")
    assert body["tools"] == [
        {"type": "function", "name": "f", "parameters": {"type": "object"}, "description": "d", "strict": False}
    ]
    assert body["tool_choice"] == {"type": "function", "name": "f"}
    assert body["text"] == {
        "format": {"type": "json_schema", "name": "n", "schema": {"type": "object"}, "strict": True}
    }
    assert "stream" not in body and "tools" not in sent_body(parse(input="x"), upstream_model="m")


def test_round_trip_keeps_items() -> None:
    """Parsing a native request body again gives back the same canonical items."""
    req = parse(
        input=[
            {"role": "developer", "content": "rules"},
            {
                "role": "user",
                "content": [{"type": "input_text", "text": "q"}, {"type": "input_image", "image_url": PNG}],
            },
            {"role": "assistant", "content": "a"},
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "s"}], "encrypted_content": "gAAAAB=="},
        ]
    )
    body = sent_body(req, upstream_model="m")
    assert responses_request_to_canonical({k: v for k, v in body.items() if k != "include"}).items == req.items
