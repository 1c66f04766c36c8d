"""OpenAI Responses requests ⇄ the canonical request.

Every input form is normalised to canonical items (see `canonical`). ``item_reference`` items are kept as
``{"type": "item_reference", "id"}`` for the state layer to resolve. Unknown top-level parameters are refused with
OpenAI's ``Unknown parameter`` error; every documented Responses parameter is accepted (those the gateway does not act
on, such as ``service_tier`` or ``prompt_cache_key``, are ignored). Built-in tools (web search, file search …) exist
only on native Responses upstreams and are refused elsewhere with a 400 naming the tool type.
"""

from __future__ import annotations

from typing import Any

from plano_proxy.transformers.canonical import (
    CanonicalRequest,
    FunctionTool,
    Item,
    OutputFormat,
    Reasoning,
    ToolChoice,
)
from plano_proxy.transformers.errors import RequestError
from plano_proxy.transformers.reasoning_codec import is_openai_reasoning
from plano_proxy.transformers.validation import Expected, check_types

KNOWN_PARAMETERS = frozenset(
    {
        "model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls", "previous_response_id",
        "conversation", "store", "background", "stream", "stream_options", "include", "text", "reasoning",
        "max_output_tokens", "max_tool_calls", "temperature", "top_p", "top_logprobs", "truncation", "metadata",
        "prompt", "prompt_cache_key", "prompt_cache_retention", "prompt_cache_options", "safety_identifier",
        "service_tier", "user", "context_management", "moderation",
    }
)  # fmt: skip
_ROLES = ("user", "assistant", "system", "developer")
_TEXT_PART = {"user": "input_text", "system": "input_text", "developer": "input_text", "assistant": "output_text"}
MAX_METADATA_KEYS = 16


def responses_request_to_canonical(body: dict[str, Any]) -> CanonicalRequest:
    unknown = sorted(set(body) - KNOWN_PARAMETERS)
    if unknown:
        raise RequestError(f"Unknown parameter: '{unknown[0]}'.", unknown[0])
    _check_types(body)
    raw_input = body.get("input")
    items = (
        []
        if raw_input is None
        else normalise_input_items(
            [{"role": "user", "content": raw_input}] if isinstance(raw_input, str) else raw_input, param="input"
        )
    )
    reasoning = body.get("reasoning") or {}
    return CanonicalRequest(
        model=str(body.get("model") or ""),
        items=tuple(items),
        instructions=body.get("instructions"),
        tools=_tools(body.get("tools") or []),
        tool_choice=_tool_choice(body.get("tool_choice")),
        parallel_tool_calls=body.get("parallel_tool_calls"),
        temperature=body.get("temperature"),
        top_p=body.get("top_p"),
        max_output_tokens=body.get("max_output_tokens"),
        output_format=_output_format((body.get("text") or {}).get("format")),
        reasoning=Reasoning(effort=reasoning.get("effort"), summary=reasoning.get("summary")) if reasoning else None,
        user=body.get("safety_identifier") or body.get("user"),
        stream=body.get("stream") is True,
        metadata=_metadata(body.get("metadata")),
    )


_TYPES: dict[str, Expected] = {
    "instructions": (str, "a string"),
    "stream": (bool, "a boolean"),
    "store": (bool, "a boolean"),
    "background": (bool, "a boolean"),
    "parallel_tool_calls": (bool, "a boolean"),
    "temperature": ((int, float), "a number"),
    "top_p": ((int, float), "a number"),
    "max_output_tokens": (int, "an integer"),
    "tools": (list, "an array"),
    "include": (list, "an array"),
    "metadata": (dict, "an object"),
    "reasoning": (dict, "an object"),
    "text": (dict, "an object"),
    "input": ((str, list), "a string or an array"),
}


def _check_types(body: dict[str, Any]) -> None:
    check_types(body, _TYPES)
    tokens = body.get("max_output_tokens")
    if isinstance(tokens, int) and tokens < 16:
        raise RequestError(
            "Invalid 'max_output_tokens': integer below minimum value. "
            f"Expected a value >= 16, but got {tokens} instead.",
            "max_output_tokens",
        )
    if body.get("truncation") not in (None, "auto", "disabled"):
        raise RequestError(
            f"Invalid value: '{body['truncation']}'. Supported values are: 'auto' and 'disabled'.", "truncation"
        )


def normalise_input_items(raw: Any, *, param: str) -> list[Item]:
    if not isinstance(raw, list):
        raise RequestError(f"Invalid type for '{param}': expected an array of items.", param)
    return [_item(item, f"{param}[{index}]") for index, item in enumerate(raw)]


def _item(raw: Any, where: str) -> Item:
    if not isinstance(raw, dict):
        raise RequestError(f"Invalid type for '{where}': expected an object.", where)
    kind = raw.get("type", "message")
    keep_id = {"id": raw["id"]} if isinstance(raw.get("id"), str) and kind != "item_reference" else {}
    if kind == "message":
        return {**keep_id, **_message(raw, where)}
    if kind == "function_call":
        _require(raw, ("call_id", "name"), where)
        return {
            **keep_id,
            "type": "function_call",
            "call_id": raw["call_id"],
            "name": raw["name"],
            "arguments": raw.get("arguments") or "",
        }
    if kind == "function_call_output":
        _require(raw, ("call_id",), where)
        output = raw.get("output")
        parts = (
            output
            if isinstance(output, str)
            else [_part(p, "user", f"{where}.output[{i}]") for i, p in enumerate(output or [])]
        )
        return {**keep_id, "type": "function_call_output", "call_id": raw["call_id"], "output": parts}
    if kind == "reasoning":
        return {
            **keep_id,
            "type": "reasoning",
            "summary": list(raw.get("summary") or []),
            "encrypted_content": raw.get("encrypted_content"),
        }
    if kind == "item_reference":
        _require(raw, ("id",), where)
        return {"type": "item_reference", "id": raw["id"]}
    raise RequestError(
        f"Invalid value for '{where}.type': {kind!r} is not a supported input item type.", f"{where}.type"
    )


def _message(raw: dict[str, Any], where: str) -> Item:
    role = raw.get("role")
    if role not in _ROLES:
        raise RequestError(
            f"Invalid value for '{where}.role': {role!r}. "
            "Supported values are: 'user', 'assistant', 'system', and 'developer'.",
            f"{where}.role",
        )
    content = raw.get("content")
    if isinstance(content, str):
        parts = [_text_part(role, content)]
    elif isinstance(content, list):
        parts = [_part(p, role, f"{where}.content[{i}]") for i, p in enumerate(content)]
    else:
        raise RequestError(
            f"Invalid type for '{where}.content': expected a string or an array of content parts.", f"{where}.content"
        )
    return {"type": "message", "role": role, "content": parts}


def _text_part(role: str, text: str) -> dict[str, Any]:
    part: dict[str, Any] = {"type": _TEXT_PART[role], "text": text}
    if part["type"] == "output_text":
        part["annotations"] = []
    return part


def _part(raw: Any, role: str, where: str) -> dict[str, Any]:
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind in ("input_text", "output_text", "text") and isinstance(raw.get("text"), str):
        return _text_part(role, raw["text"])
    if kind == "refusal":
        return {"type": "refusal", "refusal": str(raw.get("refusal", ""))}
    if kind == "input_image":
        if not isinstance(raw.get("image_url"), str):
            raise RequestError(
                f"'{where}': only image_url images are supported (file_id needs the Files API).", f"{where}.image_url"
            )
        return {"type": "input_image", "image_url": raw["image_url"], "detail": raw.get("detail") or "auto"}
    if kind == "input_file":
        if not isinstance(raw.get("file_data"), str):
            raise RequestError(f"'{where}': only inline file_data is supported.", f"{where}.file_data")
        return {"type": "input_file", "file_data": raw["file_data"], "filename": raw.get("filename")}
    raise RequestError(f"Invalid content part at '{where}': {kind!r}.", f"{where}.type")


def _require(raw: dict[str, Any], keys: tuple[str, ...], where: str) -> None:
    for key in keys:
        if not isinstance(raw.get(key), str):
            raise RequestError(f"Missing required parameter: '{where}.{key}'.", f"{where}.{key}")


def builtin_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tools that only OpenAI itself can run (everything but function tools)."""
    return [tool for tool in tools if isinstance(tool, dict) and tool.get("type") != "function"]


def _tools(raw: list[Any]) -> tuple[FunctionTool, ...]:
    tools = []
    for index, tool in enumerate(raw):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind != "function":
            raise RequestError(
                f"Tool type '{kind}' is not supported by this provider; only function tools are.",
                f"tools[{index}].type",
            )
        if not isinstance(tool.get("name"), str):
            raise RequestError(f"Missing required parameter: 'tools[{index}].name'.", f"tools[{index}].name")
        tools.append(FunctionTool(tool["name"], tool.get("description"), tool.get("parameters"), tool.get("strict")))
    return tuple(tools)


def _tool_choice(raw: Any) -> ToolChoice | None:
    if raw is None:
        return None
    if raw in ("auto", "none", "required"):
        return ToolChoice(raw)
    if isinstance(raw, dict) and raw.get("type") == "function" and isinstance(raw.get("name"), str):
        return ToolChoice("function", raw["name"])
    raise RequestError(f"Invalid value for 'tool_choice': {raw!r}.", "tool_choice")


def _output_format(raw: Any) -> OutputFormat | None:
    if raw is None:
        return None
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind == "json_schema":
        return OutputFormat("json_schema", raw.get("name"), raw.get("schema"), raw.get("strict"))
    if kind in ("text", "json_object"):
        return OutputFormat(kind)
    raise RequestError(f"Invalid value for 'text.format.type': {kind!r}.", "text.format.type")


def _metadata(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if len(raw) > MAX_METADATA_KEYS or not all(isinstance(v, str) for v in raw.values()):
        raise RequestError(f"Invalid 'metadata': at most {MAX_METADATA_KEYS} keys with string values.", "metadata")
    return dict(raw)


# ---------------------------------------------------------------------------------------------------------------
# Canonical → native Responses upstream


def canonical_to_responses_request(req: CanonicalRequest, *, upstream_model: str) -> dict[str, Any]:
    """Stateless: ``store: false`` with the whole input; item ids are dropped since the upstream never stored them."""
    items = [_without_id(item) for item in req.items if _replayable(item)]
    body: dict[str, Any] = {
        "model": upstream_model,
        "input": items,
        "store": False,
        "include": ["reasoning.encrypted_content"],
    }
    optional = {
        "instructions": req.instructions,
        "parallel_tool_calls": req.parallel_tool_calls,
        "temperature": req.temperature,
        "top_p": req.top_p,
        "max_output_tokens": req.max_output_tokens,
        "user": req.user,
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    if req.tools:
        body["tools"] = [_tool_body(tool) for tool in req.tools]
    if req.tool_choice is not None:
        choice = req.tool_choice
        body["tool_choice"] = {"type": "function", "name": choice.name} if choice.mode == "function" else choice.mode
    if req.output_format is not None:
        body["text"] = {"format": _format_body(req.output_format)}
    if req.reasoning is not None:
        body["reasoning"] = {
            k: v for k, v in (("effort", req.reasoning.effort), ("summary", req.reasoning.summary)) if v
        }
    if req.stream:
        body["stream"] = True
    return body


def _without_id(item: Item) -> Item:
    """The item without its id (a copy only when there is one: this runs over the whole history every turn)."""
    if "id" not in item:
        return item
    copy = dict(item)
    del copy["id"]
    return copy


def _replayable(item: Item) -> bool:
    return item.get("type") != "reasoning" or is_openai_reasoning(item.get("encrypted_content"))


def _tool_body(tool: FunctionTool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "function",
        "name": tool.name,
        "parameters": tool.parameters or {"type": "object", "properties": {}},
    }
    if tool.description:
        body["description"] = tool.description
    if tool.strict is not None:
        body["strict"] = tool.strict
    return body


def _format_body(fmt: OutputFormat) -> dict[str, Any]:
    if fmt.type != "json_schema":
        return {"type": fmt.type}
    body: dict[str, Any] = {"type": "json_schema", "name": fmt.name or "response", "schema": fmt.schema or {}}
    if fmt.strict is not None:
        body["strict"] = fmt.strict
    return body
