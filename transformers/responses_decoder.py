"""Native OpenAI Responses answers (SSE events or a whole response object) → canonical events.

Block index: ``output_index * 100 + content_index`` for message parts, ``output_index * 100`` for other items, so a
message's text and refusal parts stay distinct blocks.
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
    RefusalDelta,
    ResponseStart,
    StreamError,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)
from plano_proxy.transformers.sse import SSEMessage


def usage_from_responses(usage: dict[str, Any] | None) -> Usage:
    usage = usage or {}
    return Usage(
        input_tokens=usage.get("input_tokens") or 0,
        output_tokens=usage.get("output_tokens") or 0,
        cached_tokens=(usage.get("input_tokens_details") or {}).get("cached_tokens") or 0,
        reasoning_tokens=(usage.get("output_tokens_details") or {}).get("reasoning_tokens") or 0,
    )


def finish_reason(response: dict[str, Any]) -> FinishReason:
    if response.get("status") == "incomplete":
        reason = (response.get("incomplete_details") or {}).get("reason")
        return "content_filter" if reason == "content_filter" else "length"
    if any(item.get("type") == "function_call" for item in response.get("output") or []):
        return "tool_calls"
    return "stop"


def _item_events(index: int, item: dict[str, Any]) -> list[Event]:
    """The events of one finished output item, as a stream would have carried it."""
    kind = item.get("type")
    base = index * 100
    if kind == "function_call":
        events: list[Event] = [ToolCallStart(base, str(item.get("call_id", "")), str(item.get("name", "")))]
        if item.get("arguments"):
            events.append(ToolCallDelta(base, item["arguments"]))
        return [*events, BlockEnd(base)]
    if kind == "reasoning":
        text = "".join(part.get("text", "") for part in item.get("summary") or [])
        events = [ReasoningDelta(base, text)] if text else []
        if item.get("encrypted_content"):
            events.append(ReasoningSignature(base, item["encrypted_content"], "openai"))
        return [*events, BlockEnd(base)]
    if kind == "message":
        events = []
        for position, part in enumerate(item.get("content") or []):
            if part.get("type") == "output_text" and part.get("text"):
                events += [TextDelta(base + position, part["text"]), BlockEnd(base + position)]
            elif part.get("type") == "refusal" and part.get("refusal"):
                events += [RefusalDelta(base + position, part["refusal"]), BlockEnd(base + position)]
        return events
    return []


class ResponsesStreamDecoder:
    def __init__(self) -> None:
        self._finished = False
        self._started = False
        self._arguments_seen: set[int] = set()

    def feed(self, message: SSEMessage) -> list[Event]:
        if self._finished:
            return []
        try:
            payload = orjson.loads(message.data)
        except orjson.JSONDecodeError:
            if message.data.strip() == "[DONE]":
                return self.finish()
            return self._fail(502, "api_error", "The provider sent a malformed stream event.")
        if not isinstance(payload, dict):
            return []
        kind = str(payload.get("type", "")).removeprefix("response.").replace(".", "_")
        handler = getattr(self, f"_on_{kind}", None)
        return handler(payload) if handler is not None else []

    def finish(self) -> list[Event]:
        if self._finished:
            return []
        self._finished = True
        return [*([] if self._started else [ResponseStart("", "")]), Usage(), Finish("stop")]

    def _fail(self, status: int, type_: str, message: str) -> list[Event]:
        self._finished = True
        return [StreamError(status, type_, message)]

    def _on_created(self, payload: dict[str, Any]) -> list[Event]:
        response = payload.get("response") or {}
        self._started = True
        return [ResponseStart(str(response.get("id", "")), str(response.get("model", "")))]

    def _on_output_item_added(self, payload: dict[str, Any]) -> list[Event]:
        item = payload.get("item") or {}
        if item.get("type") != "function_call":
            return []
        return [
            ToolCallStart(
                int(payload.get("output_index", 0)) * 100, str(item.get("call_id", "")), str(item.get("name", ""))
            )
        ]

    def _on_output_text_delta(self, payload: dict[str, Any]) -> list[Event]:
        return [TextDelta(self._part_index(payload), str(payload.get("delta", "")))]

    def _on_refusal_delta(self, payload: dict[str, Any]) -> list[Event]:
        return [RefusalDelta(self._part_index(payload), str(payload.get("delta", "")))]

    def _on_content_part_done(self, payload: dict[str, Any]) -> list[Event]:
        return [BlockEnd(self._part_index(payload))]

    def _on_reasoning_summary_text_delta(self, payload: dict[str, Any]) -> list[Event]:
        return [ReasoningDelta(int(payload.get("output_index", 0)) * 100, str(payload.get("delta", "")))]

    def _on_function_call_arguments_delta(self, payload: dict[str, Any]) -> list[Event]:
        index = int(payload.get("output_index", 0)) * 100
        self._arguments_seen.add(index)
        return [ToolCallDelta(index, str(payload.get("delta", "")))]

    def _on_output_item_done(self, payload: dict[str, Any]) -> list[Event]:
        item = payload.get("item") or {}
        index = int(payload.get("output_index", 0)) * 100
        if item.get("type") == "reasoning":
            signature = (
                [ReasoningSignature(index, item["encrypted_content"], "openai")]
                if item.get("encrypted_content")
                else []
            )
            return [*signature, BlockEnd(index)]
        if item.get("type") == "function_call":
            missing = (
                []
                if index in self._arguments_seen or not item.get("arguments")
                else [ToolCallDelta(index, item["arguments"])]
            )
            return [*missing, BlockEnd(index)]
        return []

    def _on_completed(self, payload: dict[str, Any]) -> list[Event]:
        response = payload.get("response") or {}
        self._finished = True
        return [usage_from_responses(response.get("usage")), Finish(finish_reason(response))]

    _on_incomplete = _on_completed

    def _on_failed(self, payload: dict[str, Any]) -> list[Event]:
        error = (payload.get("response") or {}).get("error") or {}
        return self._fail(
            500, str(error.get("code") or "server_error"), str(error.get("message") or "The provider failed.")
        )

    def _on_error(self, payload: dict[str, Any]) -> list[Event]:
        code = str(payload.get("code") or "server_error")
        status = 429 if "rate_limit" in code else 500
        return self._fail(status, code, str(payload.get("message") or "The provider failed."))

    @staticmethod
    def _part_index(payload: dict[str, Any]) -> int:
        return int(payload.get("output_index", 0)) * 100 + int(payload.get("content_index", 0))


def responses_body_to_events(body: dict[str, Any]) -> list[Event]:
    events: list[Event] = [ResponseStart(str(body.get("id", "")), str(body.get("model", "")))]
    for index, item in enumerate(body.get("output") or []):
        events += _item_events(index, item)
    return [*events, usage_from_responses(body.get("usage")), Finish(finish_reason(body))]
