"""The canonical request → a Chat Completions request body for an OpenAI-compatible upstream.

Choices where formats differ:

- Reasoning items are not sent: Chat Completions has no standard field for them.
- A tool result's images cannot travel in a ``tool`` message; only its text is sent.
- ``max_output_tokens`` is sent as ``max_tokens``, which every OpenAI-compatible server understands.
- Tool names longer than OpenAI's 64 characters are shortened (prefix + hash); the returned map restores them.
- A Chat client's extra parameters and foreign tools go on as sent; items of unknown types are read as text (see
  `foreign`).
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from plano_proxy.transformers.canonical import CanonicalRequest, Item, flat_tool_name
from plano_proxy.transformers.foreign import foreign_item_message, foreign_part_error
from plano_proxy.transformers.tool_shapes import function_fields, json_schema_fields, openai_tool_choice

MAX_TOOL_NAME = 64
_NOT_SENT = frozenset({"reasoning", "item_reference"})
"""Items a Chat upstream never gets: reasoning has no standard field there, references are resolved before."""


def canonical_to_chat_request(req: CanonicalRequest, *, upstream_model: str) -> tuple[dict[str, Any], dict[str, str]]:
    names = {tool.flat_name: _short_name(tool.flat_name) for tool in req.tools}
    messages: list[dict[str, Any]] = []
    if req.instructions:
        messages.append({"role": "system", "content": req.instructions})
    for item in req.items:
        _append_item(messages, item, names)
    body: dict[str, Any] = {"model": upstream_model, "messages": messages}
    if req.tools:
        body["tools"] = [
            {"type": "function", "function": function_fields(tool, names[tool.flat_name])} for tool in req.tools
        ]
        if req.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = req.parallel_tool_calls
    if req.tool_choice is not None:
        body["tool_choice"] = openai_tool_choice(req.tool_choice, nested=True, names=names)
    _set_sampling(body, req)
    if req.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    if req.client_format == "chat":
        _pass_on_as_sent(body, req)
    return body, {short: name for name, short in names.items() if short != name}


def _pass_on_as_sent(body: dict[str, Any], req: CanonicalRequest) -> None:
    """A Chat client's parameters and tools that the canonical model does not carry, for a Chat upstream."""
    if req.foreign_tools:
        body["tools"] = [*body.get("tools", []), *req.foreign_tools]
    body.update({key: value for key, value in req.extra.items() if key not in body})


def _set_sampling(body: dict[str, Any], req: CanonicalRequest) -> None:
    optional = {
        "max_tokens": req.max_output_tokens,
        "temperature": req.temperature,
        "top_p": req.top_p,
        "stop": list(req.stop) or None,
        "user": req.user,
        "reasoning_effort": req.reasoning.effort if req.reasoning else None,
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    fmt = req.output_format
    if fmt is not None and fmt.type == "json_schema":
        body["response_format"] = {"type": "json_schema", "json_schema": json_schema_fields(fmt)}
    elif fmt is not None and fmt.type == "json_object":
        body["response_format"] = {"type": "json_object"}


def _append_item(messages: list[dict[str, Any]], item: Item, names: dict[str, str]) -> None:
    kind = item.get("type")
    if kind == "message":
        messages.append(_chat_message(item))
    elif kind == "function_call":
        name = flat_tool_name(item["name"], item.get("namespace"))
        call = {
            "id": item["call_id"],
            "type": "function",
            "function": {"name": names.get(name, name), "arguments": item.get("arguments") or "{}"},
        }
        previous = messages[-1] if messages else None
        if previous is not None and previous["role"] == "assistant":
            previous.setdefault("tool_calls", []).append(call)
        else:
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
    elif kind == "function_call_output":
        messages.append({"role": "tool", "tool_call_id": item["call_id"], "content": _output_text(item.get("output"))})
    elif kind not in _NOT_SENT:
        messages.append(_chat_message(foreign_item_message(item)))


def _chat_message(item: Item) -> dict[str, Any]:
    role = item["role"]
    parts = item.get("content") or []
    if role == "assistant":
        text = "".join(p.get("text", "") for p in parts if p.get("type") in ("output_text", "input_text"))
        refusal = "".join(p.get("refusal", "") for p in parts if p.get("type") == "refusal")
        message: dict[str, Any] = {"role": "assistant", "content": text or None}
        if refusal:
            message["refusal"] = refusal
        return message
    if all(p.get("type") in ("input_text", "output_text") for p in parts):
        return {"role": role, "content": "".join(p.get("text", "") for p in parts)}
    return {"role": role, "content": [_chat_part(p) for p in parts]}


def _chat_part(part: dict[str, Any]) -> dict[str, Any]:
    kind = part.get("type")
    if kind == "input_image":
        return {"type": "image_url", "image_url": {"url": part["image_url"], "detail": part.get("detail") or "auto"}}
    if kind == "input_file":
        file = {"file_data": part.get("file_data")}
        if part.get("filename"):
            file["filename"] = part["filename"]
        return {"type": "file", "file": file}
    if kind in ("input_text", "output_text"):
        return {"type": "text", "text": part.get("text", "")}
    raise foreign_part_error(part)


def _output_text(output: Any) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        return "".join(p.get("text", "") for p in output if isinstance(p, dict))
    return orjson.dumps(output).decode()


def _short_name(name: str) -> str:
    if len(name) <= MAX_TOOL_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return f"{name[: MAX_TOOL_NAME - 11]}_{digest}"
