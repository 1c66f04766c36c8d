"""Anthropic Messages answers (SSE events or a whole message) → canonical events.

Block indices are Anthropic's own content block indices. Canonical ``input_tokens`` counts every prompt token:
Anthropic's ``input_tokens`` plus cache reads and cache writes.
"""

from __future__ import annotations

from typing import Any

import orjson

from plano_proxy.transformers.canonical import (
    BlockEnd,
    Event,
    Finish,
    FinishReason,
    ReasoningDelta,
    ReasoningSignature,
    RedactedReasoning,
    ResponseStart,
    StreamError,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)
from plano_proxy.transformers.error_types import MALFORMED_EVENT, provider_stream_error
from plano_proxy.transformers.sse import SSEMessage

STOP_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def usage_from_anthropic(usage: dict[str, Any]) -> Usage:
    cache_read = usage.get("cache_read_input_tokens") or 0
    cache_write = usage.get("cache_creation_input_tokens") or 0
    return Usage(
        input_tokens=(usage.get("input_tokens") or 0) + cache_read + cache_write,
        output_tokens=usage.get("output_tokens") or 0,
        cached_tokens=cache_read,
        cache_creation_tokens=cache_write,
    )


def _block_start(index: int, block: dict[str, Any]) -> list[Event]:
    kind = block.get("type")
    if kind == "tool_use":
        return [ToolCallStart(index, str(block.get("id", "")), str(block.get("name", "")))]
    if kind == "redacted_thinking":
        return [RedactedReasoning(index, str(block.get("data", "")))]
    if kind == "text" and block.get("text"):
        return [TextDelta(index, block["text"])]
    if kind == "thinking" and block.get("thinking"):
        return [ReasoningDelta(index, block["thinking"])]
    return []


def _block_delta(index: int, delta: dict[str, Any]) -> list[Event]:
    kind = delta.get("type")
    if kind == "text_delta":
        return [TextDelta(index, delta.get("text", ""))]
    if kind == "thinking_delta":
        return [ReasoningDelta(index, delta.get("thinking", ""))]
    if kind == "signature_delta":
        return [ReasoningSignature(index, delta.get("signature", ""), "anthropic")]
    if kind == "input_json_delta" and delta.get("partial_json"):
        return [ToolCallDelta(index, delta["partial_json"])]
    return []


class AnthropicStreamDecoder:
    def __init__(self) -> None:
        self._usage: dict[str, Any] = {}
        self._finished = False
        self._started = False

    def feed(self, message: SSEMessage) -> list[Event]:
        if self._finished:
            return []
        try:
            payload = orjson.loads(message.data)
        except orjson.JSONDecodeError:
            return self._fail(MALFORMED_EVENT)
        if not isinstance(payload, dict):
            return []
        handler = getattr(self, f"_on_{payload.get('type')}", None)
        return handler(payload) if handler is not None else []

    def finish(self) -> list[Event]:
        if self._finished:
            return []
        self._finished = True
        start: list[Event] = [] if self._started else [ResponseStart("", "")]
        return [*start, usage_from_anthropic(self._usage), Finish("stop")]

    def _fail(self, error: StreamError) -> list[Event]:
        self._finished = True
        return [error]

    def _on_message_start(self, payload: dict[str, Any]) -> list[Event]:
        message = payload.get("message") or {}
        self._usage = dict(message.get("usage") or {})
        self._started = True
        return [ResponseStart(str(message.get("id", "")), str(message.get("model", "")))]

    def _on_content_block_start(self, payload: dict[str, Any]) -> list[Event]:
        return _block_start(int(payload.get("index", 0)), payload.get("content_block") or {})

    def _on_content_block_delta(self, payload: dict[str, Any]) -> list[Event]:
        return _block_delta(int(payload.get("index", 0)), payload.get("delta") or {})

    def _on_content_block_stop(self, payload: dict[str, Any]) -> list[Event]:
        return [BlockEnd(int(payload.get("index", 0)))]

    def _on_message_delta(self, payload: dict[str, Any]) -> list[Event]:
        self._usage.update({k: v for k, v in (payload.get("usage") or {}).items() if v is not None})
        reason = (payload.get("delta") or {}).get("stop_reason")
        self._finished = True
        return [usage_from_anthropic(self._usage), Finish(STOP_REASONS.get(reason or "end_turn", "stop"))]

    def _on_error(self, payload: dict[str, Any]) -> list[Event]:
        error = payload.get("error") or {}
        return self._fail(provider_stream_error(error.get("type"), None, error.get("message")))


def anthropic_message_to_events(body: dict[str, Any]) -> list[Event]:
    """The events of a whole (non-streaming) message, as the stream would have produced them."""
    events: list[Event] = [ResponseStart(str(body.get("id", "")), str(body.get("model", "")))]
    for index, block in enumerate(body.get("content") or []):
        events += _block_start(index, {**block, "text": block.get("text"), "thinking": block.get("thinking")})
        if block.get("type") == "tool_use":
            events.append(ToolCallDelta(index, orjson.dumps(block.get("input") or {}).decode()))
        if block.get("type") == "thinking" and block.get("signature"):
            events.append(ReasoningSignature(index, block["signature"], "anthropic"))
        events.append(BlockEnd(index))
    events.append(usage_from_anthropic(body.get("usage") or {}))
    events.append(Finish(STOP_REASONS.get(body.get("stop_reason") or "end_turn", "stop")))
    return events
