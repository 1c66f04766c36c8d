"""Canonical events → OpenAI Responses stream events for a Responses client, and the same answer as one object.

Events come in OpenAI's order: ``response.created``, ``response.in_progress``, then per output item ``added`` … part
and delta events … ``done``, then one terminal event (``response.completed``, ``response.incomplete`` or
``response.failed``). Payloads carry no ``sequence_number``: the gateway stamps it as each event leaves.

- Each canonical block becomes one output item: text → a ``message`` (``msg_``) with one ``output_text`` part, a
  refusal → a ``message`` with one ``refusal`` part, a tool call → a ``function_call`` (``fc_``, the upstream's
  ``call_id``), reasoning → a ``reasoning`` item (``rs_``) whose summary is the reasoning text and whose
  ``encrypted_content`` is OpenAI's own or, for Anthropic thinking, the block packed by `reasoning_codec`.
- The closing events of the most recent item are held until the next event shows whether the answer went on: when
  it stopped on ``max_output_tokens`` or a content filter, that last item is ``incomplete``, as OpenAI reports it.
- A mid-stream failure ends the stream with ``response.failed`` alone (``error: {code, message}``), which is what
  OpenAI sends when a model fails mid-answer; no ``error`` event precedes it, since the openai SDK would raise on the
  nested form before the client sees the failed response, and the flat form is not valid Open Responses.
- `response()` builds the object from the same state as the stream, so streaming and non-streaming cannot drift;
  `output_items()` gives the finished items in canonical form for the state store.
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
from plano_proxy.transformers.error_types import responses_code
from plano_proxy.transformers.ids import IdFactory
from plano_proxy.transformers.reasoning_codec import pack_anthropic_block
from plano_proxy.transformers.responses_object import usage_body

Payload = dict[str, Any]
_PREFIXES = {"message": "msg_", "function_call": "fc_", "reasoning": "rs_"}


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
        self._request = request
        self._namespaced = {tool.flat_name: tool for tool in request.tools if tool.namespace is not None}
        """Namespaced functions by the flat name providers without namespaces call them by."""
        self._echo = echo
        self._ids = ids
        self._clock = clock
        self._id = ids("resp_")
        self._created_at = clock()
        self._output: dict[int, Item] = {}
        """Finished items by output index (items may finish out of order when several are open at once)."""
        self._open: dict[int, _OpenItem] = {}
        self._held: _OpenItem | None = None
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
        events = self._start()
        if not isinstance(event, Usage | Finish | StreamError | BlockEnd):
            events += self._release("completed")
        handler = getattr(self, _HANDLERS.get(type(event), ""), None)
        return events + (handler(event) if handler is not None else [])

    def finish(self) -> list[Payload]:
        """The upstream ended without a finish reason: the answer is complete as it stands."""
        if self._ended:
            return []
        return self._start() + self._terminal("stop")

    def response(self) -> Payload:
        final = self._status not in ("in_progress", "queued")
        tier = self._echo.get("service_tier", "auto")
        body: Payload = {
            "id": self._id,
            "object": "response",
            "created_at": self._created_at,
            "status": self._status,
            "completed_at": self._completed_at,
            "error": self._error,
            "incomplete_details": self._incomplete,
            **self._echo,
            "service_tier": "default" if final and tier == "auto" else tier,
            "output": self._finished_items(),
            "usage": usage_body(self._usage) if final else None,
        }
        if body.get("conversation") is None:
            body.pop("conversation", None)  # OpenAI omits the key when the request used no conversation
        return body

    def output_items(self) -> list[Item]:
        """The finished output items in canonical form (output text parts without ``logprobs``)."""
        return [_canonical(item) for item in self._finished_items()]

    def _finished_items(self) -> list[Item]:
        return [self._output[index] for index in sorted(self._output)]

    # -- handlers --------------------------------------------------------------------------------------------------

    def _on_text(self, event: TextDelta) -> list[Payload]:
        return self._text_delta(event.index, event.text, "output_text")

    def _on_refusal(self, event: RefusalDelta) -> list[Payload]:
        return self._text_delta(event.index, event.text, "refusal")

    def _on_reasoning(self, event: ReasoningDelta) -> list[Payload]:
        events = self._open_reasoning(event.index)
        opened = self._open[event.index]
        ref = {**self._ref(opened), "summary_index": 0}
        if not opened.parts:
            events.append(
                {"type": "response.reasoning_summary_part.added", **ref, "part": {"type": "summary_text", "text": ""}}
            )
        opened.parts.append(event.text)
        return [*events, {"type": "response.reasoning_summary_text.delta", **ref, "delta": event.text}]

    def _on_signature(self, event: ReasoningSignature) -> list[Payload]:
        events = self._open_reasoning(event.index)
        opened = self._open[event.index]
        opened.signature, opened.origin = event.signature, event.origin
        return events

    def _on_redacted(self, event: RedactedReasoning) -> list[Payload]:
        events = self._open_reasoning(event.index)
        opened = self._open[event.index]
        opened.signature, opened.origin = event.data, "redacted"
        return events

    def _on_tool_start(self, event: ToolCallStart) -> list[Payload]:
        body = {"type": "function_call", "status": "in_progress", "call_id": event.call_id, "name": event.name}
        tool = self._namespaced.get(event.name)
        if tool is not None and tool.namespace is not None:
            body.update(name=tool.name, namespace=tool.namespace.name)
        events = self._close_open_content(event.index)
        return [*events, self._added(self._new_item(event.index, {**body, "arguments": ""}))]

    def _on_tool_delta(self, event: ToolCallDelta) -> list[Payload]:
        opened = self._open.get(event.index)
        if opened is None or opened.item["type"] != "function_call" or not event.arguments:
            return []
        opened.parts.append(event.arguments)
        return [{"type": "response.function_call_arguments.delta", **self._ref(opened), "delta": event.arguments}]

    def _on_block_end(self, event: BlockEnd) -> list[Payload]:
        opened = self._open.pop(event.index, None)
        if opened is None:
            return []
        events = self._release("completed")
        self._held = opened
        return events

    def _on_usage(self, event: Usage) -> list[Payload]:
        self._usage = event
        return []

    def _on_finish(self, event: Finish) -> list[Payload]:
        return self._terminal(event.reason)

    def _on_error(self, error: StreamError) -> list[Payload]:
        events = self._release("completed")
        self._ended = True
        self._status = "failed"
        self._error = {"code": responses_code(error.status, error.type, error.code), "message": error.message}
        self._keep_partial_items()
        return [*events, {"type": "response.failed", "response": self.response()}]

    # -- items -----------------------------------------------------------------------------------------------------

    def _start(self) -> list[Payload]:
        if self._started:
            return []
        self._started = True
        snapshot = self.response()
        return [
            {"type": "response.created", "response": snapshot},
            {"type": "response.in_progress", "response": snapshot},
        ]

    def _new_item(self, index: int, body: Item) -> _OpenItem:
        opened = _OpenItem(self._next_index, {"id": self._ids(_PREFIXES[body["type"]]), **body})
        self._next_index += 1
        self._open[index] = opened
        return opened

    @staticmethod
    def _added(opened: _OpenItem) -> Payload:
        return {"type": "response.output_item.added", "output_index": opened.output_index, "item": dict(opened.item)}

    @staticmethod
    def _ref(opened: _OpenItem) -> Payload:
        return {"item_id": opened.item["id"], "output_index": opened.output_index}

    def _text_delta(self, index: int, text: str, part_type: str) -> list[Payload]:
        events: list[Payload] = []
        opened = self._open.get(index)
        if opened is None:
            events += self._close_open_content(index)
            opened = self._new_item(
                index, {"type": "message", "status": "in_progress", "role": "assistant", "content": []}
            )
            opened.part_type = part_type
            events += [
                self._added(opened),
                {"type": "response.content_part.added", **self._ref(opened), "content_index": 0, "part": _part(opened)},
            ]
        opened.parts.append(text)
        if part_type == "output_text":
            delta: Payload = {"type": "response.output_text.delta", "content_index": 0, "delta": text, "logprobs": []}
        else:
            delta = {"type": "response.refusal.delta", "content_index": 0, "delta": text}
        return [*events, {**delta, **self._ref(opened)}]

    def _open_reasoning(self, index: int) -> list[Payload]:
        if index in self._open:
            return []
        events = self._close_open_content(index)
        return [*events, self._added(self._new_item(index, {"type": "reasoning", "summary": []}))]

    def _close_open_content(self, opening: int) -> list[Payload]:
        """Close open messages and reasoning before another item opens, as Responses streams never interleave them.

        Chat Completions upstreams leave their text open until the end, even after a tool call has started; function
        calls stay open, since parallel calls' arguments may still arrive.
        """
        events: list[Payload] = []
        for index, opened in sorted(self._open.items(), key=lambda pair: pair[1].output_index):
            if index != opening and opened.item["type"] != "function_call":
                del self._open[index]
                events += self._close(opened, "completed")
        return events

    # -- closing ---------------------------------------------------------------------------------------------------

    def _release(self, status: str) -> list[Payload]:
        """Send the closing events of the held item, now that its final status is known."""
        held, self._held = self._held, None
        return [] if held is None else self._close(held, status)

    def _close(self, opened: _OpenItem, status: str) -> list[Payload]:
        closer = {"message": self._close_message, "function_call": self._close_call, "reasoning": self._close_reasoning}
        events, item = closer[opened.item["type"]](opened, status)
        self._output[opened.output_index] = item
        return [*events, {"type": "response.output_item.done", "output_index": opened.output_index, "item": item}]

    def _close_message(self, opened: _OpenItem, status: str) -> tuple[list[Payload], Item]:
        text = "".join(opened.parts)
        ref = {**self._ref(opened), "content_index": 0}
        part = _part(opened, text)
        if opened.part_type == "output_text":
            done: Payload = {"type": "response.output_text.done", **ref, "text": text, "logprobs": []}
        else:
            done = {"type": "response.refusal.done", **ref, "refusal": text}
        events = [done, {"type": "response.content_part.done", **ref, "part": part}]
        return events, {**opened.item, "status": status, "content": [part]}

    def _close_call(self, opened: _OpenItem, status: str) -> tuple[list[Payload], Item]:
        events: list[Payload] = []
        if not opened.parts and status == "completed":
            # A call without arguments still carries a JSON object, as OpenAI's calls always do.
            opened.parts.append("{}")
            events.append({"type": "response.function_call_arguments.delta", **self._ref(opened), "delta": "{}"})
        arguments = "".join(opened.parts)
        name = opened.item["name"]
        events.append(
            {"type": "response.function_call_arguments.done", **self._ref(opened), "name": name, "arguments": arguments}
        )
        return events, {**opened.item, "status": status, "arguments": arguments}

    def _close_reasoning(self, opened: _OpenItem, status: str) -> tuple[list[Payload], Item]:
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
        return events, {**opened.item, "summary": summary, "encrypted_content": _encrypted(opened, text)}

    # -- terminal --------------------------------------------------------------------------------------------------

    def _terminal(self, reason: str) -> list[Payload]:
        cut = reason in ("length", "content_filter")
        events = self._release("incomplete" if cut and not self._open else "completed")
        for opened in sorted(self._open.values(), key=lambda o: o.output_index):
            events += self._close(opened, "incomplete" if cut else "completed")
        self._open.clear()
        self._ended = True
        if cut:
            self._status = "incomplete"
            self._incomplete = {"reason": "max_output_tokens" if reason == "length" else "content_filter"}
            return [*events, {"type": "response.incomplete", "response": self.response()}]
        self._status = "completed"
        self._completed_at = self._clock()
        return [*events, {"type": "response.completed", "response": self.response()}]

    def interrupt(self, reason: str) -> None:
        """End the answer early without an event (the client is gone): status incomplete, partial items kept."""
        if self._ended:
            return
        self._release("completed")
        self._ended = True
        self._status = "incomplete"
        self._incomplete = {"reason": reason}
        self._keep_partial_items()

    def cancel(self) -> list[Payload]:
        """End the answer early because it was cancelled: partial items kept. Returns the events that close what was
        open; no terminal event follows (the Responses API has none for a cancel: the stream just ends)."""
        if self._ended:
            return []
        events = self._release("completed")
        self._ended = True
        self._status = "cancelled"
        return events + self._keep_partial_items()

    def _keep_partial_items(self) -> list[Payload]:
        """Unfinished items as they stood, marked incomplete (reasoning without its signature cannot be replayed);
        returns the events that close them."""
        events = []
        for opened in sorted(self._open.values(), key=lambda o: o.output_index):
            if opened.item["type"] != "reasoning":
                events += self._close(opened, "incomplete")
        self._open.clear()
        return events


_HANDLERS: dict[type, str] = {
    TextDelta: "_on_text",
    RefusalDelta: "_on_refusal",
    ReasoningDelta: "_on_reasoning",
    ReasoningSignature: "_on_signature",
    RedactedReasoning: "_on_redacted",
    ToolCallStart: "_on_tool_start",
    ToolCallDelta: "_on_tool_delta",
    BlockEnd: "_on_block_end",
    Usage: "_on_usage",
    Finish: "_on_finish",
    StreamError: "_on_error",
}


def _part(opened: _OpenItem, text: str = "") -> Payload:
    if opened.part_type == "output_text":
        return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    return {"type": "refusal", "refusal": text}


def _encrypted(opened: _OpenItem, text: str) -> str | None:
    if opened.signature is None:
        return None
    if opened.origin == "openai":
        return opened.signature
    if opened.origin == "redacted":
        return pack_anthropic_block({"type": "redacted_thinking", "data": opened.signature})
    return pack_anthropic_block({"type": "thinking", "thinking": text, "signature": opened.signature})


def _canonical(item: Item) -> Item:
    if item["type"] != "message":
        return item
    content = [{k: v for k, v in part.items() if k != "logprobs"} for part in item["content"]]
    return {**item, "content": content}
