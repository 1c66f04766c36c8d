"""OpenAI Chat Completions requests → the canonical request (the other way is `chat_upstream`).

`check_chat_request` makes OpenAI's first checks, with its wording, on every request, relayed or translated; only a
body it passed (`ChatBody`) is parsed, and the parser checks what a translation reads beyond them.

- Assistant ``reasoning_content`` (DeepSeek-style) becomes a reasoning item without encrypted content.
- Parameters the gateway does not read and tools of other types than ``function`` are kept as sent, for a Chat
  upstream only (see `foreign`).
"""

from __future__ import annotations

from typing import Any, NewType

from plano_proxy.transformers.canonical import CanonicalRequest, FunctionTool, Item, OutputFormat, Reasoning, ToolChoice
from plano_proxy.transformers.errors import RequestError
from plano_proxy.transformers.foreign import extra_fields
from plano_proxy.transformers.tool_shapes import OPENAI_TOOL_MODES
from plano_proxy.transformers.validation import Expected, check_types, expect, missing, optional, wrong_type

READ_PARAMETERS = frozenset(
    {
        "model", "messages", "tools", "tool_choice", "parallel_tool_calls", "temperature", "top_p",
        "max_completion_tokens", "max_tokens", "stop", "response_format", "reasoning_effort", "safety_identifier",
        "user", "stream", "stream_options", "metadata", "n",
    }
)  # fmt: skip
"""What the gateway reads of a Chat request; every other parameter goes to a Chat upstream as sent."""
_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
_READ_TYPES: dict[str, Expected] = {
    "parallel_tool_calls": (bool, "a boolean"),
    "reasoning_effort": (str, "a string"),
    "user": (str, "a string"),
    "safety_identifier": (str, "a string"),
}
"""Fields only the translated path reads (the byte relay passes them to the provider, whose check they get)."""
_TYPES: dict[str, Expected] = {
    "stream": (bool, "a boolean"),
    "max_tokens": (int, "an integer"),
    "max_completion_tokens": (int, "an integer"),
    "n": (int, "an integer"),
    "temperature": ((int, float), "a number"),
    "top_p": ((int, float), "a number"),
    "tools": (list, "an array"),
    "stream_options": (dict, "an object"),
    "metadata": (dict, "an object"),
}

ChatBody = NewType("ChatBody", dict[str, Any])
"""A Chat request body that `check_chat_request` passed: its messages are objects with a role, its typed fields have
their types."""


def check_chat_request(body: dict[str, Any]) -> ChatBody:
    """The checks OpenAI makes before anything else, with its wording, so a bad request never reaches a provider.

    It runs before the byte relay too, so it reads no further than each message's role.
    """
    messages = body.get("messages")
    if messages is None:
        raise missing("messages")
    expect(messages, list, "an array", "messages")
    if not messages:
        raise RequestError(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            "messages",
        )
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        expect(message, dict, "an object", where)
        if "role" not in message:
            raise missing(f"{where}.role")
        if message["role"] not in _ROLES:
            raise RequestError(
                f"Invalid value: {message['role']!r}. Supported values are: 'system', 'assistant', 'user', "
                "'function', 'tool', and 'developer'.",
                f"{where}.role",
            )
    check_types(body, _TYPES)
    return ChatBody(body)


def chat_request_to_canonical(body: ChatBody) -> CanonicalRequest:
    _check_one_choice(body.get("n"))
    check_types(body, _READ_TYPES)
    optional((body.get("stream_options") or {}).get("include_usage"), bool, "a boolean", "stream_options.include_usage")
    items: list[Item] = []
    for index, message in enumerate(body["messages"]):
        items += _message_items(message, f"messages[{index}]")
    stream = body.get("stream") is True
    tools, foreign_tools = _tools(body.get("tools"))
    return CanonicalRequest(
        model=str(body.get("model") or ""),
        items=tuple(items),
        tools=tools,
        tool_choice=_tool_choice(body.get("tool_choice")),
        parallel_tool_calls=body.get("parallel_tool_calls"),
        temperature=body.get("temperature"),
        top_p=body.get("top_p"),
        max_output_tokens=body.get("max_completion_tokens") or body.get("max_tokens"),
        stop=_stop(body.get("stop")),
        output_format=_output_format(body.get("response_format")),
        reasoning=Reasoning(effort=body["reasoning_effort"]) if body.get("reasoning_effort") else None,
        user=body.get("safety_identifier") or body.get("user"),
        stream=stream,
        include_usage=bool((body.get("stream_options") or {}).get("include_usage")) if stream else True,
        metadata={k: v for k, v in (body.get("metadata") or {}).items() if isinstance(v, str)},
        client_format="chat",
        extra=extra_fields(body, READ_PARAMETERS),
        foreign_tools=foreign_tools,
    )


def _check_one_choice(n: Any) -> None:
    """A translated answer has exactly one choice: several are refused rather than silently answered with one."""
    if n is None or n == 1 or not isinstance(n, int):
        return
    if n < 1:
        raise RequestError(
            f"Invalid 'n': integer below minimum value. Expected a value >= 1, but got {n} instead.", "n"
        )
    raise RequestError(
        f"Invalid 'n': this request can only be answered with one choice, but n is {n}. The gateway translates it "
        "(for a provider of another format, or to store the chat turn), and a translated answer has one choice. "
        "Omit 'n' or set it to 1.",
        "n",
    )


def _message_items(message: dict[str, Any], where: str) -> list[Item]:
    role = message["role"]
    content = message.get("content")
    if role in ("tool", "function"):
        optional(message.get("tool_call_id"), str, "a string", f"{where}.tool_call_id")
        optional(message.get("name"), str, "a string", f"{where}.name")
        call_id = message.get("tool_call_id") or message.get("name") or ""
        return [{"type": "function_call_output", "call_id": call_id, "output": _plain_text(content, where)}]
    if role == "assistant":
        return _assistant_items(message, where)
    parts = _input_parts(content, f"{where}.content")
    return [{"type": "message", "role": role, "content": parts}]


def _assistant_items(message: dict[str, Any], where: str) -> list[Item]:
    items: list[Item] = []
    reasoning = message.get("reasoning_content")
    optional(reasoning, str, "a string", f"{where}.reasoning_content")
    optional(message.get("refusal"), str, "a string", f"{where}.refusal")
    if reasoning:
        items.append(
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": reasoning}], "encrypted_content": None}
        )
    text = _plain_text(message.get("content"), where)
    if text:
        items.append(
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        )
    if message.get("refusal"):
        items.append(
            {"type": "message", "role": "assistant", "content": [{"type": "refusal", "refusal": message["refusal"]}]}
        )
    calls = message.get("tool_calls")
    optional(calls, list, "an array", f"{where}.tool_calls")
    for index, call in enumerate(calls or []):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise RequestError(
                f"Invalid '{where}.tool_calls[{index}]': a function with a name is required.",
                f"{where}.tool_calls[{index}]",
            )
        optional(call.get("id"), str, "a string", f"{where}.tool_calls[{index}].id")
        optional(function.get("arguments"), str, "a string", f"{where}.tool_calls[{index}].function.arguments")
        items.append(
            {
                "type": "function_call",
                "call_id": call.get("id") or "",
                "name": function["name"],
                "arguments": function.get("arguments") or "",
            }
        )
    return items


def _input_parts(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "input_text", "text": content}]
    if content is None:
        return []
    if not isinstance(content, list):
        raise RequestError(f"Invalid type for '{where}': expected a string or an array of content parts.", where)
    return [_input_part(part, f"{where}[{i}]") for i, part in enumerate(content)]


def _input_part(part: Any, where: str) -> dict[str, Any]:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "text" and isinstance(part.get("text"), str):
        return {"type": "input_text", "text": part["text"]}
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if not isinstance(url, str):
            raise RequestError(f"Invalid '{where}.image_url': a url is required.", f"{where}.image_url")
        detail = image.get("detail", "auto") if isinstance(image, dict) else "auto"
        expect(detail, str, "a string", f"{where}.image_url.detail")
        return {"type": "input_image", "image_url": url, "detail": detail}
    if kind == "file":
        file = part.get("file")
        if not isinstance(file, dict) or not isinstance(file.get("file_data"), str):
            raise RequestError(f"Invalid '{where}.file': only inline file_data is supported.", f"{where}.file")
        optional(file.get("filename"), str, "a string", f"{where}.file.filename")
        return {"type": "input_file", "file_data": file["file_data"], "filename": file.get("filename")}
    if kind == "input_audio":
        raise RequestError(f"Audio input ('{where}') is not supported by this gateway.", where)
    if isinstance(part, dict) and isinstance(part.get("text"), str):
        # A part type newer than this gateway that carries text: the text is what a model can read of it.
        return {"type": "input_text", "text": part["text"]}
    raise RequestError(f"Invalid content part type at '{where}': {kind!r}.", f"{where}.type")


def _plain_text(content: Any, where: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        texts: list[Any] = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        for index, text in enumerate(texts):
            expect(text, str, "a string", f"{where}.content[{index}].text")
        return "".join(texts)
    raise RequestError(wrong_type(f"{where}.content", "a string or an array", content), f"{where}.content")


def _tools(raw: Any) -> tuple[tuple[FunctionTool, ...], tuple[dict[str, Any], ...]]:
    """The function tools and, as sent, the tools of other types (OpenAI's custom tools and any newer type)."""
    if raw is None:
        return (), ()
    tools, foreign = [], []
    for index, tool in enumerate(raw):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind != "function" and isinstance(kind, str) and kind:
            foreign.append(tool)
            continue
        if kind != "function" or not isinstance(tool.get("function"), dict):
            raise RequestError(
                f"Invalid 'tools[{index}]': a tool needs a 'type', and a function tool its 'function'.",
                f"tools[{index}]",
            )
        function = tool["function"]
        if not isinstance(function.get("name"), str):
            raise RequestError(
                f"Missing required parameter: 'tools[{index}].function.name'.", f"tools[{index}].function.name"
            )
        where = f"tools[{index}].function"
        optional(function.get("description"), str, "a string", f"{where}.description")
        optional(function.get("parameters"), dict, "an object", f"{where}.parameters")
        optional(function.get("strict"), bool, "a boolean", f"{where}.strict")
        tools.append(
            FunctionTool(
                function["name"], function.get("description"), function.get("parameters"), function.get("strict")
            )
        )
    return tuple(tools), tuple(foreign)


def _tool_choice(raw: Any) -> ToolChoice | None:
    if raw is None:
        return None
    if raw in OPENAI_TOOL_MODES:
        return ToolChoice(raw)
    function = raw.get("function") if isinstance(raw, dict) else None
    if isinstance(function, dict) and isinstance(function.get("name"), str):
        return ToolChoice("function", function["name"])
    raise RequestError(f"Invalid value for 'tool_choice': {raw!r}.", "tool_choice")


def _stop(raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    if isinstance(raw, str):
        return (raw,)
    if isinstance(raw, list) and all(isinstance(s, str) for s in raw):
        return tuple(raw)
    raise RequestError("Invalid type for 'stop': expected a string or an array of strings.", "stop")


def _output_format(raw: Any) -> OutputFormat | None:
    if raw is None:
        return None
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind == "json_schema":
        schema = raw.get("json_schema") or {}
        expect(schema, dict, "an object", "response_format.json_schema")
        optional(schema.get("name"), str, "a string", "response_format.json_schema.name")
        optional(schema.get("schema"), dict, "an object", "response_format.json_schema.schema")
        optional(schema.get("strict"), bool, "a boolean", "response_format.json_schema.strict")
        return OutputFormat("json_schema", schema.get("name"), schema.get("schema"), schema.get("strict"))
    if kind in ("text", "json_object"):
        return OutputFormat(kind)
    raise RequestError(f"Invalid value for 'response_format.type': {kind!r}.", "response_format.type")
