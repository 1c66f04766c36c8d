"""Anthropic Messages requests ⇄ the canonical request.

Choices where formats differ:

- ``reasoning.effort`` becomes ``thinking: {type: enabled, budget_tokens}`` with minimal 1024, low 2048, medium 8192,
  high 16384 tokens (an explicit budget wins); ``max_tokens`` is raised above the budget when needed. With thinking
  on, temperature and top_p are dropped and a forced tool choice becomes ``auto``, as Anthropic requires.
- ``json_object`` output has no Anthropic equivalent: a system instruction asks for one JSON object.
- Only reasoning minted by Anthropic (see `reasoning_codec`) is replayed; other providers' reasoning is dropped.
- Tool call ids are sanitised to Anthropic's ``[a-zA-Z0-9_-]`` the same way for a call and its result.
"""

from __future__ import annotations

import re
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
from plano_proxy.transformers.media import make_data_url, parse_data_url
from plano_proxy.transformers.reasoning_codec import pack_anthropic_block, signature_to_openai, unpack_anthropic_block

THINKING_BUDGETS = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 16384, "xhigh": 32000}
_BAD_ID_CHARS = re.compile(r"[^a-zA-Z0-9_-]")
_JSON_OBJECT_INSTRUCTION = "Answer with a single JSON object and nothing else."


# ---------------------------------------------------------------------------------------------------------------
# Client → canonical


def anthropic_request_to_canonical(body: dict[str, Any]) -> CanonicalRequest:
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise RequestError("messages: Input should be a valid list", "messages")
    items: list[Item] = []
    for index, message in enumerate(messages):
        items += _message_items(message, f"messages.{index}")
    thinking, metadata = _object(body, "thinking"), _object(body, "metadata")
    tool_choice, output_config = _object(body, "tool_choice"), _object(body, "output_config")
    return CanonicalRequest(
        model=str(body.get("model") or ""),
        items=tuple(items),
        instructions=_system_text(body.get("system")),
        tools=_tools(body.get("tools")),
        tool_choice=_tool_choice(tool_choice),
        parallel_tool_calls=False if tool_choice.get("disable_parallel_tool_use") else None,
        temperature=body.get("temperature"),
        top_p=body.get("top_p"),
        max_output_tokens=body.get("max_tokens"),
        stop=tuple(body.get("stop_sequences") or ()),
        output_format=_output_format(output_config),
        reasoning=_reasoning(thinking, output_config),
        user=metadata.get("user_id"),
        stream=body.get("stream") is True,
    )


def _object(body: dict[str, Any], key: str) -> dict[str, Any]:
    """An optional object field: {} when absent, a 400 naming the field when it is not an object."""
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RequestError(f"{key}: Input should be a valid dictionary or object", key)
    return value


def _system_text(system: Any) -> str | None:
    if system is None or isinstance(system, str):
        return system or None
    if isinstance(system, list):
        return "\n\n".join(block.get("text", "") for block in system if isinstance(block, dict)) or None
    raise RequestError("system: Input should be a valid string or a list of text blocks", "system")


def _message_items(message: Any, where: str) -> list[Item]:
    if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
        raise RequestError(f"{where}: each message needs a role of 'user' or 'assistant'", where)
    role = message["role"]
    content = message.get("content")
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
    if not isinstance(blocks, list):
        raise RequestError(f"{where}.content: Input should be a valid string or list", f"{where}.content")
    outputs = [_tool_result(b) for b in blocks if isinstance(b, dict) and b.get("type") == "tool_result"]
    items: list[Item] = list(outputs)
    parts: list[dict[str, Any]] = []
    for index, block in enumerate(blocks):
        if not isinstance(block, dict):
            raise RequestError(f"{where}.content.{index}: Input should be an object", f"{where}.content.{index}")
        kind = block.get("type")
        if kind == "tool_result":
            continue
        if kind == "tool_use":
            items += _flush(role, parts)
            arguments = orjson.dumps(block.get("input") or {}).decode()
            items.append(
                {
                    "type": "function_call",
                    "call_id": block.get("id", ""),
                    "name": block.get("name", ""),
                    "arguments": arguments,
                }
            )
        elif kind in ("thinking", "redacted_thinking"):
            items += _flush(role, parts)
            items.append(_reasoning_item(block))
        else:
            parts.append(_part(block, role, f"{where}.content.{index}"))
    return items + _flush(role, parts)


def _flush(role: str, parts: list[dict[str, Any]]) -> list[Item]:
    if not parts:
        return []
    item = {"type": "message", "role": role, "content": list(parts)}
    parts.clear()
    return [item]


def _part(block: dict[str, Any], role: str, where: str) -> dict[str, Any]:
    kind = block.get("type")
    if kind == "text":
        text_type = "output_text" if role == "assistant" else "input_text"
        part: dict[str, Any] = {"type": text_type, "text": str(block.get("text", ""))}
        if text_type == "output_text":
            part["annotations"] = []
        return part
    source = block.get("source") or {}
    if kind == "image":
        url = (
            source.get("url")
            if source.get("type") == "url"
            else make_data_url(source.get("media_type", "image/png"), source.get("data", ""))
        )
        return {"type": "input_image", "image_url": url, "detail": "auto"}
    if kind == "document" and source.get("type") == "base64":
        return {
            "type": "input_file",
            "file_data": make_data_url(source.get("media_type", "application/pdf"), source.get("data", "")),
            "filename": block.get("title"),
        }
    raise RequestError(f"{where}: content block type {kind!r} is not supported", f"{where}.type")


def _tool_result(block: dict[str, Any]) -> Item:
    content = block.get("content")
    if isinstance(content, list):
        output: Any = [_part(b, "user", "tool_result") for b in content if isinstance(b, dict)]
    else:
        output = content if isinstance(content, str) else ""
    if block.get("is_error"):
        text = output if isinstance(output, str) else " ".join(p.get("text", "") for p in output)
        output = f"Error: {text}"
    return {"type": "function_call_output", "call_id": block.get("tool_use_id", ""), "output": output}


def _reasoning_item(block: dict[str, Any]) -> Item:
    openai_content = signature_to_openai(block.get("signature"))
    text = block.get("thinking", "")
    summary = [{"type": "summary_text", "text": text}] if text else []
    encrypted = openai_content if openai_content is not None else pack_anthropic_block(block)
    return {"type": "reasoning", "summary": summary, "encrypted_content": encrypted}


def _tools(raw: Any) -> tuple[FunctionTool, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise RequestError("tools: Input should be a valid list", "tools")
    tools = []
    for index, tool in enumerate(raw):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            raise RequestError(f"tools.{index}.name: Field required", f"tools.{index}.name")
        tools.append(FunctionTool(tool["name"], tool.get("description"), tool.get("input_schema"), tool.get("strict")))
    return tuple(tools)


def _tool_choice(raw: Any) -> ToolChoice | None:
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind is None:
        return None
    modes = {"auto": "auto", "any": "required", "none": "none"}
    if kind in modes:
        return ToolChoice(modes[kind])  # type: ignore[arg-type]
    if kind == "tool":
        return ToolChoice("function", raw.get("name"))
    raise RequestError(f"tool_choice.type: {kind!r} is not one of auto, any, tool, none", "tool_choice.type")


def _reasoning(thinking: dict[str, Any], output_config: dict[str, Any]) -> Reasoning | None:
    kind = thinking.get("type")
    if kind == "enabled":
        budget = int(thinking.get("budget_tokens") or THINKING_BUDGETS["medium"])
        effort = next(
            (name for name, limit in (("high", 10000), ("medium", 5000), ("low", 2000)) if budget >= limit), "minimal"
        )
        return Reasoning(effort=effort, budget_tokens=budget)
    if kind == "adaptive":
        return Reasoning(effort=output_config.get("effort") or "medium")
    return None


def _output_format(output_config: dict[str, Any]) -> OutputFormat | None:
    fmt = output_config.get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        return OutputFormat("json_schema", fmt.get("name"), fmt.get("schema"), True)
    return None


# ---------------------------------------------------------------------------------------------------------------
# Canonical → upstream


def canonical_to_anthropic_request(
    req: CanonicalRequest, *, upstream_model: str, default_max_tokens: int
) -> dict[str, Any]:
    system = [req.instructions] if req.instructions else []
    turns: list[dict[str, Any]] = []
    for item in req.items:
        if item.get("type") == "message" and item.get("role") in ("system", "developer"):
            system.append(_text_of(item.get("content") or []))
            continue
        _add_to_turns(turns, item)
    if req.output_format is not None and req.output_format.type == "json_object":
        system.append(_JSON_OBJECT_INSTRUCTION)
    turns = [turn for turn in turns if turn["content"]]
    if turns and turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": [{"type": "text", "text": "(continued)"}]})
    _strip_final_assistant(turns)
    body: dict[str, Any] = {
        "model": upstream_model,
        "max_tokens": req.max_output_tokens or default_max_tokens,
        "messages": turns,
    }
    if any(system):
        body["system"] = "\n\n".join(s for s in system if s)
    _set_tools(body, req)
    _set_sampling(body, req)
    if req.stream:
        body["stream"] = True
    return body


def _add_to_turns(turns: list[dict[str, Any]], item: Item) -> None:
    kind = item.get("type")
    if kind == "message":
        role = "assistant" if item["role"] == "assistant" else "user"
        blocks = [b for b in (_block(p) for p in item.get("content") or []) if b is not None]
        _append(turns, role, blocks)
    elif kind == "function_call":
        _append(
            turns,
            "assistant",
            [
                {
                    "type": "tool_use",
                    "id": _tool_id(item["call_id"]),
                    "name": item["name"],
                    "input": tool_input(item.get("arguments")),
                }
            ],
        )
    elif kind == "function_call_output":
        result = {
            "type": "tool_result",
            "tool_use_id": _tool_id(item["call_id"]),
            "content": _result_content(item.get("output")),
        }
        _append(turns, "user", [result], first=True)
    elif kind == "reasoning":
        block = unpack_anthropic_block(item.get("encrypted_content"))
        if block is not None:
            _append(turns, "assistant", [block], first=True)


def _append(turns: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]], first: bool = False) -> None:
    """Merge into the last turn when it has the same role; tool results and thinking go ahead of other content."""
    if not turns or turns[-1]["role"] != role:
        turns.append({"role": role, "content": []})
    content = turns[-1]["content"]
    if first:
        position = sum(1 for b in content if b["type"] in ("tool_result", "thinking", "redacted_thinking"))
        content[position:position] = blocks
    else:
        content.extend(blocks)


def _block(part: dict[str, Any]) -> dict[str, Any] | None:
    kind = part.get("type")
    if kind in ("input_text", "output_text"):
        return {"type": "text", "text": part["text"]} if part.get("text") else None
    if kind == "refusal":
        return {"type": "text", "text": part["refusal"]} if part.get("refusal") else None
    if kind == "input_image":
        data = parse_data_url(part.get("image_url") or "")
        if data is None:
            return {"type": "image", "source": {"type": "url", "url": part.get("image_url")}}
        return {"type": "image", "source": {"type": "base64", "media_type": data.media_type, "data": data.data}}
    if kind == "input_file":
        data = parse_data_url(part.get("file_data") or "")
        if data is None:
            return None
        return {"type": "document", "source": {"type": "base64", "media_type": data.media_type, "data": data.data}}
    return None


def _result_content(output: Any) -> Any:
    if isinstance(output, list):
        return [b for b in (_block(p) for p in output if isinstance(p, dict)) if b is not None]
    return output if isinstance(output, str) else orjson.dumps(output).decode()


def tool_input(arguments: Any) -> dict[str, Any]:
    """A tool call's JSON arguments as the object Anthropic's ``input`` needs (never failing on bad JSON)."""
    if not arguments:
        return {}
    try:
        parsed = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return {"_raw": arguments}
    return parsed if isinstance(parsed, dict) else {"value": parsed}


def _tool_id(call_id: str) -> str:
    return _BAD_ID_CHARS.sub("_", call_id) or "toolu_missing"


def _text_of(parts: list[dict[str, Any]]) -> str:
    return "".join(p.get("text", "") for p in parts)


def _strip_final_assistant(turns: list[dict[str, Any]]) -> None:
    if turns and turns[-1]["role"] == "assistant":
        last = turns[-1]["content"][-1]
        if last["type"] == "text":
            last["text"] = last["text"].rstrip() or "."


def _set_tools(body: dict[str, Any], req: CanonicalRequest) -> None:
    if req.tools:
        body["tools"] = [
            {
                "name": t.name,
                "input_schema": t.parameters or {"type": "object", "properties": {}},
                **({"description": t.description} if t.description else {}),
            }
            for t in req.tools
        ]
    choice = _anthropic_tool_choice(req)
    if choice is not None and (req.tools or choice["type"] == "none"):
        body["tool_choice"] = choice


def _anthropic_tool_choice(req: CanonicalRequest) -> dict[str, Any] | None:
    mode = req.tool_choice.mode if req.tool_choice else None
    if req.reasoning is not None and mode in ("required", "function"):
        mode = "auto"
    choice: dict[str, Any] | None
    if mode == "function" and req.tool_choice is not None:
        choice = {"type": "tool", "name": req.tool_choice.name}
    else:
        choice = {"type": {"auto": "auto", "required": "any", "none": "none"}[mode]} if mode else None
    if req.parallel_tool_calls is False and req.tools:
        choice = choice or {"type": "auto"}
        if choice["type"] != "none":
            choice["disable_parallel_tool_use"] = True
    return choice


def _set_sampling(body: dict[str, Any], req: CanonicalRequest) -> None:
    if req.reasoning is not None and (req.reasoning.effort not in (None, "none") or req.reasoning.budget_tokens):
        budget = req.reasoning.budget_tokens or THINKING_BUDGETS.get(req.reasoning.effort or "medium", 8192)
        body["thinking"] = {"type": "enabled", "budget_tokens": budget}
        body["max_tokens"] = max(body["max_tokens"], budget + 4096)
    else:
        if req.temperature is not None:
            body["temperature"] = min(float(req.temperature), 1.0)
        if req.top_p is not None:
            body["top_p"] = req.top_p
    if req.stop:
        body["stop_sequences"] = [s for s in req.stop if s.strip()]
    if req.user:
        body["metadata"] = {"user_id": req.user}
    if req.output_format is not None and req.output_format.type == "json_schema":
        body["output_config"] = {"format": {"type": "json_schema", "schema": req.output_format.schema or {}}}
