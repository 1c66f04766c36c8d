"""Canonical events → Chat Completions chunks for a Chat client, and the same answer as one ``chat.completion``.

Reasoning text travels in the non-standard ``reasoning_content`` field (as DeepSeek and several gateways do);
clients that do not know it ignore it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from plano_proxy.transformers.canonical import (
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
from plano_proxy.transformers.ids import IdFactory

_HANDLERS: dict[type, str] = {
    ResponseStart: "_on_start",
    TextDelta: "_on_text",
    RefusalDelta: "_on_refusal",
    ReasoningDelta: "_on_reasoning",
    ToolCallStart: "_on_tool_start",
    ToolCallDelta: "_tool_delta",
    Usage: "_on_usage",
    Finish: "_on_finish",
    StreamError: "_on_error",
}


@dataclass(slots=True)
class _ToolCall:
    position: int
    call_id: str
    name: str
    arguments: list[str] = field(default_factory=list)


def chat_error_chunk(error: StreamError) -> dict[str, Any]:
    """A Chat stream's only error shape, for relayed and translated streams alike: OpenAI's ``{"error": {...}}``
    chunk, which the openai SDK raises as an ``APIError``; no ``[DONE]`` follows it."""
    return {"error": {"message": error.message, "type": error.type, "param": None, "code": error.code}}


class ChatEncoder:
    def __init__(self, model: str, ids: IdFactory, clock: Callable[[], int], include_usage: bool) -> None:
        self._model = model
        self._id = ids("chatcmpl-")
        self._created = clock()
        self._include_usage = include_usage
        # OpenAI marks every chunk before the usage chunk with "usage": null when the client asked for usage.
        self._chunk_usage: dict[str, None] = {"usage": None} if include_usage else {}
        self._started = False
        self._text: list[str] = []
        self._refusal: list[str] = []
        self._reasoning: list[str] = []
        self._tools: dict[int, _ToolCall] = {}
        self._usage = Usage()
        self._finish: FinishReason | None = None
        self._ended = False

    @property
    def id(self) -> str:
        return self._id

    def feed(self, event: Event) -> list[dict[str, Any]]:
        if self._ended:
            return []
        handler = getattr(self, _HANDLERS.get(type(event), ""), None)
        return handler(event) if handler is not None else []

    def _on_start(self, event: ResponseStart) -> list[dict[str, Any]]:
        return self._start()

    def _on_text(self, event: TextDelta) -> list[dict[str, Any]]:
        self._text.append(event.text)
        return [*self._start(), self._chunk({"content": event.text})]

    def _on_refusal(self, event: RefusalDelta) -> list[dict[str, Any]]:
        self._refusal.append(event.text)
        return [*self._start(), self._chunk({"refusal": event.text})]

    def _on_reasoning(self, event: ReasoningDelta) -> list[dict[str, Any]]:
        self._reasoning.append(event.text)
        return [*self._start(), self._chunk({"reasoning_content": event.text})]

    def _on_tool_start(self, event: ToolCallStart) -> list[dict[str, Any]]:
        return self._start() + self._tool_start(event)

    def _on_usage(self, event: Usage) -> list[dict[str, Any]]:
        self._usage = event
        return []

    def _on_finish(self, event: Finish) -> list[dict[str, Any]]:
        self._finish = event.reason
        return [*self._start(), self._chunk({}, event.reason)]

    def _on_error(self, event: StreamError) -> list[dict[str, Any]]:
        self._ended = True
        return [chat_error_chunk(event)]

    def finish(self) -> list[dict[str, Any]]:
        if self._ended:
            return []
        self._ended = True
        events = []
        if self._finish is None:
            self._finish = "stop"
            events = [*self._start(), self._chunk({}, "stop")]
        if self._include_usage:
            events.append({**self._base("chat.completion.chunk"), "choices": [], "usage": self._usage_body()})
        return events

    def completion(self) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": "".join(self._text) or None,
            "refusal": "".join(self._refusal) or None,
        }
        if self._tools:
            message["tool_calls"] = [
                {"id": t.call_id, "type": "function", "function": {"name": t.name, "arguments": "".join(t.arguments)}}
                for t in sorted(self._tools.values(), key=lambda t: t.position)
            ]
        if self._reasoning:
            message["reasoning_content"] = "".join(self._reasoning)
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": self._finish or "stop"}
        return {**self._base("chat.completion"), "choices": [choice], "usage": self._usage_body()}

    def _start(self) -> list[dict[str, Any]]:
        if self._started:
            return []
        self._started = True
        return [self._chunk({"role": "assistant", "content": ""})]

    def _tool_start(self, event: ToolCallStart) -> list[dict[str, Any]]:
        call = _ToolCall(len(self._tools), event.call_id, event.name)
        self._tools[event.index] = call
        start = {
            "index": call.position,
            "id": call.call_id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        return [self._chunk({"tool_calls": [start]})]

    def _tool_delta(self, event: ToolCallDelta) -> list[dict[str, Any]]:
        call = self._tools.get(event.index)
        if call is None or not event.arguments:
            return []
        call.arguments.append(event.arguments)
        return [self._chunk({"tool_calls": [{"index": call.position, "function": {"arguments": event.arguments}}]})]

    def _base(self, kind: str) -> dict[str, Any]:
        return {
            "id": self._id,
            "object": kind,
            "created": self._created,
            "model": self._model,
            "system_fingerprint": None,
        }

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {**self._base("chat.completion.chunk"), "choices": [choice], **self._chunk_usage}

    def _usage_body(self) -> dict[str, Any]:
        usage = self._usage
        return {
            "prompt_tokens": usage.input_tokens,
            "completion_tokens": usage.output_tokens,
            "total_tokens": usage.input_tokens + usage.output_tokens,
            "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
            "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        }
