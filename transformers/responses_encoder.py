"""Canonical events → OpenAI Responses stream events for a Responses client, and the same answer as one object.

Events come in OpenAI's order: ``response.created``, ``response.in_progress``, then per output item ``added`` … part
and delta events … ``done``, then one terminal event (``response.completed``, ``response.incomplete`` or
``response.failed``). Payloads carry no ``sequence_number``: the gateway stamps it as each event leaves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from plano_proxy.transformers.canonical import (
    BlockEnd,
    CanonicalRequest,
    Event,
    Finish,
    Item,
    ReasoningDelta,
    ReasoningSignature,
    RedactedReasoning,
    RefusalDelta,
    StreamError,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)
from plano_proxy.transformers.ids import IdFactory
from plano_proxy.transformers.reasoning_codec import pack_anthropic_block

Payload = dict[str, Any]
ECHO_DEFAULTS: dict[str, Any] = {
    "instructions": None,
    "tools": [],
    "tool_choice": "auto",
    "parallel_tool_calls": True,
    "temperature": 1.0,
    "top_p": 1.0,
    "max_output_tokens": None,
    "previous_response_id": None,
    "metadata": {},
    "text": {"format": {"type": "text"}},
    "truncation": "disabled",
    "reasoning": {"effort": None, "summary": None},
    "store": True,
    "user": None,
    "background": False,
    "service_tier": "auto",
}


def echo_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The request fields a response object echoes, with OpenAI's defaults for those the client left out."""
    echo = {key: body[key] if body.get(key) is not None else default for key, default in ECHO_DEFAULTS.items()}
    echo["model"] = body.get("model")
    return echo


_HANDLERS: dict[type, str] = {
    TextDelta: "_on_text",
    RefusalDelta: "_on_refusal",
    ReasoningDelta: "_on_reasoning",
    ReasoningSignature: "_on_signature",
    RedactedReasoning: "_on_redacted",
    ToolCallStart: "_tool_start",
    ToolCallDelta: "_on_tool_delta",
    BlockEnd: "_on_block_end",
    Usage: "_on_usage",
    Finish: "_on_finish",
    StreamError: "_failed",
}


@dataclass(slots=True)
class _OpenItem:
    output_index: int
    item: Item
    parts: list[str] = field(default_factory=list)
    signature: str | None = None
    origin: str = "anthropic"
    part_type: str = "output_text"


class ResponsesEncoder:
    def __init__(
        self, request: CanonicalRequest, echo: dict[str, Any], ids: IdFactory, clock: Callable[[], int]
    ) -> None:
        self._echo = echo
        self._ids = ids
        self._clock = clock
        self._id = ids("resp_")
        self._created_at = clock()
        self._output: list[Item] = []
        self._open: dict[int, _OpenItem] = {}
        self._next_index = 0
        self._usage = Usage()
        self._status = "in_progress"
        self._error: dict[str, Any] | None = None
        self._incomplete: dict[str, Any] | None = None
        self._completed_at: int | None = None
        self._started = False
        self._ended = False

    @property
    def id(self) -> str:
        return self._id

    def feed(self, event: Event) -> list[Payload]:
        if self._ended:
            return []
        return self._start() + self._dispatch(event)

    def finish(self) -> list[Payload]:
        if self._ended:
            return []
        return self._start() + self._terminal("stop")

    def response(self) -> Payload:
        body: Payload = {
            "id": self._id,
            "object": "response",
            "created_at": self._created_at,
            "status": self._status,
            "error": self._error,
            "incomplete_details": self._incomplete,
            **self._echo,
            "output": list(self._output),
            "usage": None if self._status == "in_progress" else self._usage_body(),
            "completed_at": self._completed_at,
        }
        return body

    def output_items(self) -> list[Item]:
        return list(self._output)

    # -- dispatch --------------------------------------------------------------------------------------------------

    def _dispatch(self, event: Event) -> list[Payload]:
        handler = getattr(self, _HANDLERS.get(type(event), ""), None)
        return handler(event) if handler is not None else []

    def _on_text(self, event: TextDelta) -> list[Payload]:
        return self._text_delta(event.index, event.text, "output_text")

    def _on_refusal(self, event: RefusalDelta) -> list[Payload]:
        return self._text_delta(event.index, event.text, "refusal")

    def _on_reasoning(self, event: ReasoningDelta) -> list[Payload]:
        return self._reasoning_delta(event.index, event.text)

    def _on_signature(self, event: ReasoningSignature) -> list[Payload]:
        events = self._open_reasoning(event.index)
        opened = self._open[event.index]
        opened.signature, opened.origin = event.signature, event.origin
        return events

    def _on_redacted(self, event: RedactedReasoning) -> list[Payload]:
        opened = self._new_item(event.index, {"type": "reasoning", "summary": []})
        opened.signature, opened.origin = event.data, "redacted"
        return [self._added(opened), *self._close(event.index)]

    def _on_tool_delta(self, event: ToolCallDelta) -> list[Payload]:
        return self._tool_delta(event.index, event.arguments)

    def _on_block_end(self, event: BlockEnd) -> list[Payload]:
        return self._close(event.index)

    def _on_usage(self, event: Usage) -> list[Payload]:
        self._usage = event
        return []

    def _on_finish(self, event: Finish) -> list[Payload]:
        return self._terminal(event.reason)

    def _start(self) -> list[Payload]:
        if self._started:
            return []
        self._started = True
        snapshot = self.response()
        return [
            {"type": "response.created", "response": snapshot},
            {"type": "response.in_progress", "response": snapshot},
        ]

    # -- items -----------------------------------------------------------------------------------------------------

    def _new_item(self, index: int, body: Item) -> _OpenItem:
        prefix = {"message": "msg_", "function_call": "fc_", "reasoning": "rs_"}[body["type"]]
        opened = _OpenItem(self._next_index, {"id": self._ids(prefix), **body})
        self._next_index += 1
        self._open[index] = opened
        return opened

    def _added(self, opened: _OpenItem) -> Payload:
        return {"type": "response.output_item.added", "output_index": opened.output_index, "item": dict(opened.item)}

    def _ref(self, opened: _OpenItem) -> Payload:
        return {"item_id": opened.item["id"], "output_index": opened.output_index}

    def _text_delta(self, index: int, text: str, part_type: str) -> list[Payload]:
        events: list[Payload] = []
        opened = self._open.get(index)
        if opened is None:
            opened = self._new_item(
                index, {"type": "message", "status": "in_progress", "role": "assistant", "content": []}
            )
            part = (
                {"type": part_type, "text": "", "annotations": []}
                if part_type == "output_text"
                else {"type": "refusal", "refusal": ""}
            )
            opened.part_type = part_type
            events += [
                self._added(opened),
                {"type": "response.content_part.added", **self._ref(opened), "content_index": 0, "part": part},
            ]
        opened.parts.append(text)
        kind = "response.output_text.delta" if part_type == "output_text" else "response.refusal.delta"
        delta: Payload = {"type": kind, **self._ref(opened), "content_index": 0, "delta": text}
        if part_type == "output_text":
            delta["logprobs"] = []
        return [*events, delta]

    def _open_reasoning(self, index: int) -> list[Payload]:
        if index in self._open:
            return []
        return [self._added(self._new_item(index, {"type": "reasoning", "summary": []}))]

    def _reasoning_delta(self, index: int, text: str) -> list[Payload]:
        events = self._open_reasoning(index)
        opened = self._open[index]
        ref = {**self._ref(opened), "summary_index": 0}
        if not opened.parts:
            events.append(
                {"type": "response.reasoning_summary_part.added", **ref, "part": {"type": "summary_text", "text": ""}}
            )
        opened.parts.append(text)
        return [*events, {"type": "response.reasoning_summary_text.delta", **ref, "delta": text}]

    def _tool_start(self, event: ToolCallStart) -> list[Payload]:
        body = {
            "type": "function_call",
            "status": "in_progress",
            "call_id": event.call_id,
            "name": event.name,
            "arguments": "",
        }
        return [self._added(self._new_item(event.index, body))]

    def _tool_delta(self, index: int, arguments: str) -> list[Payload]:
        opened = self._open.get(index)
        if opened is None or not arguments:
            return []
        opened.parts.append(arguments)
        return [{"type": "response.function_call_arguments.delta", **self._ref(opened), "delta": arguments}]

    def _close(self, index: int) -> list[Payload]:
        opened = self._open.pop(index, None)
        if opened is None:
            return []
        closer = {"message": self._close_message, "function_call": self._close_call, "reasoning": self._close_reasoning}
        events, item = closer[opened.item["type"]](opened)
        self._output.append(item)
        return [*events, {"type": "response.output_item.done", "output_index": opened.output_index, "item": item}]

    def _close_message(self, opened: _OpenItem) -> tuple[list[Payload], Item]:
        text = "".join(opened.parts)
        ref = {**self._ref(opened), "content_index": 0}
        if opened.part_type == "output_text":
            part: Payload = {"type": "output_text", "text": text, "annotations": []}
            events = [{"type": "response.output_text.done", **ref, "text": text, "logprobs": []}]
        else:
            part = {"type": "refusal", "refusal": text}
            events = [{"type": "response.refusal.done", **ref, "refusal": text}]
        events.append({"type": "response.content_part.done", **ref, "part": part})
        return events, {**opened.item, "status": "completed", "content": [part]}

    def _close_call(self, opened: _OpenItem) -> tuple[list[Payload], Item]:
        arguments = "".join(opened.parts)
        events = [{"type": "response.function_call_arguments.done", **self._ref(opened), "arguments": arguments}]
        return events, {**opened.item, "status": "completed", "arguments": arguments}

    def _close_reasoning(self, opened: _OpenItem) -> tuple[list[Payload], Item]:
        text = "".join(opened.parts)
        events: list[Payload] = []
        summary = []
        if opened.parts:
            ref = {**self._ref(opened), "summary_index": 0}
            part = {"type": "summary_text", "text": text}
            events = [
                {"type": "response.reasoning_summary_text.done", **ref, "text": text},
                {"type": "response.reasoning_summary_part.done", **ref, "part": part},
            ]
            summary = [part]
        return events, {**opened.item, "summary": summary, "encrypted_content": self._encrypted(opened, text)}

    @staticmethod
    def _encrypted(opened: _OpenItem, text: str) -> str | None:
        if opened.signature is None:
            return None
        if opened.origin == "openai":
            return opened.signature
        if opened.origin == "redacted":
            return pack_anthropic_block({"type": "redacted_thinking", "data": opened.signature})
        return pack_anthropic_block({"type": "thinking", "thinking": text, "signature": opened.signature})

    # -- terminal --------------------------------------------------------------------------------------------------

    def _close_all(self) -> list[Payload]:
        events: list[Payload] = []
        for index in sorted(self._open, key=lambda i: self._open[i].output_index):
            events += self._close(index)
        return events

    def _terminal(self, reason: str) -> list[Payload]:
        events = self._close_all()
        self._ended = True
        self._completed_at = self._clock()
        if reason in ("length", "content_filter"):
            self._status = "incomplete"
            self._incomplete = {"reason": "max_output_tokens" if reason == "length" else "content_filter"}
            return [*events, {"type": "response.incomplete", "response": self.response()}]
        self._status = "completed"
        return [*events, {"type": "response.completed", "response": self.response()}]

    def interrupt(self, reason: str) -> None:
        """End the answer early without an event (the client is gone): status incomplete, partial items kept."""
        if self._ended:
            return
        self._ended = True
        self._status = "incomplete"
        self._incomplete = {"reason": reason}
        self._completed_at = self._clock()
        self._keep_partial_items()

    def _keep_partial_items(self) -> None:
        self._output += [self._partial(opened) for opened in self._open.values() if opened.item["type"] != "reasoning"]
        self._open.clear()

    def _failed(self, error: StreamError) -> list[Payload]:
        self._ended = True
        self._status = "failed"
        self._error = {"code": "server_error" if error.status >= 500 else error.type, "message": error.message}
        self._keep_partial_items()
        return [{"type": "response.failed", "response": self.response()}]

    @staticmethod
    def _partial(opened: _OpenItem) -> Item:
        """What an unfinished item had when the stream failed, kept with the failed response."""
        item = opened.item
        if item["type"] == "message":
            return {
                **item,
                "status": "incomplete",
                "content": [{"type": "output_text", "text": "".join(opened.parts), "annotations": []}],
            }
        return {**item, "status": "incomplete", "arguments": "".join(opened.parts)}

    def _usage_body(self) -> dict[str, Any]:
        usage = self._usage
        return {
            "input_tokens": usage.input_tokens,
            "input_tokens_details": {"cached_tokens": usage.cached_tokens},
            "output_tokens": usage.output_tokens,
            "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
            "total_tokens": usage.input_tokens + usage.output_tokens,
        }
