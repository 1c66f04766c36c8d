"""The Anthropic encoder streams one content block at a time, whatever order the canonical events come in."""

from __future__ import annotations

from typing import Any

import orjson
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message, RawMessageStreamEvent
from pydantic import TypeAdapter

from plano_proxy.transformers.anthropic_encoder import AnthropicEncoder
from plano_proxy.transformers.canonical import (
    BlockEnd,
    Event,
    Finish,
    ResponseStart,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)
from plano_proxy.transformers.ids import SequentialIds

STREAM_EVENT: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)


def encode(events: list[Event]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    encoder = AnthropicEncoder(model="gpt-4o-mini", ids=SequentialIds())
    payloads = [payload for event in events for payload in encoder.feed(event)] + encoder.finish()
    return payloads, encoder.message()


def test_interleaved_parallel_tool_arguments_are_all_kept() -> None:
    """A Chat Completions provider may interleave two calls' argument pieces: the second call is held back and sent
    whole after the first, blocks never overlap, and both inputs arrive complete (as the SDK accumulates them)."""
    events: list[Event] = [
        ResponseStart("chatcmpl-1", "gpt-4o-mini"),
        TextDelta(1, "Checking both."),
        ToolCallStart(10, "call_a", "get_weather"),
        ToolCallDelta(10, '{"city": '),
        ToolCallStart(11, "call_b", "get_time"),
        ToolCallDelta(11, '{"zone": '),
        ToolCallDelta(10, '"Paris"}'),
        ToolCallDelta(11, '"CET"}'),
        BlockEnd(1),
        BlockEnd(10),
        BlockEnd(11),
        Usage(input_tokens=5, output_tokens=7),
        Finish("tool_calls"),
    ]
    payloads, message = encode(events)
    open_blocks: set[int] = set()
    for payload in payloads:
        if payload["type"] == "content_block_start":
            assert not open_blocks, f"block {payload['index']} opened while {open_blocks} still open"
            open_blocks.add(payload["index"])
        elif payload["type"] == "content_block_stop":
            open_blocks.remove(payload["index"])
    snapshot: Any = None
    buffers: dict[int, bytes] = {}
    for payload in payloads:
        event = STREAM_EVENT.validate_python(payload)
        snapshot = accumulate_event(event=event, current_snapshot=snapshot, json_bufs=buffers)
    streamed = Message.model_validate(snapshot.model_dump())
    assert [block.type for block in streamed.content] == ["text", "tool_use", "tool_use"]
    assert [block.input for block in streamed.content[1:]] == [{"city": "Paris"}, {"zone": "CET"}]  # type: ignore[union-attr]
    assert [block["input"] for block in message["content"][1:]] == [{"city": "Paris"}, {"zone": "CET"}]
    assert message["stop_reason"] == "tool_use"
    assert orjson.dumps(payloads)  # plain JSON all through


def test_sequential_tool_calls_stream_as_they_come() -> None:
    """Calls that do not overlap are not held back: each argument piece is its own delta."""
    events: list[Event] = [
        ResponseStart("chatcmpl-2", "gpt-4o-mini"),
        ToolCallStart(10, "call_a", "get_weather"),
        ToolCallDelta(10, '{"city": '),
        ToolCallDelta(10, '"Oslo"}'),
        BlockEnd(10),
        ToolCallStart(11, "call_b", "get_time"),
        ToolCallDelta(11, "{}"),
        BlockEnd(11),
        Finish("tool_calls"),
    ]
    payloads, _ = encode(events)
    pieces = [p["delta"]["partial_json"] for p in payloads if p["type"] == "content_block_delta"]
    assert pieces == ['{"city": ', '"Oslo"}', "{}"]
