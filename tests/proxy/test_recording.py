"""Keeping a relayed chat answer (`stream.recording`): the provider's bytes with the gateway's id, the end held back."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from plano_proxy.proxy.stream.recording import ChatStreamRecording, finish_reason_of, recorded_completion

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "chat"
OURS = "chatcmpl-" + "ab" * 24
TOOLS = (FIXTURES / "tool_calls_with_usage.sse").read_bytes()
REASONING = (FIXTURES / "reasoning_text_length.sse").read_bytes()


def relay(stream: bytes, cuts: list[int]) -> tuple[bytes, bytes, ChatStreamRecording]:
    """What goes out before the end, the held-back end, and the recording, for the stream cut at `cuts`."""
    recording = ChatStreamRecording(OURS)
    passed = b""
    bounds = [0, *sorted(set(cuts)), len(stream)]
    for start, end in itertools.pairwise(bounds):
        passed += recording.feed(stream[start:end])
    recording.finish()
    return passed, recording.release(), recording


@given(st.lists(st.integers(min_value=1, max_value=len(TOOLS) - 1), max_size=40))
def test_split_anywhere_the_stream_is_the_providers_with_our_id(cuts: list[int]) -> None:
    """However the chunks fall (an id split in two included), the client gets the provider's bytes with only the
    completion id changed, and the record is exactly what it got."""
    passed, held, recording = relay(TOOLS, cuts)
    assert passed + held == TOOLS.replace(b'"chatcmpl-Bx1"', orjson.dumps(OURS))
    assert recording.answer == passed + held
    assert recording.complete and recording.finish_reason == "tool_calls"


@pytest.mark.parametrize(("stream", "reason"), [(TOOLS, "tool_calls"), (REASONING, "length")])
def test_the_end_is_held_from_the_finish_chunk(stream: bytes, reason: str) -> None:
    """Everything from the chunk carrying the finish reason (usage and [DONE] after it) waits for the commit."""
    passed, held, recording = relay(stream, [random.Random(7).randrange(1, len(stream)) for _ in range(9)])
    assert held.startswith(b"data: {") and b'"finish_reason":"' + reason.encode() in held.split(b"\n")[0]
    assert held.rstrip().endswith(b"data: [DONE]")
    assert b'"finish_reason":"' not in passed and recording.finish_reason == reason


def test_without_a_finish_reason_done_is_the_end() -> None:
    chunk = b'data: {"id":"c1","choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'
    passed, held, recording = relay(chunk + b"data: [DONE]\n\n", [])
    assert passed == chunk.replace(b'"c1"', orjson.dumps(OURS)) and held == b"data: [DONE]\n\n"
    assert recording.complete and recording.finish_reason is None


def test_a_stream_that_never_ends_or_has_no_id_is_not_kept() -> None:
    chunk = b'data: {"id":"c1","choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'
    assert not relay(chunk, [])[2].complete
    assert not relay(b'data: {"choices":[]}\n\ndata: [DONE]\n\n', [])[2].complete


def test_a_cut_stream_releases_what_it_held() -> None:
    recording = ChatStreamRecording(OURS)
    recording.feed(TOOLS[:-30])
    assert recording.release().startswith(b"data: {") and not recording.release().endswith(b"\n\n")


def test_a_whole_completion_gets_our_id() -> None:
    body = b'{"id": "c-1", "object": "chat.completion", "choices": [{"finish_reason": "stop", "message": {}}]}'
    answer, completion = recorded_completion(body, OURS)
    assert answer == body.replace(b'"c-1"', orjson.dumps(OURS))
    assert completion is not None and finish_reason_of(completion) == "stop"
    assert recorded_completion(b"not json", OURS) == (b"not json", None)
    assert recorded_completion(b'{"object": "chat.completion"}', OURS)[1] is None
