"""Recorded-style provider streams replayed through every decoder and client encoder.

Each fixture is decoded whole and split at random byte boundaries; the canonical events and the encoded output for
all three client formats must be identical. The encoders' output is also checked by the SDKs' own accumulators.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import RawMessageStreamEvent
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletionChunk
from pydantic import TypeAdapter

from plano_proxy.transformers.anthropic_decoder import AnthropicStreamDecoder
from plano_proxy.transformers.anthropic_encoder import AnthropicEncoder
from plano_proxy.transformers.canonical import (
    BlockEnd,
    CanonicalRequest,
    Event,
    Finish,
    ReasoningSignature,
    StreamError,
    TextDelta,
    ToolCallStart,
    Usage,
)
from plano_proxy.transformers.chat_decoder import ChatStreamDecoder
from plano_proxy.transformers.chat_encoder import ChatEncoder
from plano_proxy.transformers.ids import SequentialIds
from plano_proxy.transformers.reasoning_codec import unpack_anthropic_block
from plano_proxy.transformers.responses_decoder import ResponsesStreamDecoder
from plano_proxy.transformers.responses_encoder import ResponsesEncoder
from plano_proxy.transformers.responses_object import echo_fields
from plano_proxy.transformers.sse import SSEDecoder

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
DECODERS = {"anthropic": AnthropicStreamDecoder, "chat": ChatStreamDecoder, "responses": ResponsesStreamDecoder}
CASES = sorted((kind, path.name) for kind in DECODERS for path in (FIXTURES / kind).glob("*.sse"))


def load(kind: str, name: str) -> bytes:
    return (FIXTURES / kind / name).read_bytes()


def decode(kind: str, data: bytes, cuts: list[int]) -> list[Event]:
    sse, decoder = SSEDecoder(), DECODERS[kind]()
    events: list[Event] = []
    previous = 0
    for cut in [*sorted(set(cuts)), len(data)]:
        for message in sse.decode(data[previous:cut]):
            events += decoder.feed(message)
        previous = cut
    for message in sse.flush():
        events += decoder.feed(message)
    return events + decoder.finish()


def encode_all(events: list[Event]) -> dict[str, Any]:
    """Every client format's stream and final body for these events, with predictable ids and clock."""
    chat = ChatEncoder("m", SequentialIds(), lambda: 1, include_usage=True)
    anthropic = AnthropicEncoder("m", SequentialIds())
    request = CanonicalRequest(model="m", items=())
    responses = ResponsesEncoder(request, echo_fields({"model": "m"}), SequentialIds(), lambda: 1)
    streams: dict[str, list[dict[str, Any]]] = {"chat": [], "anthropic": [], "responses": []}
    for event in events:
        streams["chat"] += chat.feed(event)
        streams["anthropic"] += anthropic.feed(event)
        streams["responses"] += responses.feed(event)
    streams["chat"] += chat.finish()
    streams["anthropic"] += anthropic.finish()
    streams["responses"] += responses.finish()
    return {**streams, "bodies": [chat.completion(), anthropic.message(), responses.response()]}


@pytest.mark.parametrize(("kind", "name"), CASES)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_split_gives_identical_output(kind: str, name: str, data: st.DataObject) -> None:
    """Splitting the provider's bytes anywhere changes neither the canonical events nor any client's output."""
    raw = load(kind, name)
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=len(raw)), max_size=30))
    whole = decode(kind, raw, [])
    assert decode(kind, raw, cuts) == whole
    assert encode_all(decode(kind, raw, cuts)) == encode_all(whole)


def test_anthropic_thinking_decodes_with_signature_and_cache_usage() -> None:
    """Thinking deltas, the signature before the block ends, text, and usage with cache reads counted as input."""
    events = decode("anthropic", load("anthropic", "thinking_text.sse"), [])
    assert ReasoningSignature(0, "Eu4CCkYICxgCKkB0c2lnbmF0dXJl", "anthropic") in events
    assert events.index(ReasoningSignature(0, "Eu4CCkYICxgCKkB0c2lnbmF0dXJl", "anthropic")) < events.index(BlockEnd(0))
    assert events[-2:] == [Usage(input_tokens=55, output_tokens=277, cached_tokens=12), Finish("stop")]


def test_chat_parallel_calls_keep_bundled_arguments() -> None:
    """A second tool call whose arguments come in its first chunk keeps them; usage precedes the finish."""
    events = decode("chat", load("chat", "tool_calls_with_usage.sse"), [])
    starts = [e for e in events if isinstance(e, ToolCallStart)]
    assert [(s.call_id, s.name) for s in starts] == [("call_ZR5U", "get_capital"), ("call_Second", "get_capital")]
    body = encode_all(events)["bodies"][0]
    calls = body["choices"][0]["message"]["tool_calls"]
    assert [c["function"]["arguments"] for c in calls] == ['{"country":"France"}', '{"country":"Peru"}']
    assert body["choices"][0]["finish_reason"] == "tool_calls" and body["usage"]["total_tokens"] == 68


def test_errors_mid_stream_become_each_formats_error() -> None:
    """An upstream error after the first byte ends every client's stream with that format's own error event."""
    for kind in DECODERS:
        events = decode(kind, load(kind, "error_mid_stream.sse" if kind != "responses" else "failed.sse"), [])
        assert isinstance(events[-1], StreamError)
        out = encode_all(events)
        assert "error" in out["chat"][-1]
        assert out["anthropic"][-1]["type"] == "error"
        assert out["responses"][-1]["type"] == "response.failed"


def test_incomplete_maps_to_length_everywhere() -> None:
    """A Responses max_output_tokens stop is a length finish for Chat and max_tokens for Anthropic."""
    out = encode_all(decode("responses", load("responses", "incomplete.sse"), []))
    chat, anthropic, responses = out["bodies"]
    assert chat["choices"][0]["finish_reason"] == "length"
    assert anthropic["stop_reason"] == "max_tokens"
    assert responses["status"] == "incomplete" and responses["incomplete_details"] == {"reason": "max_output_tokens"}


def test_anthropic_thinking_round_trips_through_responses_items() -> None:
    """Claude's thinking becomes a reasoning item whose encrypted content restores the exact block."""
    out = encode_all(decode("anthropic", load("anthropic", "thinking_text.sse"), []))
    reasoning = out["bodies"][2]["output"][0]
    assert reasoning["type"] == "reasoning"
    assert unpack_anthropic_block(reasoning["encrypted_content"]) == {
        "type": "thinking",
        "thinking": "The user greets me; a short reply — café ☕ fits.",
        "signature": "Eu4CCkYICxgCKkB0c2lnbmF0dXJl",
    }


@pytest.mark.parametrize(("kind", "name"), [c for c in CASES if "error" not in c[1] and "failed" not in c[1]])
def test_sdk_accumulators_accept_encoded_streams(kind: str, name: str) -> None:
    """The anthropic SDK's message accumulator and the openai SDK's chat stream state rebuild our final bodies."""
    out = encode_all(decode(kind, load(kind, name), []))
    adapter: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)
    snapshot = None
    buffers: dict[int, bytes] = {}
    for payload in out["anthropic"]:
        snapshot = accumulate_event(
            event=adapter.validate_python(payload), current_snapshot=snapshot, json_bufs=buffers
        )
    assert snapshot is not None
    assert snapshot.model_dump(include={"content"}, exclude_none=True) == {"content": out["bodies"][1]["content"]}
    state = ChatCompletionStreamState()
    for payload in out["chat"]:
        state.handle_chunk(ChatCompletionChunk.model_validate(payload))
    final = state.current_completion_snapshot
    expected = out["bodies"][0]["choices"][0]
    assert (final.choices[0].message.content or None) == expected["message"]["content"]
    assert final.choices[0].finish_reason == expected["finish_reason"]


def test_responses_events_keep_indices_consistent() -> None:
    """Across reasoning, text and a call, item ids and output indices stay consistent from added to done."""
    out = encode_all(decode("responses", load("responses", "reasoning_text_call.sse"), []))
    added = {e["item"]["id"]: e["output_index"] for e in out["responses"] if e["type"] == "response.output_item.added"}
    done = {e["item"]["id"]: e["output_index"] for e in out["responses"] if e["type"] == "response.output_item.done"}
    assert added == done and sorted(added.values()) == [0, 1, 2]
    deltas = [e for e in out["responses"] if e["type"] == "response.output_text.delta"]
    assert all(added[d["item_id"]] == d["output_index"] for d in deltas)
    assert [e["type"] for e in out["responses"]][:2] == ["response.created", "response.in_progress"]
    assert out["responses"][-1]["type"] == "response.completed"
    assert [TextDelta] == [
        type(e) for e in decode("responses", load("responses", "incomplete.sse"), []) if isinstance(e, TextDelta)
    ]
