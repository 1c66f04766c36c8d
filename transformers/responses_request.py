"""OpenAI Responses requests ⇄ the canonical request.

Parsing (`responses_request_to_canonical`) accepts every input form a client may send: a string; easy messages
``{role, content}`` with string or part content; typed messages with ``input_text``, ``input_image``, ``input_file``,
``output_text`` and ``refusal`` parts; ``function_call``, ``function_call_output`` (string or parts), ``reasoning``
(summary and ``encrypted_content`` kept verbatim) and ``item_reference`` (also without its optional ``type``). All are
normalised to canonical items (see `canonical`).

Choices made where the gateway cannot act as OpenAI does:

- ``item_reference`` items stay ``{"type": "item_reference", "id"}``; the state layer resolves them against the
  stored history before any provider sees them.
- Images and files given by ``file_id`` or ``file_url`` need OpenAI's Files API and are refused with a 400; inline
  ``file_data`` given as bare base64 is turned into a ``data:`` URL typed from its filename.
- Text parts are accepted in either spelling for any role (an assistant ``input_text`` becomes ``output_text``, a
  user ``output_text`` becomes ``input_text``): OpenAI refuses these, but many multi-provider clients send them and
  nothing is lost by reading them. Images, files and refusals on the wrong role are refused as OpenAI does.
- Unknown top-level parameters are refused with OpenAI's ``Unknown parameter`` error (OpenAI refuses them too);
  ``messages`` gets OpenAI's hint that it moved to ``input``. Every documented Responses parameter is accepted;
  those the gateway does not act on (``service_tier``, ``prompt_cache_key``, ``top_logprobs`` …) are ignored.
- Built-in tools (web search, file search …) run only on a native Responses upstream: `builtin_tools` picks them out
  so the gateway can pass them through; `responses_request_to_canonical` refuses them with a 400 naming the type.

`canonical_to_responses_request` builds the body for a native Responses upstream: stateless (``store: false``, the
whole input as items, ``include: ["reasoning.encrypted_content"]``), replaying only OpenAI-minted reasoning.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Iterable
from typing import Any

import orjson

from plano_proxy.transformers.canonical import (
    CanonicalRequest,
    FunctionTool,
    Item,
    OutputFormat,
    Reasoning,
    ToolChoice,
)
from plano_proxy.transformers.errors import RequestError
from plano_proxy.transformers.media import make_data_url
from plano_proxy.transformers.metadata import parse_metadata
from plano_proxy.transformers.reasoning_codec import is_openai_reasoning
from plano_proxy.transformers.validation import Expected, check_types, wrong_type

KNOWN_PARAMETERS = frozenset(
    {
        "model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls", "previous_response_id",
        "conversation", "store", "background", "stream", "stream_options", "include", "text", "reasoning",
        "max_output_tokens", "max_tool_calls", "temperature", "top_p", "top_logprobs", "truncation", "metadata",
        "prompt", "prompt_cache_key", "prompt_cache_retention", "prompt_cache_options", "safety_identifier",
        "service_tier", "user", "context_management", "moderation",
    }
)  # fmt: skip
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
_ROLES = ("user", "assistant", "system", "developer")
_IMAGE_DETAILS = ("low", "high", "auto", "original")


def _supported(values: Iterable[str]) -> str:
    quoted = [f"'{value}'" for value in values]
    if len(quoted) <= 2:
        return " and ".join(quoted)
    return ", ".join(quoted[:-1]) + ", and " + quoted[-1]


def _invalid_value(value: Any, supported: Iterable[str], param: str) -> RequestError:
    return RequestError(f"Invalid value: '{value}'. Supported values are: {_supported(supported)}.", param)


def _missing(param: str) -> RequestError:
    return RequestError(f"Missing required parameter: '{param}'.", param)


def _expect(value: Any, types: type | tuple[type, ...], described: str, param: str) -> None:
    """Raise OpenAI's ``Invalid type`` error unless `value` has one of `types` (a boolean is no number)."""
    if (isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,))) or not isinstance(
        value, types
    ):
        raise RequestError(wrong_type(param, described, value), param)


# ---------------------------------------------------------------------------------------------------------------
# Responses request → canonical


def responses_request_to_canonical(body: dict[str, Any]) -> CanonicalRequest:
    _check_parameters(body)
    raw_input = body.get("input")
    if isinstance(raw_input, str):
        items = [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": raw_input}]}]
    else:
        items = [] if raw_input is None else normalise_input_items(raw_input, param="input")
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
        output_format=_output_format(body.get("text")),
        reasoning=_reasoning(body.get("reasoning")),
        user=body.get("safety_identifier") or body.get("user"),
        stream=body.get("stream") is True,
        metadata=parse_metadata(body.get("metadata")),
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
    """OpenAI's checks, in its order: unknown keys, then types, ranges and enums key by key."""
    if "messages" in body:
        raise RequestError(
            "Unsupported parameter: 'messages'. In the Responses API, this parameter has moved to 'input'. "
            "Try again with the new parameter.",
            None,
        )
    unknown = sorted(set(body) - KNOWN_PARAMETERS)
    if unknown:
        raise RequestError(f"Unknown parameter: '{unknown[0]}'.", unknown[0])
    check_types(body, _TYPES)
    for name, (low, high, kind) in _RANGES.items():
        _check_range(body.get(name), name, low, high, kind)
    if body.get("truncation") not in (None, "auto", "disabled"):
        raise _invalid_value(body["truncation"], ("auto", "disabled"), "truncation")
    for index, value in enumerate(body.get("include") or []):
        if value not in INCLUDABLE:
            raise _invalid_value(value, INCLUDABLE, f"include[{index}]")


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


def normalise_input_items(raw: Any, *, param: str) -> list[Item]:
    """Canonical items for a list of Responses input items (also used for Conversations items)."""
    if not isinstance(raw, list):
        raise RequestError(wrong_type(param, "an array", raw), param)
    return [_item(item, f"{param}[{index}]") for index, item in enumerate(raw)]


def _item(raw: Any, where: str) -> Item:
    _expect(raw, dict, "an object", where)
    kind = raw.get("type")
    if kind is None:
        # The type is optional on easy messages and on item references (which have an id and no role).
        kind = "item_reference" if "role" not in raw and "id" in raw else "message"
    parser = _ITEM_PARSERS.get(kind) if isinstance(kind, str) else None
    if parser is None:
        raise _invalid_value(kind, _ITEM_PARSERS, f"{where}.type")
    item = parser(raw, where)
    if kind != "item_reference" and isinstance(raw.get("id"), str) and raw["id"]:
        item = {"id": raw["id"], **item}
    return item


def _message(raw: dict[str, Any], where: str) -> Item:
    role = raw.get("role")
    if role not in _ROLES:
        raise _invalid_value(role, _ROLES, f"{where}.role")
    content = raw.get("content")
    if isinstance(content, str):
        parts = [_text_part(role, content)]
    elif isinstance(content, list):
        parts = [_part(part, role, f"{where}.content[{index}]") for index, part in enumerate(content)]
    else:
        raise RequestError(wrong_type(f"{where}.content", "a string or an array", content), f"{where}.content")
    return {"type": "message", "role": role, "content": parts}


def _function_call(raw: dict[str, Any], where: str) -> Item:
    for key in ("call_id", "name", "arguments"):
        if key not in raw or raw[key] is None:
            raise _missing(f"{where}.{key}")
        _expect(raw[key], str, "a string", f"{where}.{key}")
    return {"type": "function_call", "call_id": raw["call_id"], "name": raw["name"], "arguments": raw["arguments"]}


def _function_call_output(raw: dict[str, Any], where: str) -> Item:
    for key in ("call_id", "output"):
        if key not in raw or raw[key] is None:
            raise _missing(f"{where}.{key}")
    _expect(raw["call_id"], str, "a string", f"{where}.call_id")
    output = raw["output"]
    if isinstance(output, list):
        output = [_part(part, "user", f"{where}.output[{index}]") for index, part in enumerate(output)]
    elif isinstance(output, dict):
        output = _object_output(output)
    else:
        _expect(output, str, "a string or an array", f"{where}.output")
    return {"type": "function_call_output", "call_id": raw["call_id"], "output": output}


def _object_output(output: dict[str, Any]) -> str:
    """An object where OpenAI wants a string (Plexus's examples send ``{"text": …}``): its text when that is all it
    holds, else the object as JSON. OpenAI refuses objects; accepting them loses nothing for clients that never send
    one, and every upstream gets the string OpenAI would have wanted."""
    if set(output) == {"text"} and isinstance(output["text"], str):
        return output["text"]
    return orjson.dumps(output).decode()


def _reasoning_item(raw: dict[str, Any], where: str) -> Item:
    summary = raw.get("summary")
    if summary is None:
        raise _missing(f"{where}.summary")
    _expect(summary, list, "an array", f"{where}.summary")
    for index, part in enumerate(summary):
        at = f"{where}.summary[{index}]"
        _expect(part, dict, "an object", at)
        if part.get("type") != "summary_text":
            raise _invalid_value(part.get("type"), ("summary_text",), f"{at}.type")
        _expect(part.get("text"), str, "a string", f"{at}.text")
    encrypted = raw.get("encrypted_content")
    if encrypted is not None:
        _expect(encrypted, str, "a string", f"{where}.encrypted_content")
    return {"type": "reasoning", "summary": [dict(part) for part in summary], "encrypted_content": encrypted}


def _item_reference(raw: dict[str, Any], where: str) -> Item:
    if not isinstance(raw.get("id"), str) or not raw["id"]:
        raise _missing(f"{where}.id")
    return {"type": "item_reference", "id": raw["id"]}


_ITEM_PARSERS = {
    "message": _message,
    "function_call": _function_call,
    "function_call_output": _function_call_output,
    "reasoning": _reasoning_item,
    "item_reference": _item_reference,
}


def _text_part(role: str, text: str) -> dict[str, Any]:
    if role == "assistant":
        return {"type": "output_text", "text": text, "annotations": []}
    return {"type": "input_text", "text": text}


def _part(raw: Any, role: str, where: str) -> dict[str, Any]:
    _expect(raw, dict, "an object", where)
    kind = raw.get("type")
    if kind in ("input_text", "output_text", "text"):
        _expect(raw.get("text"), str, "a string", f"{where}.text")
        return _text_part(role, raw["text"])
    allowed = ("output_text", "refusal") if role == "assistant" else ("input_text", "input_image", "input_file")
    if kind not in allowed:
        raise _invalid_value(kind, allowed, f"{where}.type")
    if kind == "refusal":
        _expect(raw.get("refusal"), str, "a string", f"{where}.refusal")
        return {"type": "refusal", "refusal": raw["refusal"]}
    if kind == "input_image":
        return _image_part(raw, where)
    return _file_part(raw, where)


def _image_part(raw: dict[str, Any], where: str) -> dict[str, Any]:
    if raw.get("file_id") is not None and raw.get("image_url") is None:
        raise RequestError(
            f"'{where}.file_id' is not supported by this gateway: images must be given as an image_url "
            "(an http(s) or data: URL).",
            f"{where}.file_id",
        )
    url = raw.get("image_url")
    if url is None:
        raise _missing(f"{where}.image_url")
    _expect(url, str, "a string", f"{where}.image_url")
    detail = raw.get("detail") or "auto"
    if detail not in _IMAGE_DETAILS:
        raise _invalid_value(detail, _IMAGE_DETAILS, f"{where}.detail")
    return {"type": "input_image", "image_url": url, "detail": detail}


def _file_part(raw: dict[str, Any], where: str) -> dict[str, Any]:
    for source in ("file_id", "file_url"):
        if raw.get(source) is not None and raw.get("file_data") is None:
            raise RequestError(
                f"'{where}.{source}' is not supported by this gateway: files must be given inline as file_data.",
                f"{where}.{source}",
            )
    data = raw.get("file_data")
    if data is None:
        raise _missing(f"{where}.file_data")
    _expect(data, str, "a string", f"{where}.file_data")
    filename = raw.get("filename")
    if filename is not None:
        _expect(filename, str, "a string", f"{where}.filename")
    if not data.startswith("data:"):
        media_type = (mimetypes.guess_type(filename)[0] if filename else None) or "application/pdf"
        data = make_data_url(media_type, data)
    part: dict[str, Any] = {"type": "input_file", "file_data": data}
    if filename is not None:
        part["filename"] = filename
    return part


# -- parameters --------------------------------------------------------------------------------------------------


def is_builtin_tool(tool: Any) -> bool:
    """True for a tool only OpenAI itself runs (anything that is not a function tool)."""
    return isinstance(tool, dict) and tool.get("type") != "function"


def builtin_tools(tools: list[Any]) -> list[dict[str, Any]]:
    """The built-in tools of a request's ``tools``, as sent, for a native Responses upstream."""
    return [tool for tool in tools if is_builtin_tool(tool)]


def _tools(raw: list[Any]) -> tuple[FunctionTool, ...]:
    return tuple(_tool(tool, f"tools[{index}]") for index, tool in enumerate(raw))


def _tool(raw: Any, where: str) -> FunctionTool:
    _expect(raw, dict, "an object", where)
    kind = raw.get("type")
    if kind != "function":
        raise RequestError(
            f"Tool type '{kind}' is not supported by this provider; only function tools can be used with it.",
            f"{where}.type",
        )
    if raw.get("name") is None:
        raise _missing(f"{where}.name")
    _expect(raw["name"], str, "a string", f"{where}.name")
    for key, types, described in (("description", str, "a string"), ("parameters", dict, "an object")):
        if raw.get(key) is not None:
            _expect(raw[key], types, described, f"{where}.{key}")
    if raw.get("strict") is not None:
        _expect(raw["strict"], bool, "a boolean", f"{where}.strict")
    return FunctionTool(raw["name"], raw.get("description"), raw.get("parameters"), raw.get("strict"))


def _tool_choice(raw: Any) -> ToolChoice | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        if raw not in ("none", "auto", "required"):
            raise _invalid_value(raw, ("none", "auto", "required"), "tool_choice")
        return ToolChoice(raw)  # type: ignore[arg-type]
    _expect(raw, dict, "a string or an object", "tool_choice")
    if raw.get("type") != "function":
        raise RequestError(
            f"Tool choice type '{raw.get('type')}' is not supported by this provider; "
            "use 'none', 'auto', 'required' or a function.",
            "tool_choice.type",
        )
    if not isinstance(raw.get("name"), str):
        raise _missing("tool_choice.name")
    return ToolChoice("function", raw["name"])


_FORMATS = ("text", "json_object", "json_schema")


def _output_format(text: dict[str, Any] | None) -> OutputFormat | None:
    raw = (text or {}).get("format")
    if raw is None:
        return None
    _expect(raw, dict, "an object", "text.format")
    kind = raw.get("type")
    if kind not in _FORMATS:
        raise _invalid_value(kind, _FORMATS, "text.format.type")
    if kind != "json_schema":
        return OutputFormat(kind)
    if raw.get("name") is None:
        raise _missing("text.format.name")
    _expect(raw["name"], str, "a string", "text.format.name")
    if raw.get("schema") is None:
        raise _missing("text.format.schema")
    _expect(raw["schema"], dict, "an object", "text.format.schema")
    strict = raw.get("strict")
    if strict is not None:
        _expect(strict, bool, "a boolean", "text.format.strict")
    return OutputFormat("json_schema", raw["name"], raw["schema"], strict)


_SUMMARIES = ("auto", "concise", "detailed")


def _reasoning(raw: dict[str, Any] | None) -> Reasoning | None:
    if not raw:
        return None
    effort = raw.get("effort")
    if effort is not None:
        _expect(effort, str, "a string", "reasoning.effort")
    summary = raw.get("summary", raw.get("generate_summary"))
    if summary is not None and summary not in _SUMMARIES:
        raise _invalid_value(summary, _SUMMARIES, "reasoning.summary")
    if effort is None and summary is None:
        return None
    return Reasoning(effort=effort, summary=summary)


# ---------------------------------------------------------------------------------------------------------------
# Canonical → native Responses upstream


def canonical_to_responses_request(
    req: CanonicalRequest, *, upstream_model: str, builtin_tools: Iterable[dict[str, Any]] = ()
) -> dict[str, Any]:
    """Stateless: ``store: false`` with the whole input; item ids are dropped since the upstream never stored them.

    Reasoning items are replayed only when OpenAI minted their ``encrypted_content``; others are dropped.
    """
    body: dict[str, Any] = {
        "model": upstream_model,
        "input": [_without_id(item) for item in req.items if _replayable(item)],
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
    tools = [*(_tool_body(tool) for tool in req.tools), *builtin_tools]
    if tools:
        body["tools"] = tools
    if req.tool_choice is not None:
        choice = req.tool_choice
        body["tool_choice"] = {"type": "function", "name": choice.name} if choice.mode == "function" else choice.mode
    if req.output_format is not None:
        body["text"] = {"format": _format_body(req.output_format)}
    if req.reasoning is not None and (req.reasoning.effort or req.reasoning.summary):
        body["reasoning"] = {
            key: value for key, value in (("effort", req.reasoning.effort), ("summary", req.reasoning.summary)) if value
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
