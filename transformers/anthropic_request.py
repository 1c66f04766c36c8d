"""Anthropic Messages requests → the canonical request (the other way is `anthropic_upstream`).

`check_messages_request` makes Anthropic's own first checks, with its wording, on every request, relayed or
translated; only a body it passed (`MessagesBody`) is parsed, and the parser checks what a translation reads beyond.

- ``thinking: {type: enabled, budget_tokens}`` becomes a reasoning effort on OpenAI's scale with the budget kept;
  ``{type: adaptive}`` takes ``output_config.effort``.
- ``system`` messages in the middle of the conversation (Claude Code sends them) become system messages where they
  stood; content blocks with no canonical form are read as text (see `foreign`).
- Anthropic's typed tools (web search, code execution …) and fields the gateway does not read are kept as sent, for
  an Anthropic upstream only.
"""

from __future__ import annotations

from typing import Any, NewType

import orjson

from plano_proxy.transformers.anthropic_upstream import THINKING_BUDGETS
from plano_proxy.transformers.canonical import CanonicalRequest, FunctionTool, Item, OutputFormat, Reasoning, ToolChoice
from plano_proxy.transformers.errors import RequestError
from plano_proxy.transformers.foreign import as_text, extra_fields
from plano_proxy.transformers.media import make_data_url
from plano_proxy.transformers.reasoning_codec import pack_anthropic_block, signature_to_openai
from plano_proxy.transformers.tool_shapes import ANTHROPIC_TOOL_MODES
from plano_proxy.transformers.validation import anthropic_expect, anthropic_optional

READ_PARAMETERS = frozenset(
    {
        "model", "messages", "system", "tools", "tool_choice", "temperature", "top_p", "max_tokens",
        "stop_sequences", "output_config", "thinking", "metadata", "stream",
    }
)  # fmt: skip
"""What the gateway reads of a Messages request; every other parameter goes to an Anthropic upstream as sent."""
MESSAGE_ROLES = ("user", "assistant", "system")
"""Claude Code sends ``system`` messages mid-conversation; they become system messages on every provider."""
_CANONICAL_MODES = {kind: mode for mode, kind in ANTHROPIC_TOOL_MODES.items()}

MessagesBody = NewType("MessagesBody", dict[str, Any])
"""A Messages request body that `check_messages_request` passed: its messages have a role and string or block
content, each block an object with a type."""


def check_messages_request(body: dict[str, Any], *, need_max_tokens: bool) -> MessagesBody:
    """Anthropic's own first checks, so a malformed request is refused before any provider sees it (``count_tokens``
    takes no ``max_tokens``).

    It runs before the byte relay too, so it reads no further than each content block's type.
    """
    messages = body.get("messages")
    if not isinstance(messages, list):
        text = "messages: Field required" if messages is None else "messages: Input should be a list"
        raise RequestError(text, "messages")
    for index, message in enumerate(messages):
        where = f"messages.{index}"
        if not isinstance(message, dict) or message.get("role") not in MESSAGE_ROLES:
            raise RequestError(f"{where}: each message needs a role of 'user', 'assistant' or 'system'", where)
        _check_content(message.get("content"), f"{where}.content")
    max_tokens = body.get("max_tokens")
    if need_max_tokens and max_tokens is None:
        raise RequestError("max_tokens: Field required", "max_tokens")
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1):
        raise RequestError("max_tokens: Input should be a valid integer greater than or equal to 1", "max_tokens")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise RequestError("stream: Input should be a valid boolean", "stream")
    return MessagesBody(body)


def _check_content(content: Any, where: str) -> None:
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise RequestError(f"{where}: Input should be a valid string or a list of content blocks", where)
    for index, block in enumerate(content):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise RequestError(
                f"{where}.{index}: each content block must be an object with a 'type'", f"{where}.{index}"
            )


def anthropic_request_to_canonical(body: MessagesBody) -> CanonicalRequest:
    items: list[Item] = []
    for index, message in enumerate(body["messages"]):
        items += _message_items(message, f"messages.{index}")
    thinking, metadata = _object(body, "thinking"), _object(body, "metadata")
    tool_choice, output_config = _object(body, "tool_choice"), _object(body, "output_config")
    tools, foreign_tools = _tools(body.get("tools"))
    _check_sampling(body)
    anthropic_optional(metadata.get("user_id"), str, "string", "metadata.user_id")
    return CanonicalRequest(
        model=str(body.get("model") or ""),
        items=tuple(items),
        instructions=_system_text(body.get("system")),
        tools=tools,
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
        client_format="anthropic",
        extra=extra_fields(body, READ_PARAMETERS),
        foreign_tools=foreign_tools,
    )


def _object(body: dict[str, Any], key: str) -> dict[str, Any]:
    """An optional object field: {} when absent, a 400 naming the field when it is not an object."""
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RequestError(f"{key}: Input should be a valid dictionary or object", key)
    return value


def _check_sampling(body: dict[str, Any]) -> None:
    for key in ("temperature", "top_p"):
        anthropic_optional(body.get(key), (int, float), "number", key)
    stops = body.get("stop_sequences")
    anthropic_optional(stops, list, "list", "stop_sequences")
    for index, stop in enumerate(stops or ()):
        anthropic_expect(stop, str, "string", f"stop_sequences.{index}")


def _system_text(system: Any) -> str | None:
    if system is None or isinstance(system, str):
        return system or None
    if not isinstance(system, list):
        raise RequestError("system: Input should be a valid string or a list of text blocks", "system")
    for index, block in enumerate(system):
        anthropic_expect(block, dict, "dictionary", f"system.{index}")
        anthropic_expect(block.get("text"), str, "string", f"system.{index}.text")
    return "\n\n".join(block["text"] for block in system) or None


def _message_items(message: dict[str, Any], where: str) -> list[Item]:
    role = message["role"]
    content = message["content"]
    blocks: list[dict[str, Any]] = [{"type": "text", "text": content}] if isinstance(content, str) else content
    items: list[Item] = [
        _tool_result(block, f"{where}.content.{index}")
        for index, block in enumerate(blocks)
        if block["type"] == "tool_result"
    ]
    parts: list[dict[str, Any]] = []
    for index, block in enumerate(blocks):
        kind = block["type"]
        if kind == "tool_result":
            continue
        if kind == "tool_use":
            items += _flush(role, parts)
            items.append(_tool_use(block, f"{where}.content.{index}"))
        elif kind in ("thinking", "redacted_thinking"):
            items += _flush(role, parts)
            items.append(_reasoning_item(block, f"{where}.content.{index}"))
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
        anthropic_expect(block.get("text"), str, "string", f"{where}.text")
        if role == "assistant":
            return {"type": "output_text", "text": block["text"], "annotations": []}
        return {"type": "input_text", "text": block["text"]}
    if kind in ("image", "document"):
        return _media_part(block, where)
    return _foreign_part(block, role, where)


def _media_part(block: dict[str, Any], where: str) -> dict[str, Any]:
    """An image (base64 or URL) or a base64 document; other document sources cannot be carried."""
    source: Any = block.get("source")
    anthropic_expect(source, dict, "dictionary", f"{where}.source")
    if block["type"] == "image" and source.get("type") == "url":
        anthropic_expect(source.get("url"), str, "string", f"{where}.source.url")
        return {"type": "input_image", "image_url": source["url"], "detail": "auto"}
    if source.get("type") != "base64":
        raise RequestError(
            f"{where}: content block type {block['type']!r} cannot be sent to this model's provider", where
        )
    default_type = "image/png" if block["type"] == "image" else "application/pdf"
    media_type = source.get("media_type", default_type)
    anthropic_expect(media_type, str, "string", f"{where}.source.media_type")
    anthropic_expect(source.get("data"), str, "string", f"{where}.source.data")
    url = make_data_url(media_type, source["data"])
    if block["type"] == "image":
        return {"type": "input_image", "image_url": url, "detail": "auto"}
    anthropic_optional(block.get("title"), str, "string", f"{where}.title")
    return {"type": "input_file", "file_data": url, "filename": block.get("title")}


def _foreign_part(block: dict[str, Any], role: str, where: str) -> dict[str, Any]:
    """A block type with no canonical form (a server tool's call or result, a search result, a newer type) as text the
    model can read; only one carrying binary data, which text cannot hold, is refused."""
    kind = block.get("type")
    if not isinstance(kind, str) or not kind:
        raise RequestError(f"{where}.type: Field required", f"{where}.type")
    source = block.get("source")
    if kind in ("image", "document") or (isinstance(source, dict) and "data" in source):
        raise RequestError(f"{where}: content block type {kind!r} cannot be sent to this model's provider", where)
    text = block["text"] if isinstance(block.get("text"), str) else as_text(kind, block)
    if role == "assistant":
        return {"type": "output_text", "text": text, "annotations": []}
    return {"type": "input_text", "text": text}


def _tool_use(block: dict[str, Any], where: str) -> Item:
    anthropic_expect(block.get("id"), str, "string", f"{where}.id")
    anthropic_expect(block.get("name"), str, "string", f"{where}.name")
    anthropic_optional(block.get("input"), dict, "dictionary", f"{where}.input")
    arguments = orjson.dumps(block.get("input") or {}).decode()
    return {"type": "function_call", "call_id": block["id"], "name": block["name"], "arguments": arguments}


def _tool_result(block: dict[str, Any], where: str) -> Item:
    anthropic_expect(block.get("tool_use_id"), str, "string", f"{where}.tool_use_id")
    content = block.get("content")
    if isinstance(content, list):
        output: Any = []
        for index, part in enumerate(content):
            anthropic_expect(part, dict, "dictionary", f"{where}.content.{index}")
            output.append(_part(part, "user", f"{where}.content.{index}"))
    else:
        anthropic_optional(content, str, "string", f"{where}.content")
        output = content or ""
    if block.get("is_error"):
        text = output if isinstance(output, str) else " ".join(p.get("text", "") for p in output)
        output = f"Error: {text}"
    return {"type": "function_call_output", "call_id": block["tool_use_id"], "output": output}


def _reasoning_item(block: dict[str, Any], where: str) -> Item:
    field = "data" if block["type"] == "redacted_thinking" else "thinking"
    anthropic_optional(block.get(field), str, "string", f"{where}.{field}")
    anthropic_optional(block.get("signature"), str, "string", f"{where}.signature")
    openai_content = signature_to_openai(block.get("signature"))
    text = block.get("thinking", "")
    summary = [{"type": "summary_text", "text": text}] if text else []
    encrypted = openai_content if openai_content is not None else pack_anthropic_block(block)
    return {"type": "reasoning", "summary": summary, "encrypted_content": encrypted}


def _tools(raw: Any) -> tuple[tuple[FunctionTool, ...], tuple[dict[str, Any], ...]]:
    """Client tools and, as sent, Anthropic's typed tools (web search, code execution …) that only it runs."""
    if raw is None:
        return (), ()
    if not isinstance(raw, list):
        raise RequestError("tools: Input should be a valid list", "tools")
    tools, foreign = [], []
    for index, tool in enumerate(raw):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            raise RequestError(f"tools.{index}.name: Field required", f"tools.{index}.name")
        if tool.get("type") not in (None, "custom"):
            foreign.append(tool)
            continue
        anthropic_optional(tool.get("description"), str, "string", f"tools.{index}.description")
        anthropic_optional(tool.get("input_schema"), dict, "dictionary", f"tools.{index}.input_schema")
        anthropic_optional(tool.get("strict"), bool, "boolean", f"tools.{index}.strict")
        tools.append(FunctionTool(tool["name"], tool.get("description"), tool.get("input_schema"), tool.get("strict")))
    return tuple(tools), tuple(foreign)


def _tool_choice(raw: Any) -> ToolChoice | None:
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind is None:
        return None
    anthropic_expect(kind, str, "string", "tool_choice.type")
    if kind in _CANONICAL_MODES:
        return ToolChoice(_CANONICAL_MODES[kind])  # type: ignore[arg-type]
    if kind == "tool":
        anthropic_expect(raw.get("name"), str, "string", "tool_choice.name")
        return ToolChoice("function", raw["name"])
    raise RequestError(f"tool_choice.type: {kind!r} is not one of auto, any, tool, none", "tool_choice.type")


def _reasoning(thinking: dict[str, Any], output_config: dict[str, Any]) -> Reasoning | None:
    kind = thinking.get("type")
    anthropic_optional(output_config.get("effort"), str, "string", "output_config.effort")
    if kind == "enabled":
        anthropic_optional(thinking.get("budget_tokens"), int, "integer", "thinking.budget_tokens")
        budget = thinking.get("budget_tokens") or THINKING_BUDGETS["medium"]
        effort = next(
            (name for name, limit in (("high", 10000), ("medium", 5000), ("low", 2000)) if budget >= limit), "minimal"
        )
        return Reasoning(effort=effort, budget_tokens=budget)
    if kind == "adaptive":
        return Reasoning(effort=output_config.get("effort") or "medium")
    return None


def _output_format(output_config: dict[str, Any]) -> OutputFormat | None:
    fmt = output_config.get("format")
    anthropic_optional(fmt, dict, "dictionary", "output_config.format")
    if fmt is None or fmt.get("type") != "json_schema":
        return None
    anthropic_optional(fmt.get("name"), str, "string", "output_config.format.name")
    anthropic_expect(fmt.get("schema"), dict, "dictionary", "output_config.format.schema")
    return OutputFormat("json_schema", fmt.get("name"), fmt["schema"], True)
