"""Reading token counts off relayed bytes: split anywhere, both formats, and nothing parsed without usage."""

from __future__ import annotations

import pytest

from plano_proxy.proxy.stream.usage_tap import StreamUsageTap, anthropic_usage, read_chat_usage, usage_of_body
from plano_proxy.transformers.canonical import Usage

CHAT_STREAM = (
    b'data: {"id":"c","choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'
    b'data: {"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    b'data: {"id":"c","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,'
    b'"prompt_tokens_details":{"cached_tokens":2}}}\n\n'
    b"data: [DONE]\n\n"
)
ANTHROPIC_STREAM = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"m","usage":{"input_tokens":5,'
    b'"cache_read_input_tokens":4,"output_tokens":1}}}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta",'
    b'"text":"the word usage in text"}}\n\n'
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},'
    b'"usage":{"output_tokens":12}}\n\n'
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
)


@pytest.mark.parametrize("split", range(1, len(CHAT_STREAM), 7))
def test_chat_stream_usage_found_wherever_the_chunks_split(split: int) -> None:
    tap = StreamUsageTap(read_chat_usage)
    tap.feed(CHAT_STREAM[:split])
    tap.feed(CHAT_STREAM[split:])
    assert tap.usage == Usage(input_tokens=7, output_tokens=3, cached_tokens=2)


@pytest.mark.parametrize("split", range(1, len(ANTHROPIC_STREAM), 11))
def test_anthropic_stream_usage_joins_start_and_delta(split: int) -> None:
    tap = StreamUsageTap(anthropic_usage())
    tap.feed(ANTHROPIC_STREAM[:split])
    tap.feed(ANTHROPIC_STREAM[split:])
    assert tap.usage == Usage(input_tokens=9, output_tokens=12, cached_tokens=4)


def test_whole_bodies() -> None:
    assert usage_of_body(b'{"usage":{"prompt_tokens":3,"completion_tokens":1}}', read_chat_usage) == Usage(3, 1)
    message = b'{"type":"message","usage":{"input_tokens":2,"output_tokens":6}}'
    assert usage_of_body(message, anthropic_usage()) == Usage(2, 6)
    assert usage_of_body(b'{"choices":[]}', read_chat_usage) is None
    assert usage_of_body(b'not json "usage"', read_chat_usage) is None


OPENAI_STREAM_WITH_NULL_USAGE = (
    b'data: {"id":"c","choices":[{"index":0,"delta":{"content":"hi"}}],"usage":null}\n\n'
    b'data: {"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage": null}\n\n'
    b'data: {"id":"c","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3}}\n\n'
    b"data: [DONE]\n\n"
)


@pytest.mark.parametrize("split", range(1, len(OPENAI_STREAM_WITH_NULL_USAGE), 9))
def test_null_usage_chunks_are_not_parsed(split: int) -> None:
    """OpenAI's "usage": null on every chunk costs no JSON parse; only the usage chunk is read."""
    read: list[dict[str, object]] = []

    def reader(payload: dict[str, object]) -> Usage | None:
        read.append(payload)
        return read_chat_usage(payload)

    tap = StreamUsageTap(reader)
    tap.feed(OPENAI_STREAM_WITH_NULL_USAGE[:split])
    tap.feed(OPENAI_STREAM_WITH_NULL_USAGE[split:])
    assert tap.usage == Usage(input_tokens=7, output_tokens=3)
    assert [payload["choices"] for payload in read] == [[]]
