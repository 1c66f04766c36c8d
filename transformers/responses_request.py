"""OpenAI Responses requests ⇄ the canonical request.

Parsing (`responses_request_to_canonical`) checks the parameters the gateway reads with OpenAI's own checks and
wording, and reads the input items with `responses_items`.

- Parameters no converter reads (``service_tier``, ``prompt_cache_key``, Codex's ``client_metadata`` and whatever
  OpenAI adds next) are never refused: they are kept in `CanonicalRequest.extra`, sent as they are to a native
  Responses upstream and left out (and named) for any other (see `foreign`). Documented ones keep OpenAI's type
  checks; ``messages`` gets OpenAI's hint that it moved to ``input``.
- A ``namespace`` tool's functions become canonical functions that remember their namespace; providers without
  namespaces see one flat name (`flat_tool_name`), and answers name the function and its namespace again.
- Built-in tools (web search, file search …) and tool types newer than this gateway are kept in
  `CanonicalRequest.foreign_tools`: a native Responses upstream runs them, other providers cannot.

`canonical_to_responses_request` builds the body for a native Responses upstream: stateless (``store: false``, the
whole input as items, ``include: ["reasoning.encrypted_content"]``), replaying only OpenAI-minted reasoning.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from plano_proxy.transformers.canonical import (
    CanonicalRequest,
    FunctionTool,
    OutputFormat,
    Reasoning,
    ToolChoice,
    ToolNamespace,
)
from plano_proxy.transformers.errors import RequestError
from plano_proxy.transformers.foreign import extra_fields
from plano_proxy.transformers.history_memo import HISTORIES, HistoryMemo
from plano_proxy.transformers.metadata import parse_metadata
from plano_proxy.transformers.responses_items import normalise_input_items
from plano_proxy.transformers.tool_shapes import (
    OPENAI_TOOL_MODES,
    function_fields,
    json_schema_fields,
    openai_tool_choice,
)
from plano_proxy.transformers.validation import Expected, check_types, expect, invalid_value, missing

READ_PARAMETERS = frozenset(
    {
        "model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls", "previous_response_id",
        "conversation", "store", "background", "stream", "stream_options", "include", "text", "reasoning",
        "max_output_tokens", "temperature", "top_p", "truncation", "metadata", "safety_identifier", "user",
    }
)  # fmt: skip
"""What the gateway reads; every other parameter is passed on to a native Responses upstream as sent."""
INCLUDABLE = (
    "file_search_call.results",
    "web_search_call.results",
    "web_search_call.action.sources",
    "message.input_image.image_url",
    "computer_call_output.output.image_url",
    "code_interpreter_call.outputs",
    "reasoning.encrypted_content",
    "message.output_text.logprobs",
)


# ---------------------------------------------------------------------------------------------------------------
# Responses request → canonical


def responses_request_to_canonical(body: dict[str, Any]) -> CanonicalRequest:
    _check_parameters(body)
    raw_input = body.get("input")
    if isinstance(raw_input, str):
        items = [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": raw_input}]}]
    else:
        items = [] if raw_input is None else normalise_input_items(raw_input, param="input")
    tools, foreign_tools = _tools(body.get("tools") or [])
    return CanonicalRequest(
        model=str(body.get("model") or ""),
        items=tuple(items),
        instructions=body.get("instructions"),
        tools=tools,
        tool_choice=_tool_choice(body.get("tool_choice")),
        parallel_tool_calls=body.get("parallel_tool_calls"),
        temperature=body.get("temperature"),
        top_p=body.get("top_p"),
        max_output_tokens=body.get("max_output_tokens"),
        output_format=_output_format(body.get("text")),
        reasoning=_reasoning(body.get("reasoning")),
        user=body.get("safety_identifier") or body.get("user"),
        stream=body.get("stream") is True,
        metadata=parse_metadata(body.get("metadata")),
        client_format="responses",
        extra=extra_fields(body, READ_PARAMETERS),
        foreign_tools=foreign_tools,
    )


_TYPES: dict[str, Expected] = {
    "input": ((str, list), "a string or an array"),
    "instructions": (str, "a string"),
    "tools": (list, "an array"),
    "parallel_tool_calls": (bool, "a boolean"),
    "previous_response_id": (str, "a string"),
    "store": (bool, "a boolean"),
    "background": (bool, "a boolean"),
    "stream": (bool, "a boolean"),
    "include": (list, "an array"),
    "text": (dict, "an object"),
    "reasoning": (dict, "an object"),
    "max_output_tokens": (int, "an integer"),
    "max_tool_calls": (int, "an integer"),
    "temperature": ((int, float), "a number"),
    "top_p": ((int, float), "a number"),
    "top_logprobs": (int, "an integer"),
    "metadata": (dict, "an object"),
    "user": (str, "a string"),
    "safety_identifier": (str, "a string"),
    "prompt_cache_key": (str, "a string"),
    "service_tier": (str, "a string"),
}
_RANGES: dict[str, tuple[float, float, str]] = {
    "temperature": (0, 2, "decimal"),
    "top_p": (0, 1, "decimal"),
    "max_output_tokens": (16, float("inf"), "integer"),
    "max_tool_calls": (1, float("inf"), "integer"),
    "top_logprobs": (0, 20, "integer"),
}


def _check_parameters(body: dict[str, Any]) -> None:
    """OpenAI's checks, in its order: types, ranges and enums key by key."""
    if "messages" in body:
        raise RequestError(
            "Unsupported parameter: 'messages'. In the Responses API, this parameter has moved to 'input'. "
            "Try again with the new parameter.",
            None,
        )
    check_types(body, _TYPES)
    for name, (low, high, kind) in _RANGES.items():
        _check_range(body.get(name), name, low, high, kind)
    if body.get("truncation") not in (None, "auto", "disabled"):
        raise invalid_value(body["truncation"], ("auto", "disabled"), "truncation")
    for index, value in enumerate(body.get("include") or []):
        if value not in INCLUDABLE:
            raise invalid_value(value, INCLUDABLE, f"include[{index}]")


def _check_range(value: Any, name: str, low: float, high: float, kind: str) -> None:
    if value is None:
        return
    if value < low:
        raise RequestError(
            f"Invalid '{name}': {kind} below minimum value. Expected a value >= {low}, but got {value} instead.", name
        )
    if value > high:
        raise RequestError(
            f"Invalid '{name}': {kind} above maximum value. Expected a value <= {high}, but got {value} instead.", name
        )


# -- parameters --------------------------------------------------------------------------------------------------


def _tools(raw: list[Any]) -> tuple[tuple[FunctionTool, ...], tuple[dict[str, Any], ...]]:
    """The function tools (a namespace's functions among them) and, as sent, the tools with no canonical form."""
    functions: list[FunctionTool] = []
    foreign: list[dict[str, Any]] = []
    for index, tool in enumerate(raw):
        where = f"tools[{index}]"
        expect(tool, dict, "an object", where)
        kind = tool.get("type")
        if kind == "function":
            functions.append(_function_tool(tool, where, None))
        elif kind == "namespace":
            functions += _namespace_tools(tool, where)
        elif isinstance(kind, str) and kind:
            foreign.append(tool)
        else:
            raise missing(f"{where}.type")
    return tuple(functions), tuple(foreign)


def _namespace_tools(raw: dict[str, Any], where: str) -> list[FunctionTool]:
    name, description = raw.get("name"), raw.get("description")
    if name is None:
        raise missing(f"{where}.name")
    expect(name, str, "a string", f"{where}.name")
    if description is not None:
        expect(description, str, "a string", f"{where}.description")
    namespace = ToolNamespace(name, description)
    inner: Any = raw.get("tools")
    expect(inner, list, "an array", f"{where}.tools")
    functions = []
    for index, tool in enumerate(inner):
        at = f"{where}.tools[{index}]"
        expect(tool, dict, "an object", at)
        if tool.get("type", "function") != "function":
            raise invalid_value(tool.get("type"), ("function",), f"{at}.type")
        functions.append(_function_tool(tool, at, namespace))
    return functions


def _function_tool(raw: dict[str, Any], where: str, namespace: ToolNamespace | None) -> FunctionTool:
    if raw.get("name") is None:
        raise missing(f"{where}.name")
    expect(raw["name"], str, "a string", f"{where}.name")
    for key, types, described in (("description", str, "a string"), ("parameters", dict, "an object")):
        if raw.get(key) is not None:
            expect(raw[key], types, described, f"{where}.{key}")
    if raw.get("strict") is not None:
        expect(raw["strict"], bool, "a boolean", f"{where}.strict")
    return FunctionTool(raw["name"], raw.get("description"), raw.get("parameters"), raw.get("strict"), namespace)


def _tool_choice(raw: Any) -> ToolChoice | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        if raw not in OPENAI_TOOL_MODES:
            raise invalid_value(raw, OPENAI_TOOL_MODES, "tool_choice")
        return ToolChoice(raw)  # type: ignore[arg-type]
    expect(raw, dict, "a string or an object", "tool_choice")
    if raw.get("type") != "function":
        raise RequestError(
            f"Tool choice type '{raw.get('type')}' is not supported by this provider; "
            "use 'none', 'auto', 'required' or a function.",
            "tool_choice.type",
        )
    if not isinstance(raw.get("name"), str):
        raise missing("tool_choice.name")
    return ToolChoice("function", raw["name"])


_FORMATS = ("text", "json_object", "json_schema")


def _output_format(text: dict[str, Any] | None) -> OutputFormat | None:
    raw = (text or {}).get("format")
    if raw is None:
        return None
    expect(raw, dict, "an object", "text.format")
    kind = raw.get("type")
    if kind not in _FORMATS:
        raise invalid_value(kind, _FORMATS, "text.format.type")
    if kind != "json_schema":
        return OutputFormat(kind)
    if raw.get("name") is None:
        raise missing("text.format.name")
    expect(raw["name"], str, "a string", "text.format.name")
    if raw.get("schema") is None:
        raise missing("text.format.schema")
    expect(raw["schema"], dict, "an object", "text.format.schema")
    strict = raw.get("strict")
    if strict is not None:
        expect(strict, bool, "a boolean", "text.format.strict")
    return OutputFormat("json_schema", raw["name"], raw["schema"], strict)


_SUMMARIES = ("auto", "concise", "detailed")


def _reasoning(raw: dict[str, Any] | None) -> Reasoning | None:
    if not raw:
        return None
    effort = raw.get("effort")
    if effort is not None:
        expect(effort, str, "a string", "reasoning.effort")
    summary = raw.get("summary", raw.get("generate_summary"))
    if summary is not None and summary not in _SUMMARIES:
        raise invalid_value(summary, _SUMMARIES, "reasoning.summary")
    if effort is None and summary is None:
        return None
    return Reasoning(effort=effort, summary=summary)


# ---------------------------------------------------------------------------------------------------------------
# Canonical → native Responses upstream


def canonical_to_responses_request(
    req: CanonicalRequest, *, upstream_model: str, histories: HistoryMemo = HISTORIES
) -> dict[str, Any]:
    """Stateless: ``store: false`` with the whole input, its stored history serialised once (`history_memo`); item
    ids are dropped since the upstream never stored them.

    Reasoning items are replayed only when OpenAI minted their ``encrypted_content``; others are dropped. A
    Responses client's extra parameters and foreign tools go on as sent, beside what the gateway sets.
    """
    body: dict[str, Any] = {
        "model": upstream_model,
        "input": histories.replayed_input(req),
        "store": False,
        "include": ["reasoning.encrypted_content"],
    }
    optional = {
        "instructions": req.instructions,
        "parallel_tool_calls": req.parallel_tool_calls,
        "temperature": req.temperature,
        "top_p": req.top_p,
        "max_output_tokens": req.max_output_tokens,
        "safety_identifier": req.user,
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    same_format = req.client_format == "responses"
    tools = [*_tool_bodies(req.tools), *(req.foreign_tools if same_format else ())]
    if tools:
        body["tools"] = tools
    if req.tool_choice is not None:
        body["tool_choice"] = openai_tool_choice(req.tool_choice, nested=False)
    if req.output_format is not None:
        body["text"] = {"format": _format_body(req.output_format)}
    if req.reasoning is not None and (req.reasoning.effort or req.reasoning.summary):
        body["reasoning"] = {
            key: value for key, value in (("effort", req.reasoning.effort), ("summary", req.reasoning.summary)) if value
        }
    if req.stream:
        body["stream"] = True
    if same_format:
        body.update({key: value for key, value in req.extra.items() if key not in body})
    return body


def _tool_bodies(tools: Iterable[FunctionTool]) -> list[dict[str, Any]]:
    """Function tools, those of a namespace gathered again into one ``namespace`` tool where the first one stood."""
    bodies: list[dict[str, Any]] = []
    namespaces: dict[ToolNamespace, dict[str, Any]] = {}
    for tool in tools:
        space = tool.namespace
        if space is None:
            bodies.append(_tool_body(tool))
            continue
        if space not in namespaces:
            namespaces[space] = {"type": "namespace", "name": space.name, "tools": []}
            if space.description is not None:
                namespaces[space]["description"] = space.description
            bodies.append(namespaces[space])
        namespaces[space]["tools"].append(_tool_body(tool))
    return bodies


def _tool_body(tool: FunctionTool) -> dict[str, Any]:
    """A function by its own name: a namespaced one sits inside its namespace tool."""
    return {"type": "function", **function_fields(tool, tool.name)}


def _format_body(fmt: OutputFormat) -> dict[str, Any]:
    if fmt.type != "json_schema":
        return {"type": fmt.type}
    return {"type": "json_schema", **json_schema_fields(fmt)}
