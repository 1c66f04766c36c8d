"""The Responses stream converters: native Responses SSE → canonical events, and canonical events → the Responses
events and object a Responses client receives, checked against OpenAI's order, the openai SDK and Open Responses."""

from __future__ import annotations

import typing
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plano_proxy.transformers.canonical import (
    BlockEnd,
    CanonicalRequest,
    Event,
    Finish,
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
from plano_proxy.transformers.ids import SequentialIds
from plano_proxy.transformers.reasoning_codec import unpack_anthropic_block
from plano_proxy.transformers.responses_decoder import ResponsesStreamDecoder, responses_body_to_events
from plano_proxy.transformers.responses_encoder import ResponsesEncoder
from plano_proxy.transformers.responses_object import echo_fields
from plano_proxy.transformers.sse import SSEDecoder, frame_named

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "responses"
NAMES = sorted(path.name for path in FIXTURES.glob("*.sse"))
RID = "resp_0da443d9ee8333600069950a0635d88196b2d9243b08e8cc01"
MODEL = "gpt-5-2025-08-07"


def decode(name: str, cuts: Sequence[int] = ()) -> list[Event]:
    """The canonical events of one fixture, its bytes fed in pieces cut at `cuts`."""
    data = (FIXTURES / name).read_bytes()
    sse, decoder = SSEDecoder(), ResponsesStreamDecoder()
    events: list[Event] = []
    previous = 0
    for cut in [*sorted(set(cuts)), len(data)]:
        for message in sse.decode(data[previous:cut]):
            events += decoder.feed(message)
        previous = cut
    for message in sse.flush():
        events += decoder.feed(message)
    return events + decoder.finish()


def terminal_response(name: str) -> dict[str, Any]:
    """The response object carried by a fixture's terminal lifecycle event."""
    for message in SSEDecoder().decode((FIXTURES / name).read_bytes() + b"\n\n"):
        payload = orjson.loads(message.data)
        if payload["type"] in ("response.completed", "response.incomplete", "response.failed"):
            return typing.cast(dict[str, Any], payload["response"])
    raise AssertionError(f"{name} has no terminal event")


def merged(events: list[Event]) -> list[Event]:
    """Consecutive deltas of one block joined, so streams chunked differently compare equal."""
    out: list[Event] = []
    for event in events:
        last = out[-1] if out else None
        if isinstance(event, TextDelta | RefusalDelta | ReasoningDelta) and isinstance(last, type(event)):
            if last.index == event.index:
                out[-1] = type(event)(event.index, last.text + event.text)
                continue
        elif isinstance(event, ToolCallDelta) and isinstance(last, ToolCallDelta) and last.index == event.index:
            out[-1] = ToolCallDelta(event.index, last.arguments + event.arguments)
            continue
        out.append(event)
    return out


# ---------------------------------------------------------------------------------------------------------------
# Decoder

EXPECTED: dict[str, list[Event]] = {
    "text.sse": [
        ResponseStart(RID, MODEL),
        TextDelta(0, "streamed café ☕ text."),
        BlockEnd(0),
        Usage(input_tokens=21, output_tokens=6),
        Finish("stop"),
    ],
    "reasoning_text.sse": [
        ResponseStart(RID, MODEL),
        ReasoningDelta(0, "**Plan**\n\nWork out the sum.\n\nThen check it."),
        ReasoningSignature(0, "gAAAAABpZ2V0X3dlYXRoZXJfZmluYWw=", "openai"),
        BlockEnd(0),
        TextDelta(100, "2 + 2 = 4."),
        BlockEnd(100),
        Usage(input_tokens=30, output_tokens=210, cached_tokens=12, reasoning_tokens=192),
        Finish("stop"),
    ],
    "function_call.sse": [
        ResponseStart(RID, MODEL),
        ReasoningSignature(0, "gAAAAABoY2FsbF9yZWFzb25pbmc=", "openai"),
        BlockEnd(0),
        ToolCallStart(100, "call_CWXgH0t4kQzWv3sAb1cDe2fG", "final_result"),
        ToolCallDelta(100, '{"result":6666}'),
        BlockEnd(100),
        Usage(input_tokens=80, output_tokens=52, reasoning_tokens=38),
        Finish("tool_calls"),
    ],
    "two_calls.sse": [
        ResponseStart(RID, MODEL),
        ToolCallStart(0, "call_ParisAbCdEfGhIjKlMnOpQrSt", "get_weather"),
        ToolCallDelta(0, '{"city":"Paris"}'),
        BlockEnd(0),
        ToolCallStart(100, "call_TokyoAbCdEfGhIjKlMnOpQrSt", "get_weather"),
        ToolCallDelta(100, '{"city":"Tokyo"}'),
        BlockEnd(100),
        Usage(input_tokens=64, output_tokens=36),
        Finish("tool_calls"),
    ],
    "refusal.sse": [
        ResponseStart(RID, MODEL),
        RefusalDelta(0, "I can't help with that."),
        BlockEnd(0),
        Usage(input_tokens=15, output_tokens=7),
        Finish("stop"),
    ],
    "incomplete.sse": [
        ResponseStart(RID, MODEL),
        ReasoningSignature(0, "gAAAAABpbmNvbXBsZXRl", "openai"),
        BlockEnd(0),
        TextDelta(100, "Once upon"),
        BlockEnd(100),
        Usage(input_tokens=13, output_tokens=40, cached_tokens=4, reasoning_tokens=20),
        Finish("length"),
    ],
    "response_failed.sse": [
        ResponseStart(RID, MODEL),
        TextDelta(0, "Partial "),
        StreamError(
            400,
            "invalid_request_error",
            "Your input exceeds the context window of this model. Please adjust your input and try again.",
            "context_length_exceeded",
        ),
    ],
    "failed.sse": [
        ResponseStart("resp_68a1", "gpt-4o-2024-08-06"),
        StreamError(500, "server_error", "The server had an error.", "server_error"),
    ],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_decodes_to_expected_events(name: str) -> None:
    """Each recorded-style stream becomes exactly the expected canonical events (deltas joined per block)."""
    assert merged(decode(name)) == EXPECTED[name]


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_byte_split_decodes_identically(name: str, data: st.DataObject) -> None:
    """Cutting the upstream bytes anywhere, even inside a UTF-8 character or a CRLF, yields identical events."""
    size = (FIXTURES / name).stat().st_size
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=size), max_size=40))
    assert decode(name, cuts) == decode(name)


def test_reasoning_signature_uses_the_done_item_and_precedes_block_end() -> None:
    """The encrypted content comes from output_item.done (not the partial one in added), just before BlockEnd."""
    events = decode("reasoning_text.sse")
    signatures = [e for e in events if isinstance(e, ReasoningSignature)]
    assert [s.signature for s in signatures] == ["gAAAAABpZ2V0X3dlYXRoZXJfZmluYWw="]
    assert events.index(signatures[0]) + 1 == events.index(BlockEnd(0))


@pytest.mark.parametrize("name", [n for n in sorted(EXPECTED) if "failed" not in n])
def test_non_streaming_body_gives_the_same_events_as_the_stream(name: str) -> None:
    """A whole response object decodes to the same content as the stream that produced it."""
    assert merged(responses_body_to_events(terminal_response(name))) == EXPECTED[name]


def test_failed_body_becomes_a_stream_error() -> None:
    """A non-streaming response with status failed is an error, with its code's HTTP status."""
    events = responses_body_to_events(terminal_response("response_failed.sse"))
    assert isinstance(events[-1], StreamError) and events[-1].status == 400
    assert not any(isinstance(e, Finish) for e in events)


def test_items_sent_only_as_done_are_rebuilt() -> None:
    """A server that skips deltas and sends only finished items still yields text, reasoning and calls."""
    decoder = ResponsesStreamDecoder()
    output = [
        {"type": "reasoning", "summary": [{"type": "summary_text", "text": "a"}], "encrypted_content": "enc"},
        {"type": "message", "content": [{"type": "output_text", "text": "hi", "annotations": []}]},
        {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"},
    ]
    events = decoder.feed_payload({"type": "response.created", "response": {"id": "r", "model": "m"}})
    for index, item in enumerate(output):
        events += decoder.feed_payload({"type": "response.output_item.done", "output_index": index, "item": item})
    events += decoder.feed_payload({"type": "response.completed", "response": {"status": "completed", "usage": None}})
    assert events == [
        ResponseStart("r", "m"),
        ReasoningDelta(0, "a"),
        ReasoningSignature(0, "enc", "openai"),
        BlockEnd(0),
        TextDelta(100, "hi"),
        BlockEnd(100),
        ToolCallStart(200, "call_1", "f"),
        ToolCallDelta(200, "{}"),
        BlockEnd(200),
        Usage(),
        Finish("tool_calls"),
    ]


def test_raw_reasoning_text_and_content_filter() -> None:
    """reasoning_text deltas are reasoning; an incomplete response stopped by the content filter says so."""
    decoder = ResponsesStreamDecoder()
    payloads = [
        {"type": "response.created", "response": {"id": "r", "model": "m"}},
        {"type": "response.output_item.added", "output_index": 0, "item": {"type": "reasoning", "summary": []}},
        {"type": "response.reasoning_text.delta", "output_index": 0, "content_index": 0, "delta": "think"},
        {
            "type": "response.content_part.done",
            "output_index": 0,
            "content_index": 0,
            "part": {"type": "reasoning_text"},
        },
        {"type": "response.output_item.done", "output_index": 0, "item": {"type": "reasoning", "summary": []}},
        {
            "type": "response.incomplete",
            "response": {"status": "incomplete", "incomplete_details": {"reason": "content_filter"}},
        },
    ]
    events = [event for payload in payloads for event in decoder.feed_payload(payload)]
    assert events == [
        ResponseStart("r", "m"),
        ReasoningDelta(0, "think"),
        BlockEnd(0),
        Usage(),
        Finish("content_filter"),
    ]


def test_stream_cut_before_terminal_event_is_an_error() -> None:
    """Without response.completed the answer is unfinished, so finish() reports an error instead of a stop."""
    data = (FIXTURES / "text.sse").read_bytes()
    cut = data.index(b"event: response.completed")
    sse, decoder = SSEDecoder(), ResponsesStreamDecoder()
    events = [e for m in sse.decode(data[:cut]) for e in decoder.feed(m)] + decoder.finish()
    assert isinstance(events[-1], StreamError) and events[-1].status == 502
    assert decoder.finish() == []


def test_nested_error_event_and_done_marker() -> None:
    """The nested error form is read too; a [DONE] after a terminal event adds nothing."""
    decoder = ResponsesStreamDecoder()
    error = {
        "type": "error",
        "error": {"type": "rate_limit_exceeded", "code": "rate_limit_exceeded", "message": "slow"},
    }
    assert decoder.feed_payload(error) == [StreamError(429, "rate_limit_exceeded", "slow", "rate_limit_exceeded")]
    assert decoder.feed_payload({"type": "response.completed", "response": {}}) == []


# ---------------------------------------------------------------------------------------------------------------
# Encoder

THINKING = [
    ResponseStart("msg_up", "claude"),
    ReasoningDelta(0, "Let me "),
    ReasoningDelta(0, "think."),
    ReasoningSignature(0, "EqQBsig", "anthropic"),
    BlockEnd(0),
    RedactedReasoning(1, "EmwKAhredacted"),
    BlockEnd(1),
    TextDelta(2, "Hello"),
    TextDelta(2, " there."),
    BlockEnd(2),
    ToolCallStart(3, "toolu_01", "ping"),
    BlockEnd(3),
    Usage(input_tokens=10, output_tokens=5, cached_tokens=2, reasoning_tokens=3),
    Finish("tool_calls"),
]


def encode(
    events: list[Event], body: dict[str, Any] | None = None, *, finish: bool = True
) -> tuple[list[dict[str, Any]], ResponsesEncoder]:
    body = body or {"model": "gpt-test", "input": "hi"}
    encoder = ResponsesEncoder(
        CanonicalRequest(model=body["model"], items=()), echo_fields(body), SequentialIds(), clock()
    )
    payloads = [payload for event in events for payload in encoder.feed(event)]
    return payloads + (encoder.finish() if finish else []), encoder


def clock() -> Callable[[], int]:
    ticks = iter(range(1_700_000_000, 1_800_000_000))
    return lambda: next(ticks)


def stamped(payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**payload, "sequence_number": number} for number, payload in enumerate(payloads)]


_ITEM_EVENTS = {
    "message": [
        "response.output_item.added",
        "response.content_part.added",
        "DELTA*",
        "DONE",
        "response.content_part.done",
        "response.output_item.done",
    ],
    "function_call": [
        "response.output_item.added",
        "response.function_call_arguments.delta*",
        "response.function_call_arguments.done",
        "response.output_item.done",
    ],
}


def check_order(payloads: list[dict[str, Any]]) -> None:
    """OpenAI's grammar: created, in_progress, whole items one after another, one terminal event at the end."""
    types = [p["type"] for p in payloads]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] in ("response.completed", "response.incomplete", "response.failed")
    assert sum(t in ("response.completed", "response.incomplete", "response.failed") for t in types) == 1
    ids = {payloads[0]["response"]["id"]} | {p["response"]["id"] for p in payloads if "response" in p}
    assert len(ids) == 1
    assert payloads[0]["response"]["output"] == [] and payloads[0]["response"]["usage"] is None
    current: dict[str, Any] | None = None
    next_index = 0
    for payload in payloads[2:-1]:
        kind = payload["type"]
        if kind == "response.output_item.added":
            assert current is None, "items must not interleave"
            assert payload["output_index"] == next_index
            current, next_index = payload, next_index + 1
            continue
        assert current is not None, f"{kind} outside an item"
        assert payload["output_index"] == current["output_index"]
        if kind == "response.output_item.done":
            assert payload["item"]["id"] == current["item"]["id"]
            current = None
        else:
            assert payload["item_id"] == current["item"]["id"]
    assert current is None or types[-1] == "response.failed"


def item_grammar(payloads: list[dict[str, Any]]) -> list[list[str]]:
    """The event types of each item, in order."""
    groups: list[list[str]] = []
    for payload in payloads[2:-1]:
        if payload["type"] == "response.output_item.added":
            groups.append([])
        groups[-1].append(payload["type"])
    return groups


def test_encoder_event_order_for_thinking_text_and_call() -> None:
    """Reasoning, redacted reasoning, text and a call each form one item with OpenAI's exact event sequence."""
    payloads, _ = encode(THINKING)
    check_order(payloads)
    assert item_grammar(payloads) == [
        [
            "response.output_item.added",
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.done",
            "response.reasoning_summary_part.done",
            "response.output_item.done",
        ],
        ["response.output_item.added", "response.output_item.done"],
        [
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
        ],
        [
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
        ],
    ]
    assert payloads[-1]["type"] == "response.completed"


def test_anthropic_reasoning_is_packed_and_openai_reasoning_is_raw() -> None:
    """Claude's thinking and redacted thinking survive in encrypted_content; OpenAI's own content passes raw."""
    _, encoder = encode(THINKING)
    thinking, redacted = encoder.response()["output"][:2]
    assert unpack_anthropic_block(thinking["encrypted_content"]) == {
        "type": "thinking",
        "thinking": "Let me think.",
        "signature": "EqQBsig",
    }
    assert thinking["summary"] == [{"type": "summary_text", "text": "Let me think."}]
    assert unpack_anthropic_block(redacted["encrypted_content"]) == {
        "type": "redacted_thinking",
        "data": "EmwKAhredacted",
    }
    _, native = encode(decode("reasoning_text.sse"))
    assert native.response()["output"][0]["encrypted_content"] == "gAAAAABpZ2V0X3dlYXRoZXJfZmluYWw="


def test_call_without_arguments_gets_an_empty_object_and_its_name() -> None:
    """A call with no argument text is completed with "{}" (sent as a delta too), and .done names the function."""
    payloads, encoder = encode(THINKING)
    call = [p for p in payloads if p["type"].startswith("response.function_call_arguments")]
    assert call[0]["delta"] == "{}"
    assert call[1]["name"] == "ping" and call[1]["arguments"] == "{}"
    added = next(
        p for p in payloads if p["type"] == "response.output_item.added" and p["item"]["type"] == "function_call"
    )
    assert added["item"] == {
        "id": added["item"]["id"],
        "type": "function_call",
        "status": "in_progress",
        "call_id": "toolu_01",
        "name": "ping",
        "arguments": "",
    }
    assert encoder.response()["output"][3]["status"] == "completed"


def test_final_event_response_matches_response_and_usage() -> None:
    """The terminal event carries exactly response(); usage counts cached input and reasoning output."""
    payloads, encoder = encode(THINKING)
    final = encoder.response()
    assert payloads[-1]["response"] == final
    assert final["usage"] == {
        "input_tokens": 10,
        "input_tokens_details": {"cached_tokens": 2, "cache_write_tokens": 0},
        "output_tokens": 5,
        "output_tokens_details": {"reasoning_tokens": 3},
        "total_tokens": 15,
    }
    assert final["status"] == "completed" and final["completed_at"] is not None
    assert final["service_tier"] == "default" and payloads[0]["response"]["service_tier"] == "auto"
    assert "conversation" not in final


def test_output_items_are_canonical() -> None:
    """Items handed to the state store keep ids and statuses but drop the wire-only logprobs of text parts."""
    _, encoder = encode(THINKING)
    items = encoder.output_items()
    message = items[2]
    assert message["content"] == [{"type": "output_text", "text": "Hello there.", "annotations": []}]
    assert [item["type"] for item in items] == ["reasoning", "reasoning", "message", "function_call"]
    assert all(item["id"] == wire["id"] for item, wire in zip(items, encoder.response()["output"], strict=True))


def test_length_stop_marks_last_item_incomplete() -> None:
    """A max_output_tokens stop gives response.incomplete, its reason, and an incomplete last item."""
    payloads, encoder = encode(decode("incomplete.sse"))
    check_order(payloads)
    final = encoder.response()
    assert payloads[-1]["type"] == "response.incomplete"
    assert final["status"] == "incomplete" and final["incomplete_details"] == {"reason": "max_output_tokens"}
    assert [item["status"] for item in final["output"] if "status" in item] == ["incomplete"]
    done = [p for p in payloads if p["type"] == "response.output_item.done"]
    assert done[-1]["item"]["status"] == "incomplete" and final["completed_at"] is None


def test_content_filter_stop() -> None:
    """A content-filter finish is an incomplete response with reason content_filter."""
    payloads, encoder = encode([ResponseStart("x", "m"), TextDelta(0, "no"), BlockEnd(0), Finish("content_filter")])
    assert payloads[-1]["type"] == "response.incomplete"
    assert encoder.response()["incomplete_details"] == {"reason": "content_filter"}


def test_stream_error_ends_with_response_failed_only() -> None:
    """An upstream failure mid-answer gives one response.failed with error {code, message} and the partial item."""
    events = [ResponseStart("x", "m"), TextDelta(0, "Partial"), StreamError(529, "server_error", "Overloaded")]
    payloads, encoder = encode(events)
    check_order(payloads)
    assert [p["type"] for p in payloads].count("error") == 0
    failed = payloads[-1]["response"]
    assert failed == encoder.response()
    assert failed["status"] == "failed" and failed["error"] == {"code": "server_error", "message": "Overloaded"}
    assert failed["output"][0]["status"] == "incomplete"
    assert failed["output"][0]["content"][0]["text"] == "Partial"
    _, limited = encode([ResponseStart("x", "m"), StreamError(429, "requests", "Slow down")])
    assert limited.response()["error"]["code"] == "rate_limit_exceeded"
    _, known = encode(decode("response_failed.sse"))
    assert known.response()["error"]["code"] == "context_length_exceeded"


def test_nothing_after_the_terminal_event() -> None:
    """Events after the end and a second finish() emit nothing."""
    _, encoder = encode(THINKING)
    assert encoder.feed(TextDelta(9, "late")) == [] and encoder.finish() == []


def test_echo_fields_defaults_and_request_values() -> None:
    """Absent fields get OpenAI's defaults; sent ones are echoed, function tools with every field present."""
    echo = echo_fields(
        {
            "model": "m",
            "temperature": 0.2,
            "metadata": {"k": "v"},
            "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
            "text": {"format": {"type": "json_schema", "name": "n", "schema": {}}},
            "reasoning": {"effort": "low"},
        }
    )
    assert echo["temperature"] == 0.2 and echo["top_p"] == 1.0 and echo["metadata"] == {"k": "v"}
    assert echo["tools"] == [
        {"type": "function", "name": "f", "parameters": {"type": "object"}, "description": None, "strict": None}
    ]
    assert echo["text"]["format"] == {
        "type": "json_schema",
        "name": "n",
        "schema": {},
        "description": None,
        "strict": None,
    }
    assert echo["reasoning"] == {"effort": "low", "summary": None}
    assert (echo["store"], echo["truncation"], echo["tool_choice"], echo["parallel_tool_calls"]) == (
        True,
        "disabled",
        "auto",
        True,
    )


def test_several_open_items_keep_output_index_order() -> None:
    """Blocks that end out of order still leave response.output sorted by output_index."""
    events = [
        ResponseStart("x", "m"),
        ToolCallStart(0, "call_a", "a"),
        ToolCallStart(1, "call_b", "b"),
        ToolCallDelta(1, "{}"),
        BlockEnd(1),
        ToolCallDelta(0, "{}"),
        BlockEnd(0),
        Finish("tool_calls"),
    ]
    _, encoder = encode(events)
    assert [item["call_id"] for item in encoder.response()["output"]] == ["call_a", "call_b"]


@pytest.mark.parametrize("name", sorted(set(NAMES) | {"anthropic_thinking"}))
def test_deltas_add_up_to_done_events_and_final_output(name: str) -> None:
    """Joined deltas equal each .done value, and the output_item.done items are exactly the final output."""
    payloads, encoder = encode(STREAMS[name])
    check_order(payloads)
    joined: dict[tuple[str, str], str] = {}
    parts: dict[str, list[dict[str, Any]]] = {}
    for payload in payloads:
        kind = payload["type"]
        if kind in ("response.content_part.done", "response.reasoning_summary_part.done"):
            parts.setdefault(payload["item_id"], []).append(payload["part"])
        elif kind == "response.output_item.done":
            item = payload["item"]
            if item["type"] != "function_call":
                assert item.get("content", item.get("summary")) == parts.get(item["id"], [])
        elif kind.endswith(".delta"):
            key = (payload["item_id"], kind.removesuffix(".delta"))
            joined[key] = joined.get(key, "") + payload["delta"]
        elif kind.endswith(".done") and "part" not in kind:
            value = payload.get("text", payload.get("refusal", payload.get("arguments")))
            assert joined.get((payload["item_id"], kind.removesuffix(".done")), "") == value
    done = [p["item"] for p in payloads if p["type"] == "response.output_item.done"]
    final = encoder.response()
    if final["status"] != "failed":
        assert done == final["output"]


# -- Open Responses models -----------------------------------------------------------------------------------------

STREAMS: dict[str, list[Event]] = {
    **{name: decode(name) for name in NAMES},
    "anthropic_thinking": THINKING,
    "stream_error": [ResponseStart("x", "m"), TextDelta(0, "Partial"), StreamError(500, "server_error", "boom")],
}


def open_responses_models() -> tuple[Any, dict[str, Any]]:
    import openresponses_types as types

    by_type = {}
    for name in dir(types):
        model = getattr(types, name)
        if name.endswith("StreamingEvent") and "type" in getattr(model, "model_fields", {}):
            annotation = model.model_fields["type"].annotation
            for value in (
                [m.value for m in annotation] if hasattr(annotation, "__members__") else typing.get_args(annotation)
            ):
                by_type[value] = model
    return types.ResponseResource, by_type


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_events_and_objects_validate_against_open_responses(name: str) -> None:
    """Every event and the final object validate against the Open Responses models."""
    resource, by_type = open_responses_models()
    payloads, encoder = encode(STREAMS[name])
    for payload in stamped(payloads):
        by_type[payload["type"]].model_validate(sdk_listed(payload))
    resource.model_validate(encoder.response())


def sdk_listed(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload with OpenAI's real in-stream code context_length_exceeded, missing from the SDK's list, swapped."""
    error = (payload.get("response") or {}).get("error")
    if error and error["code"] == "context_length_exceeded":
        return {**payload, "response": {**payload["response"], "error": {**error, "code": "server_error"}}}
    return payload


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_events_and_objects_validate_against_openai_sdk_types(name: str) -> None:
    """Every event and the final object validate strictly against the openai SDK's own models."""
    from openai.types.responses import Response, ResponseStreamEvent

    union = typing.get_args(typing.get_args(ResponseStreamEvent)[0]) or typing.get_args(ResponseStreamEvent)
    by_type = {typing.get_args(model.model_fields["type"].annotation)[0]: model for model in union}
    payloads, encoder = encode(STREAMS[name])
    for payload in stamped(payloads):
        by_type[payload["type"]].model_validate(sdk_listed(payload))
    Response.model_validate(sdk_listed({"response": encoder.response()})["response"])


# -- the real openai SDK against a real server ---------------------------------------------------------------------


async def serve(stream: bytes, body: dict[str, Any]) -> tuple[TestServer, openai.AsyncOpenAI]:
    async def create(request: web.Request) -> web.StreamResponse:
        if not (await request.json()).get("stream"):
            return web.Response(body=orjson.dumps(body), content_type="application/json")
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8"})
        await response.prepare(request)
        await response.write(stream)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/v1/responses", create)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server, openai.AsyncOpenAI(base_url=str(server.make_url("/v1")), api_key="test", max_retries=0)


@pytest.fixture
async def sdk() -> AsyncIterator[Callable[[list[Event]], Any]]:
    """Serves one encoded stream (stamped with sequence numbers) and its body on a real port, to a real SDK client."""
    running: list[tuple[TestServer, openai.AsyncOpenAI]] = []

    async def make(events: list[Event]) -> tuple[openai.AsyncOpenAI, list[dict[str, Any]], ResponsesEncoder]:
        payloads, encoder = encode(events)
        data = b"".join(frame_named(payload) for payload in stamped(payloads))
        server, client = await serve(data, encoder.response())
        running.append((server, client))
        return client, payloads, encoder

    yield make
    for server, client in running:
        await client.close()
        await server.close()


def comparable(response: dict[str, Any]) -> dict[str, Any]:
    """A response as JSON, without the fields the SDK adds while parsing (parsed arguments and text)."""
    output = [{k: v for k, v in item.items() if k not in ("parsed_arguments", "parsed")} for item in response["output"]]
    for item in output:
        if item.get("type") == "message":
            item["content"] = [{k: v for k, v in part.items() if k != "parsed"} for part in item["content"]]
    return {**response, "output": output}


COMPLETED = sorted(
    name for name in STREAMS if name not in ("incomplete.sse", "failed.sse", "response_failed.sse", "stream_error")
)


@pytest.mark.parametrize("name", COMPLETED)
async def test_sdk_stream_helper_rebuilds_our_final_response(sdk: Any, name: str) -> None:
    """client.responses.stream() accepts every event and its get_final_response() equals response()."""
    client, payloads, encoder = await sdk(STREAMS[name])
    async with client.responses.stream(model="gpt-test", input="hi") as stream:
        seen = [event.type async for event in stream]
        final = await stream.get_final_response()
    assert seen == [p["type"] for p in payloads]
    assert comparable(final.model_dump(mode="json", exclude_unset=True)) == comparable(encoder.response())
    expected_text = "".join(
        part["text"]
        for item in encoder.response()["output"]
        if item["type"] == "message"
        for part in item["content"]
        if part["type"] == "output_text"
    )
    assert final.output_text == expected_text


@pytest.mark.parametrize("name", ["incomplete.sse", "response_failed.sse", "stream_error"])
async def test_sdk_reads_incomplete_and_failed_streams(sdk: Any, name: str) -> None:
    """The SDK iterates incomplete and failed streams to their terminal event, whose response equals response()."""
    client, payloads, encoder = await sdk(STREAMS[name])
    stream = await client.responses.create(model="gpt-test", input="hi", stream=True)
    events = [event async for event in stream]
    assert [e.sequence_number for e in events] == list(range(len(payloads)))
    assert events[-1].type == payloads[-1]["type"]
    assert events[-1].response.model_dump(mode="json", exclude_unset=True) == encoder.response()  # type: ignore[union-attr]


async def test_sdk_non_streaming_body_parses(sdk: Any) -> None:
    """The non-streaming body built by response() is read by responses.create() with output_text and the call."""
    client, _, encoder = await sdk(THINKING)
    response = await client.responses.create(model="gpt-test", input="hi")
    assert response.output_text == "Hello there."
    assert response.model_dump(mode="json", exclude_unset=True) == encoder.response()
    assert response.usage is not None and response.usage.output_tokens_details.reasoning_tokens == 3
