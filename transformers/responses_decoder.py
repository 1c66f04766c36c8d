"""Native OpenAI Responses answers (SSE events or a whole response object) → canonical events.

Block index: ``output_index * 100 + content_index`` for message parts, ``output_index * 100`` for other items, so a
message's text and refusal parts stay distinct blocks. Summary parts of one reasoning item form one reasoning block,
joined by a blank line. A reasoning item's ``encrypted_content`` is taken from ``output_item.done`` (the ``added`` one
may be incomplete) and emitted as a ``ReasoningSignature`` just before its ``BlockEnd``. Items whose events were
skipped upstream (only ``output_item.done`` sent) are rebuilt from the finished item, so nothing is lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from plano_proxy.transformers.canonical import (
    BlockEnd,
    Event,
    Finish,
    FinishReason,
    ReasoningDelta,
    ReasoningSignature,
    RefusalDelta,
    ResponseStart,
    StreamError,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
    flat_tool_name,
)
from plano_proxy.transformers.error_types import MALFORMED_EVENT, STREAM_CUT, provider_stream_error
from plano_proxy.transformers.sse import SSEMessage

SUMMARY_SEPARATOR = "\n\n"


def usage_from_responses(usage: dict[str, Any] | None) -> Usage:
    usage = usage or {}
    input_details = usage.get("input_tokens_details") or {}
    return Usage(
        input_tokens=usage.get("input_tokens") or 0,
        output_tokens=usage.get("output_tokens") or 0,
        cached_tokens=input_details.get("cached_tokens") or 0,
        cache_creation_tokens=input_details.get("cache_write_tokens") or 0,
        reasoning_tokens=(usage.get("output_tokens_details") or {}).get("reasoning_tokens") or 0,
    )


def finish_reason(response: dict[str, Any], *, saw_call: bool = False) -> FinishReason:
    if response.get("status") == "incomplete":
        reason = (response.get("incomplete_details") or {}).get("reason")
        return "content_filter" if reason == "content_filter" else "length"
    if saw_call or any(item.get("type") == "function_call" for item in response.get("output") or []):
        return "tool_calls"
    return "stop"


@dataclass(slots=True)
class _State:
    """What the decoder has passed on so far."""

    started: bool = False
    finished: bool = False
    saw_call: bool = False
    open: set[int] = field(default_factory=set)
    """Blocks with a start or delta emitted and no end yet."""
    seen: set[int] = field(default_factory=set)
    """Every block that had a start or delta (so a finished item is not emitted twice)."""
    summary_index: dict[int, int] = field(default_factory=dict)
    arguments: set[int] = field(default_factory=set)


class ResponsesStreamDecoder:
    def __init__(self) -> None:
        self._state = _State()

    def feed(self, message: SSEMessage) -> list[Event]:
        if self._state.finished:
            return []
        try:
            payload = orjson.loads(message.data)
        except orjson.JSONDecodeError:
            if message.data.strip() == "[DONE]":
                return self.finish()
            return self._fail(MALFORMED_EVENT)
        return self.feed_payload(payload) if isinstance(payload, dict) else []

    def feed_payload(self, payload: dict[str, Any]) -> list[Event]:
        """One already parsed stream event."""
        if self._state.finished:
            return []
        kind = str(payload.get("type", "")).removeprefix("response.").replace(".", "_")
        handler = getattr(self, f"_on_{kind}", None)
        return handler(payload) if handler is not None else []

    def finish(self) -> list[Event]:
        """The upstream closed the stream: without a terminal event the answer is cut short, which is an error."""
        state = self._state
        if state.finished:
            return []
        start: list[Event] = [] if state.started else [ResponseStart("", "")]
        return [*start, *self._fail(STREAM_CUT)]

    # -- helpers ---------------------------------------------------------------------------------------------------

    def _fail(self, error: StreamError) -> list[Event]:
        self._state.finished = True
        return [error]

    def _touch(self, index: int, event: Event) -> list[Event]:
        self._state.open.add(index)
        self._state.seen.add(index)
        return [event]

    def _end(self, index: int) -> list[Event]:
        if index not in self._state.open:
            return []
        self._state.open.discard(index)
        return [BlockEnd(index)]

    def _close_all(self) -> list[Event]:
        return [event for index in sorted(self._state.open) for event in self._end(index)]

    @staticmethod
    def _item_index(payload: dict[str, Any]) -> int:
        return int(payload.get("output_index") or 0) * 100

    @classmethod
    def _part_index(cls, payload: dict[str, Any]) -> int:
        return cls._item_index(payload) + int(payload.get("content_index") or 0)

    # -- handlers --------------------------------------------------------------------------------------------------

    def _on_created(self, payload: dict[str, Any]) -> list[Event]:
        if self._state.started:
            return []
        response = payload.get("response") or {}
        self._state.started = True
        return [ResponseStart(str(response.get("id", "")), str(response.get("model", "")))]

    def _on_output_item_added(self, payload: dict[str, Any]) -> list[Event]:
        item = payload.get("item") or {}
        if item.get("type") != "function_call":
            return []
        self._state.saw_call = True
        index = self._item_index(payload)
        return self._touch(index, _call_start(index, item))

    def _on_output_text_delta(self, payload: dict[str, Any]) -> list[Event]:
        index = self._part_index(payload)
        return self._touch(index, TextDelta(index, str(payload.get("delta", ""))))

    def _on_refusal_delta(self, payload: dict[str, Any]) -> list[Event]:
        index = self._part_index(payload)
        return self._touch(index, RefusalDelta(index, str(payload.get("delta", ""))))

    def _on_content_part_done(self, payload: dict[str, Any]) -> list[Event]:
        part = payload.get("part") or {}
        if part.get("type") == "reasoning_text":
            return []  # raw reasoning is one block per reasoning item, ended with the item
        return self._end(self._part_index(payload))

    def _on_reasoning_summary_text_delta(self, payload: dict[str, Any]) -> list[Event]:
        index = self._item_index(payload)
        summary_index = int(payload.get("summary_index") or 0)
        previous = self._state.summary_index.setdefault(index, summary_index)
        text = str(payload.get("delta", ""))
        if summary_index != previous:
            self._state.summary_index[index] = summary_index
            text = SUMMARY_SEPARATOR + text
        return self._touch(index, ReasoningDelta(index, text))

    def _on_reasoning_text_delta(self, payload: dict[str, Any]) -> list[Event]:
        index = self._item_index(payload)
        return self._touch(index, ReasoningDelta(index, str(payload.get("delta", ""))))

    def _on_function_call_arguments_delta(self, payload: dict[str, Any]) -> list[Event]:
        index = self._item_index(payload)
        self._state.arguments.add(index)
        return self._touch(index, ToolCallDelta(index, str(payload.get("delta", ""))))

    def _on_output_item_done(self, payload: dict[str, Any]) -> list[Event]:
        item = payload.get("item") or {}
        index = self._item_index(payload)
        kind = item.get("type")
        if kind == "function_call":
            return self._call_done(index, item)
        if kind == "reasoning":
            return self._reasoning_done(index, item)
        if kind == "message":
            return self._message_done(index, item)
        return []

    def _call_done(self, index: int, item: dict[str, Any]) -> list[Event]:
        self._state.saw_call = True
        events: list[Event] = []
        if index not in self._state.seen:
            events += self._touch(index, _call_start(index, item))
        if index not in self._state.arguments and item.get("arguments"):
            events.append(ToolCallDelta(index, str(item["arguments"])))
        return events + self._end(index)

    def _reasoning_done(self, index: int, item: dict[str, Any]) -> list[Event]:
        events: list[Event] = []
        if index not in self._state.seen:
            text = SUMMARY_SEPARATOR.join(str(part.get("text", "")) for part in item.get("summary") or [])
            if text:
                events += self._touch(index, ReasoningDelta(index, text))
        if item.get("encrypted_content"):
            self._state.open.add(index)
            events.append(ReasoningSignature(index, str(item["encrypted_content"]), "openai"))
        return events + self._end(index)

    def _message_done(self, index: int, item: dict[str, Any]) -> list[Event]:
        events: list[Event] = []
        for position, part in enumerate(item.get("content") or []):
            part_index = index + position
            if part_index not in self._state.seen:
                events += _part_events(part_index, part)
            else:
                events += self._end(part_index)
        return events

    def _on_completed(self, payload: dict[str, Any]) -> list[Event]:
        response = payload.get("response") or {}
        events = self._close_all()
        self._state.finished = True
        reason = finish_reason(response, saw_call=self._state.saw_call)
        return [*events, usage_from_responses(response.get("usage")), Finish(reason)]

    _on_incomplete = _on_completed

    def _on_failed(self, payload: dict[str, Any]) -> list[Event]:
        error = (payload.get("response") or {}).get("error") or {}
        return self._fail(provider_stream_error(None, error.get("code"), error.get("message")))

    def _on_error(self, payload: dict[str, Any]) -> list[Event]:
        """OpenAI's flat ``error`` event, or the nested ``{"error": {...}}`` form some servers send."""
        nested = payload.get("error")
        if isinstance(nested, dict):
            return self._fail(provider_stream_error(nested.get("type"), nested.get("code"), nested.get("message")))
        # The flat event's own type is "error": only its code names the failure.
        return self._fail(provider_stream_error(None, payload.get("code"), payload.get("message")))


def _part_events(index: int, part: dict[str, Any]) -> list[Event]:
    if part.get("type") == "output_text" and part.get("text"):
        return [TextDelta(index, str(part["text"])), BlockEnd(index)]
    if part.get("type") == "refusal" and part.get("refusal"):
        return [RefusalDelta(index, str(part["refusal"])), BlockEnd(index)]
    return []


def responses_body_to_events(body: dict[str, Any]) -> list[Event]:
    """The events a stream would have carried for this non-streaming response object."""
    decoder = ResponsesStreamDecoder()
    events = decoder.feed_payload({"type": "response.created", "response": body})
    for output_index, item in enumerate(body.get("output") or []):
        events += decoder.feed_payload(
            {"type": "response.output_item.done", "output_index": output_index, "item": item}
        )
    terminal = "response.failed" if body.get("status") == "failed" else "response.completed"
    return events + decoder.feed_payload({"type": terminal, "response": body}) + decoder.finish()


def _call_start(index: int, item: dict[str, Any]) -> ToolCallStart:
    """A function call, named by its flat name when OpenAI called it inside a namespace tool (see `flat_tool_name`):
    the client's encoder splits it again, whatever the provider."""
    namespace = item.get("namespace")
    name = flat_tool_name(str(item.get("name", "")), namespace if isinstance(namespace, str) else None)
    return ToolCallStart(index, str(item.get("call_id", "")), name)
