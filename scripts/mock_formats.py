"""The mock upstream's answer, written in each provider's wire format (whole body and SSE stream)."""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson


@dataclass(frozen=True, slots=True)
class Block:
    kind: str
    """``reasoning``, ``text`` or ``tool_call``."""
    text: str = ""
    """The text, or a tool call's JSON arguments."""
    call_id: str = ""
    name: str = ""
    namespace: str = ""
    """The Responses ``namespace`` tool the called function belongs to, if any."""


@dataclass(frozen=True, slots=True)
class Plan:
    blocks: list[Block]
    finish: str
    """``stop``, ``length`` or ``tool_calls``."""
    input_tokens: int
    output_tokens: int


_ids = itertools.count(1)


def new_id(prefix: str) -> str:
    return f"{prefix}mock{next(_ids):06d}"


def deltas(text: str) -> list[str]:
    """The text in word-sized pieces that join back to it."""
    words = text.split(" ")
    return [word + (" " if i < len(words) - 1 else "") for i, word in enumerate(words)]


def pieces(arguments: str) -> list[str]:
    third = max(1, len(arguments) // 3)
    return [arguments[i : i + third] for i in range(0, len(arguments), third)] or [""]


def signature(text: str) -> str:
    return "mocksig-" + hashlib.sha256(text.encode()).hexdigest()[:32]


def data_line(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def named(payload: dict[str, Any]) -> bytes:
    return b"event: " + payload["type"].encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


# ---------------------------------------------------------------------------------------------------------------


class _Chat:
    HEADERS: ClassVar[dict[str, str]] = {"x-request-id": "req_mock_chat", "openai-processing-ms": "1"}
    _FINISH: ClassVar[dict[str, str]] = {"stop": "stop", "length": "length", "tool_calls": "tool_calls"}

    def whole_body(self, plan: Plan, body: dict[str, Any]) -> dict[str, Any]:
        text = "".join(b.text for b in plan.blocks if b.kind == "text")
        reasoning = "".join(b.text for b in plan.blocks if b.kind == "reasoning")
        message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
        calls = [self._call(b) for b in plan.blocks if b.kind == "tool_call"]
        if calls:
            message["tool_calls"] = calls
        if reasoning:
            message["reasoning_content"] = reasoning
        choice = {"message": message, "logprobs": None, "finish_reason": self._FINISH[plan.finish]}
        return {
            "id": new_id("chatcmpl-"),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model"),
            "choices": [{"index": index, **choice} for index in range(self._choices(body))],
            "usage": self._usage(plan, body),
            "system_fingerprint": None,
        }

    def stream_events(self, plan: Plan, body: dict[str, Any]) -> list[bytes]:
        """As OpenAI streams: each choice's chunks in turn; with include_usage, ``"usage": null`` on every chunk and
        then one chunk with no choices and the usage."""
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        null_usage = {"usage": None} if include_usage else {}
        base = {
            "id": new_id("chatcmpl-"),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model"),
            "system_fingerprint": None,
        }
        events = [
            data_line({**base, "choices": [choice], **null_usage})
            for index in range(self._choices(body))
            for choice in self._choice_chunks(plan, index)
        ]
        if include_usage:
            events.append(data_line({**base, "choices": [], "usage": self._usage(plan, body)}))
        return [*events, b"data: [DONE]\n\n"]

    def _choice_chunks(self, plan: Plan, index: int) -> list[dict[str, Any]]:
        def choice(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}

        chunks = [choice({"role": "assistant", "content": "", "refusal": None})]
        tool_index = 0
        for block in plan.blocks:
            if block.kind == "reasoning":
                chunks += [choice({"reasoning_content": piece}) for piece in deltas(block.text)]
            elif block.kind == "text":
                chunks += [choice({"content": piece}) for piece in deltas(block.text)]
            else:
                start = {
                    "index": tool_index,
                    "id": block.call_id,
                    "type": "function",
                    "function": {"name": block.name, "arguments": ""},
                }
                chunks.append(choice({"tool_calls": [start]}))
                chunks += [
                    choice({"tool_calls": [{"index": tool_index, "function": {"arguments": piece}}]})
                    for piece in pieces(block.text)
                ]
                tool_index += 1
        return [*chunks, choice({}, self._FINISH[plan.finish])]

    @staticmethod
    def _choices(body: dict[str, Any]) -> int:
        n = body.get("n")
        return n if isinstance(n, int) and n > 1 else 1

    def error_event(self, sequence_number: int) -> bytes:
        return data_line(
            {
                "error": {
                    "message": "The server had an error while processing your request.",
                    "type": "server_error",
                    "param": None,
                    "code": None,
                }
            }
        )

    @staticmethod
    def _call(block: Block) -> dict[str, Any]:
        return {"id": block.call_id, "type": "function", "function": {"name": block.name, "arguments": block.text}}

    def _usage(self, plan: Plan, body: dict[str, Any]) -> dict[str, Any]:
        """Completion tokens count every choice's, as OpenAI's do."""
        choices = self._choices(body)
        reasoning = sum(len(b.text.split()) for b in plan.blocks if b.kind == "reasoning") * choices
        return {
            "prompt_tokens": plan.input_tokens,
            "completion_tokens": plan.output_tokens * choices,
            "total_tokens": plan.input_tokens + plan.output_tokens * choices,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0},
        }


# ---------------------------------------------------------------------------------------------------------------


class _Anthropic:
    HEADERS: ClassVar[dict[str, str]] = {"request-id": "req_mock_anthropic"}
    _STOP: ClassVar[dict[str, str]] = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}

    def whole_body(self, plan: Plan, body: dict[str, Any]) -> dict[str, Any]:
        return {
            **self._message(plan, body),
            "content": [self._block(b) for b in plan.blocks],
            "stop_reason": self._STOP[plan.finish],
            "usage": self._usage(plan, plan.output_tokens),
        }

    def stream_events(self, plan: Plan, body: dict[str, Any]) -> list[bytes]:
        start = {**self._message(plan, body), "content": [], "stop_reason": None, "usage": self._usage(plan, 1)}
        events = [named({"type": "message_start", "message": start}), named({"type": "ping"})]
        for index, block in enumerate(plan.blocks):
            events += self._block_events(index, block)
        events.append(
            named(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": self._STOP[plan.finish], "stop_sequence": None},
                    "usage": {"output_tokens": plan.output_tokens},
                }
            )
        )
        events.append(named({"type": "message_stop"}))
        return events

    def error_event(self, sequence_number: int) -> bytes:
        return named({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})

    def _block_events(self, index: int, block: Block) -> list[bytes]:
        def delta(payload: dict[str, Any]) -> bytes:
            return named({"type": "content_block_delta", "index": index, "delta": payload})

        if block.kind == "reasoning":
            opened = {"type": "thinking", "thinking": "", "signature": ""}
            body = [delta({"type": "thinking_delta", "thinking": p}) for p in deltas(block.text)]
            body.append(delta({"type": "signature_delta", "signature": signature(block.text)}))
        elif block.kind == "text":
            opened = {"type": "text", "text": ""}
            body = [delta({"type": "text_delta", "text": p}) for p in deltas(block.text)]
        else:
            opened = {"type": "tool_use", "id": self._tool_id(block), "name": block.name, "input": {}}
            body = [delta({"type": "input_json_delta", "partial_json": p}) for p in pieces(block.text)]
        return [
            named({"type": "content_block_start", "index": index, "content_block": opened}),
            *body,
            named({"type": "content_block_stop", "index": index}),
        ]

    def _block(self, block: Block) -> dict[str, Any]:
        if block.kind == "reasoning":
            return {"type": "thinking", "thinking": block.text, "signature": signature(block.text)}
        if block.kind == "text":
            return {"type": "text", "text": block.text}
        return {"type": "tool_use", "id": self._tool_id(block), "name": block.name, "input": json.loads(block.text)}

    @staticmethod
    def _tool_id(block: Block) -> str:
        return "toolu_" + block.call_id.removeprefix("call_")

    @staticmethod
    def _message(plan: Plan, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": new_id("msg_"),
            "type": "message",
            "role": "assistant",
            "model": body.get("model"),
            "stop_sequence": None,
        }

    @staticmethod
    def _usage(plan: Plan, output_tokens: int) -> dict[str, Any]:
        return {
            "input_tokens": plan.input_tokens,
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        }


# ---------------------------------------------------------------------------------------------------------------


class _Responses:
    HEADERS: ClassVar[dict[str, str]] = {"x-request-id": "req_mock_responses"}

    def whole_body(self, plan: Plan, body: dict[str, Any]) -> dict[str, Any]:
        return self._response(
            plan, body, new_id("resp_"), [self._item(b, new_id(self._prefix(b))) for b in plan.blocks]
        )

    def stream_events(self, plan: Plan, body: dict[str, Any]) -> list[bytes]:
        response_id = new_id("resp_")
        opening = {
            **self._response(plan, body, response_id, []),
            "status": "in_progress",
            "usage": None,
            "incomplete_details": None,
        }
        payloads: list[dict[str, Any]] = [
            {"type": "response.created", "response": opening},
            {"type": "response.in_progress", "response": opening},
        ]
        output = []
        for index, block in enumerate(plan.blocks):
            item = self._item(block, new_id(self._prefix(block)))
            payloads += self._item_events(index, block, item)
            output.append(item)
        final = self._response(plan, body, response_id, output)
        terminal = "response.completed" if final["status"] == "completed" else "response.incomplete"
        payloads.append({"type": terminal, "response": final})
        return [named({**p, "sequence_number": n}) for n, p in enumerate(payloads)]

    def error_event(self, sequence_number: int) -> bytes:
        """OpenAI's in-stream failure: an ``error`` event (the Responses stream then simply ends)."""
        return named(
            {
                "type": "error",
                "code": "server_error",
                "message": "The server had an error.",
                "param": None,
                "sequence_number": sequence_number,
            }
        )

    def _item_events(self, index: int, block: Block, item: dict[str, Any]) -> list[dict[str, Any]]:
        ref = {"item_id": item["id"], "output_index": index}
        if block.kind == "text":
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            return [
                {
                    "type": "response.output_item.added",
                    "output_index": index,
                    "item": {**item, "status": "in_progress", "content": []},
                },
                {"type": "response.content_part.added", **ref, "content_index": 0, "part": part},
                *(
                    {"type": "response.output_text.delta", **ref, "content_index": 0, "delta": p, "logprobs": []}
                    for p in deltas(block.text)
                ),
                {"type": "response.output_text.done", **ref, "content_index": 0, "text": block.text, "logprobs": []},
                {"type": "response.content_part.done", **ref, "content_index": 0, "part": item["content"][0]},
                {"type": "response.output_item.done", "output_index": index, "item": item},
            ]
        if block.kind == "tool_call":
            return [
                {
                    "type": "response.output_item.added",
                    "output_index": index,
                    "item": {**item, "status": "in_progress", "arguments": ""},
                },
                *({"type": "response.function_call_arguments.delta", **ref, "delta": p} for p in pieces(block.text)),
                {"type": "response.function_call_arguments.done", **ref, "arguments": block.text},
                {"type": "response.output_item.done", "output_index": index, "item": item},
            ]
        summary_ref = {**ref, "summary_index": 0}
        return [
            {
                "type": "response.output_item.added",
                "output_index": index,
                "item": {**item, "summary": [], "encrypted_content": None},
            },
            {
                "type": "response.reasoning_summary_part.added",
                **summary_ref,
                "part": {"type": "summary_text", "text": ""},
            },
            *({"type": "response.reasoning_summary_text.delta", **summary_ref, "delta": p} for p in deltas(block.text)),
            {"type": "response.reasoning_summary_text.done", **summary_ref, "text": block.text},
            {"type": "response.reasoning_summary_part.done", **summary_ref, "part": item["summary"][0]},
            {"type": "response.output_item.done", "output_index": index, "item": item},
        ]

    @staticmethod
    def _prefix(block: Block) -> str:
        return {"reasoning": "rs_", "text": "msg_", "tool_call": "fc_"}[block.kind]

    @staticmethod
    def _item(block: Block, item_id: str) -> dict[str, Any]:
        if block.kind == "reasoning":
            return {
                "id": item_id,
                "type": "reasoning",
                "summary": [{"type": "summary_text", "text": block.text}],
                "encrypted_content": "mockenc-" + signature(block.text),
            }
        if block.kind == "text":
            return {
                "id": item_id,
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": block.text, "annotations": [], "logprobs": []}],
            }
        return {
            "id": item_id,
            "type": "function_call",
            "status": "completed",
            "call_id": block.call_id,
            "name": block.name,
            **({"namespace": block.namespace} if block.namespace else {}),
            "arguments": block.text,
        }

    @staticmethod
    def _response(plan: Plan, body: dict[str, Any], response_id: str, output: list[dict[str, Any]]) -> dict[str, Any]:
        incomplete = plan.finish == "length"
        reasoning = sum(len(b.text.split()) for b in plan.blocks if b.kind == "reasoning")
        now = int(time.time())
        return {
            "id": response_id,
            "object": "response",
            "created_at": now,
            "completed_at": None if incomplete else now,
            "status": "incomplete" if incomplete else "completed",
            "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
            "model": body.get("model"),
            "instructions": body.get("instructions"),
            "output": output,
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "tools": body.get("tools") or [],
            "tool_choice": body.get("tool_choice", "auto"),
            "temperature": body.get("temperature", 1.0),
            "top_p": body.get("top_p", 1.0),
            "max_output_tokens": body.get("max_output_tokens"),
            "previous_response_id": None,
            "store": body.get("store", True),
            "text": body.get("text") or {"format": {"type": "text"}},
            "reasoning": body.get("reasoning") or {"effort": None, "summary": None},
            "truncation": body.get("truncation", "disabled"),
            "metadata": body.get("metadata") or {},
            "usage": {
                "input_tokens": plan.input_tokens,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": plan.output_tokens,
                "output_tokens_details": {"reasoning_tokens": reasoning},
                "total_tokens": plan.input_tokens + plan.output_tokens,
            },
        }


chat_format = _Chat()
anthropic_format = _Anthropic()
responses_format = _Responses()
