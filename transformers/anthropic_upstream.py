"""The canonical request → an Anthropic Messages request body for an Anthropic upstream.

Choices where formats differ:

- ``reasoning.effort`` becomes ``thinking: {type: enabled, budget_tokens}`` with minimal 1024, low 2048, medium 8192,
  high 16384 tokens (an explicit budget wins); ``max_tokens`` is raised above the budget when needed. With thinking
  on, temperature and top_p are dropped and a forced tool choice becomes ``auto``, as Anthropic requires.
- ``json_object`` output has no Anthropic equivalent: a system instruction asks for one JSON object.
- Only reasoning minted by Anthropic (see `reasoning_codec`) is replayed; other providers' reasoning is dropped.
- Tool call ids are sanitised to Anthropic's ``[a-zA-Z0-9_-]`` the same way for a call and its result; namespaced
  functions go by their flat name; items of unknown types are read as text (see `foreign`).
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from plano_proxy.transformers.canonical import CanonicalRequest, Item, flat_tool_name
from plano_proxy.transformers.foreign import foreign_item_message, foreign_part_error
from plano_proxy.transformers.media import parse_data_url
from plano_proxy.transformers.reasoning_codec import unpack_anthropic_block
from plano_proxy.transformers.tool_shapes import ANTHROPIC_TOOL_MODES, function_fields, json_schema_fields

THINKING_BUDGETS = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 16384, "xhigh": 32000}
_BAD_ID_CHARS = re.compile(r"[^a-zA-Z0-9_-]")
_JSON_OBJECT_INSTRUCTION = "Answer with a single JSON object and nothing else."


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
    if req.client_format == "anthropic":
        if req.foreign_tools:
            body["tools"] = [*body.get("tools", []), *req.foreign_tools]
        body.update({key: value for key, value in req.extra.items() if key not in body})
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
                    "name": flat_tool_name(item["name"], item.get("namespace")),
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
    elif kind != "item_reference":
        _add_to_turns(turns, foreign_item_message(item))


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
    raise foreign_part_error(part)


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
        body["tools"] = [function_fields(tool, tool.flat_name, "anthropic") for tool in req.tools]
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
        choice = {"type": ANTHROPIC_TOOL_MODES[mode]} if mode else None
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
        body["output_config"] = {
            "format": {"type": "json_schema", **json_schema_fields(req.output_format, "anthropic")}
        }
