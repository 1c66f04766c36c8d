"""Chat Completions answers (SSE chunks or a whole completion) → canonical events.

Block indices: reasoning 0, text 1, refusal 2, tool call *i* 10 + *i*. ``Finish`` is held until the usage chunk (or
the end of the stream), because OpenAI sends ``finish_reason`` and usage in separate chunks; ``Usage`` always comes
before ``Finish``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from plano_proxy.transformers.canonical import (
    BlockEnd,
    Event,
    Finish,
    FinishReason,
    ReasoningDelta,
    RefusalDelta,
    ResponseStart,
    StreamError,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)
from plano_proxy.transformers.error_types import MALFORMED_EVENT, provider_stream_error
from plano_proxy.transformers.sse import SSEMessage

REASONING, TEXT, REFUSAL, FIRST_TOOL = 0, 1, 2, 10
_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}


def usage_from_chat(usage: dict[str, Any]) -> Usage:
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    return Usage(
        input_tokens=usage.get("prompt_tokens") or 0,
        output_tokens=usage.get("completion_tokens") or 0,
        cached_tokens=prompt_details.get("cached_tokens") or 0,
        reasoning_tokens=completion_details.get("reasoning_tokens") or 0,
    )


class ChatStreamDecoder:
    def __init__(self, tool_names: Mapping[str, str] | None = None) -> None:
        self._tool_names = tool_names or {}
        self._started = False
        self._open: set[int] = set()
        self._tools: set[int] = set()
        self._finish: FinishReason | None = None
        self._usage: Usage | None = None
        self._done = False

    def feed(self, message: SSEMessage) -> list[Event]:
        if self._done:
            return []
        if message.data.strip() == "[DONE]":
            return self.finish()
        try:
            chunk = orjson.loads(message.data)
        except orjson.JSONDecodeError:
            return self._fail(MALFORMED_EVENT)
        if not isinstance(chunk, dict):
            return []
        if "error" in chunk or chunk.get("object") == "error":
            nested = chunk.get("error")
            error: dict[str, Any] = nested if isinstance(nested, dict) else chunk  # vLLM's flat {"object": "error"}
            return self._fail(provider_stream_error(error.get("type"), error.get("code"), error.get("message")))
        return self._chunk(chunk)

    def finish(self) -> list[Event]:
        if self._done:
            return []
        events: list[Event] = self._start({}) + self._close_all()
        events.append(self._usage or Usage())
        events.append(Finish(self._finish or "stop"))
        self._done = True
        return events

    def _fail(self, error: StreamError) -> list[Event]:
        self._done = True
        return [error]

    def _start(self, chunk: dict[str, Any]) -> list[Event]:
        if self._started:
            return []
        self._started = True
        return [ResponseStart(str(chunk.get("id") or ""), str(chunk.get("model") or ""))]

    def _chunk(self, chunk: dict[str, Any]) -> list[Event]:
        events = self._start(chunk)
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) == 0:
                events += self._delta(choice.get("delta") or {})
                if choice.get("finish_reason"):
                    self._finish = _FINISH.get(choice["finish_reason"], "stop")
                    events += self._close_all()
        if isinstance(chunk.get("usage"), dict):
            self._usage = usage_from_chat(chunk["usage"])
            if self._finish is not None:
                events += self.finish()
        return events

    def _delta(self, delta: dict[str, Any]) -> list[Event]:
        events: list[Event] = []
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            self._open.add(REASONING)
            events.append(ReasoningDelta(REASONING, reasoning))
        if isinstance(delta.get("content"), str) and delta["content"]:
            self._open.add(TEXT)
            events.append(TextDelta(TEXT, delta["content"]))
        if isinstance(delta.get("refusal"), str) and delta["refusal"]:
            self._open.add(REFUSAL)
            events.append(RefusalDelta(REFUSAL, delta["refusal"]))
        for call in delta.get("tool_calls") or []:
            events += self._tool_call(call)
        return events

    def _tool_call(self, call: dict[str, Any]) -> list[Event]:
        index = FIRST_TOOL + int(call.get("index", 0))
        function = call.get("function") or {}
        events: list[Event] = []
        if index not in self._tools:
            self._tools.add(index)
            self._open.add(index)
            name = str(function.get("name") or "")
            events.append(
                ToolCallStart(index, str(call.get("id") or f"call_{index}"), self._tool_names.get(name, name))
            )
        if function.get("arguments"):
            events.append(ToolCallDelta(index, function["arguments"]))
        return events

    def _close_all(self) -> list[Event]:
        events: list[Event] = [BlockEnd(index) for index in sorted(self._open)]
        self._open.clear()
        return events


def chat_completion_to_events(body: dict[str, Any], tool_names: Mapping[str, str] | None = None) -> list[Event]:
    """The events of a whole (non-streaming) completion, as the stream would have produced them."""
    names = tool_names or {}
    choice = (body.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    events: list[Event] = [ResponseStart(str(body.get("id") or ""), str(body.get("model") or ""))]
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        events += [ReasoningDelta(REASONING, reasoning), BlockEnd(REASONING)]
    if message.get("content"):
        events += [TextDelta(TEXT, message["content"]), BlockEnd(TEXT)]
    if message.get("refusal"):
        events += [RefusalDelta(REFUSAL, message["refusal"]), BlockEnd(REFUSAL)]
    for position, call in enumerate(message.get("tool_calls") or []):
        index = FIRST_TOOL + position
        function = call.get("function") or {}
        name = str(function.get("name") or "")
        events.append(ToolCallStart(index, str(call.get("id") or f"call_{index}"), names.get(name, name)))
        if function.get("arguments"):
            events.append(ToolCallDelta(index, function["arguments"]))
        events.append(BlockEnd(index))
    events.append(usage_from_chat(body.get("usage") or {}))
    events.append(Finish(_FINISH.get(choice.get("finish_reason") or "stop", "stop")))
    return events
