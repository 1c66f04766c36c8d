"""Canonical events → Anthropic Messages stream events for an Anthropic client, and the same answer as one message.

Blocks are opened lazily with contiguous indices in start order, one at a time. Reasoning is held until its signature
arrives and then sent as a whole thinking block; reasoning that never gets a signature (from Chat Completions
upstreams) is dropped, because Anthropic clients discard or reject unsigned thinking. OpenAI reasoning is passed as
a thinking block whose signature wraps the encrypted content (see `reasoning_codec`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from plano_proxy.transformers.anthropic_upstream import tool_input
from plano_proxy.transformers.canonical import (
    BlockEnd,
    Event,
    Finish,
    FinishReason,
    ReasoningDelta,
    ReasoningSignature,
    RedactedReasoning,
    RefusalDelta,
    ResponseStart,
    StreamError,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)
from plano_proxy.transformers.error_types import anthropic_type
from plano_proxy.transformers.ids import IdFactory
from plano_proxy.transformers.reasoning_codec import openai_to_signature

STOP_REASONS: dict[FinishReason, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}

Payload = dict[str, Any]


_HANDLERS: dict[type, str] = {
    ResponseStart: "_on_start",
    TextDelta: "_on_text",
    RefusalDelta: "_on_text",
    ReasoningDelta: "_on_reasoning",
    ReasoningSignature: "_signed_thinking",
    RedactedReasoning: "_on_redacted",
    ToolCallStart: "_on_tool_start",
    ToolCallDelta: "_on_tool_delta",
    BlockEnd: "_on_block_end",
    Usage: "_on_usage",
    Finish: "_on_finish",
    StreamError: "_on_error",
}


@dataclass(slots=True)
class _Block:
    """One content block of the answer, in the client's numbering."""

    position: int
    body: dict[str, Any]
    parts: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _QueuedTool:
    """A tool call that started while another one was still streaming; it is sent once that one has ended."""

    body: dict[str, Any]
    parts: list[str] = field(default_factory=list)
    ended: bool = False


def anthropic_error_event(error: StreamError) -> Payload:
    """An Anthropic stream's only error shape, for relayed and translated streams alike: an ``error`` event, after
    which the stream ends without ``message_stop``, as Anthropic's own do."""
    return {"type": "error", "error": {"type": anthropic_type(error.status), "message": error.message}}


class AnthropicEncoder:
    def __init__(self, model: str, ids: IdFactory) -> None:
        self._model = model
        self._id = ids("msg_")
        self._started = False
        self._blocks: list[_Block] = []
        self._open: dict[int, _Block] = {}
        """Canonical index → its block, while that block is open."""
        self._current: int | None = None
        self._queued: dict[int, _QueuedTool] = {}
        """Tool calls waiting for the streaming one to end (Anthropic streams one block at a time)."""
        self._thinking: dict[int, list[str]] = {}
        self._usage = Usage()
        self._stop_reason = "end_turn"
        self._ended = False

    def feed(self, event: Event) -> list[Payload]:
        if self._ended:
            return []
        handler = getattr(self, _HANDLERS.get(type(event), ""), None)
        return handler(event) if handler is not None else []

    def _on_start(self, event: ResponseStart) -> list[Payload]:
        return self._start()

    def _on_text(self, event: TextDelta | RefusalDelta) -> list[Payload]:
        return self._delta(
            event.index, {"type": "text", "text": ""}, {"type": "text_delta", "text": event.text}, event.text
        )

    def _on_reasoning(self, event: ReasoningDelta) -> list[Payload]:
        self._thinking.setdefault(event.index, []).append(event.text)
        return []

    def _on_redacted(self, event: RedactedReasoning) -> list[Payload]:
        return self._open_block(event.index, {"type": "redacted_thinking", "data": event.data}) + self._close(
            event.index
        )

    def _on_tool_start(self, event: ToolCallStart) -> list[Payload]:
        body = {"type": "tool_use", "id": event.call_id, "name": event.name, "input": {}}
        if self._streaming_tool() or self._queued:
            # Chat Completions providers may interleave parallel calls' arguments; hold this one back.
            self._queued[event.index] = _QueuedTool(body)
            return []
        return self._open_block(event.index, body)

    def _on_tool_delta(self, event: ToolCallDelta) -> list[Payload]:
        queued = self._queued.get(event.index)
        if queued is not None:
            queued.parts.append(event.arguments)
            return []
        delta = {"type": "input_json_delta", "partial_json": event.arguments}
        return self._delta(event.index, None, delta, event.arguments)

    def _on_block_end(self, event: BlockEnd) -> list[Payload]:
        self._thinking.pop(event.index, None)
        if event.index in self._queued:
            self._queued[event.index].ended = True
            return []
        return self._close(event.index) + self._release_queued()

    def _streaming_tool(self) -> bool:
        return self._current is not None and self._open[self._current].body["type"] == "tool_use"

    def _release_queued(self) -> list[Payload]:
        """Send held-back tool calls in order, each whole, up to the first one that has not ended yet."""
        events: list[Payload] = []
        while self._queued and not self._streaming_tool():
            index = next(iter(self._queued))
            queued = self._queued.pop(index)
            events += self._open_block(index, queued.body)
            arguments = "".join(queued.parts)
            if arguments:
                block = self._open[index]
                block.parts.append(arguments)
                delta = {"type": "input_json_delta", "partial_json": arguments}
                events.append({"type": "content_block_delta", "index": block.position, "delta": delta})
            if queued.ended:
                events += self._close(index)
        return events

    def _on_usage(self, event: Usage) -> list[Payload]:
        self._usage = event
        return []

    def _on_finish(self, event: Finish) -> list[Payload]:
        self._stop_reason = STOP_REASONS[event.reason]
        return self._end()

    def _on_error(self, event: StreamError) -> list[Payload]:
        self._ended = True
        return [anthropic_error_event(event)]

    def finish(self) -> list[Payload]:
        return [] if self._ended else self._end()

    def message(self) -> Payload:
        content = [self._final_block(block) for block in self._blocks]
        return {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": content,
            "stop_reason": self._stop_reason,
            "stop_sequence": None,
            "usage": self._usage_body(self._usage.output_tokens),
        }

    def _start(self) -> list[Payload]:
        if self._started:
            return []
        self._started = True
        message = {**self.message(), "content": [], "stop_reason": None, "usage": self._usage_body(0)}
        return [{"type": "message_start", "message": message}]

    def _open_block(self, index: int, body: dict[str, Any]) -> list[Payload]:
        events = self._start() + self._close_current()
        block = _Block(len(self._blocks), body)
        self._blocks.append(block)
        self._open[index] = block
        self._current = index
        return [*events, {"type": "content_block_start", "index": block.position, "content_block": dict(body)}]

    def _delta(self, index: int, body: dict[str, Any] | None, delta: dict[str, Any], piece: str) -> list[Payload]:
        if not piece:
            return []
        events: list[Payload] = []
        if index not in self._open or self._current != index:
            if body is None:
                return []
            events = self._open_block(index, body)
        block = self._open[index]
        block.parts.append(piece)
        return [*events, {"type": "content_block_delta", "index": block.position, "delta": delta}]

    def _signed_thinking(self, event: ReasoningSignature) -> list[Payload]:
        text = "".join(self._thinking.pop(event.index, []))
        signature = event.signature if event.origin == "anthropic" else openai_to_signature(event.signature)
        events = self._open_block(event.index, {"type": "thinking", "thinking": "", "signature": ""})
        block = self._open[event.index]
        block.parts.append(text)
        block.body["signature"] = signature
        if text:
            events.append(
                {
                    "type": "content_block_delta",
                    "index": block.position,
                    "delta": {"type": "thinking_delta", "thinking": text},
                }
            )
        events.append(
            {
                "type": "content_block_delta",
                "index": block.position,
                "delta": {"type": "signature_delta", "signature": signature},
            }
        )
        return events + self._close(event.index)

    def _close(self, index: int) -> list[Payload]:
        block = self._open.pop(index, None)
        if block is None:
            return []
        if self._current == index:
            self._current = None
        return [{"type": "content_block_stop", "index": block.position}]

    def _close_current(self) -> list[Payload]:
        return self._close(self._current) if self._current is not None else []

    def _end(self) -> list[Payload]:
        events = self._start()
        for queued in self._queued.values():
            queued.ended = True
        for index in list(self._open):
            events += self._close(index)
        events += self._release_queued()
        self._ended = True
        delta = {"stop_reason": self._stop_reason, "stop_sequence": None}
        usage = self._usage_body(self._usage.output_tokens)
        return [*events, {"type": "message_delta", "delta": delta, "usage": usage}, {"type": "message_stop"}]

    def _usage_body(self, output_tokens: int) -> dict[str, Any]:
        usage = self._usage
        return {
            "input_tokens": max(0, usage.input_tokens - usage.cached_tokens - usage.cache_creation_tokens),
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": usage.cache_creation_tokens,
            "cache_read_input_tokens": usage.cached_tokens,
        }

    @staticmethod
    def _final_block(block: _Block) -> dict[str, Any]:
        body = dict(block.body)
        text = "".join(block.parts)
        if body["type"] == "text":
            body["text"] = text
        elif body["type"] == "thinking":
            body["thinking"] = text
        elif body["type"] == "tool_use":
            body["input"] = tool_input(text)
        return body
