"""SSE decoder: the same messages however the bytes are split, per the event-stream grammar."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from plano_proxy.transformers.sse import SSEDecoder, SSEMessage, frame_data, frame_named

STREAM = (
    b": keep-alive comment\r\n"
    b'event: message_start\r\ndata: {"a": "caf\xc3\xa9 \xe2\x80\xa8 line"}\r\n\r\n'
    b"data: first\ndata: second\n\n"
    b"event: ping\rdata: {}\r\r"
    b"data:no-space\n\n"
    b"event: lonely\n\n"
    b"data: [DONE]\n\n"
)
EXPECTED = [
    SSEMessage("message_start", '{"a": "café \u2028 line"}'),
    SSEMessage(None, "first\nsecond"),
    SSEMessage("ping", "{}"),
    SSEMessage(None, "no-space"),
    SSEMessage(None, "[DONE]"),
]


def decode_in_pieces(data: bytes, cuts: list[int]) -> list[SSEMessage]:
    decoder = SSEDecoder()
    messages: list[SSEMessage] = []
    previous = 0
    for cut in sorted(set(cuts)):
        messages += decoder.decode(data[previous:cut])
        previous = cut
    messages += decoder.decode(data[previous:])
    return messages + decoder.flush()


def test_whole_stream() -> None:
    """CRLF, LF and CR line ends, comments, multi-line data, U+2028 inside JSON and nameless events all decode."""
    assert decode_in_pieces(STREAM, []) == EXPECTED


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=20))
def test_any_split_gives_the_same_messages(cuts: list[int]) -> None:
    """Splitting the bytes anywhere (inside CRLF, inside a UTF-8 character) changes nothing."""
    assert decode_in_pieces(STREAM, cuts) == EXPECTED


@given(
    st.lists(
        st.dictionaries(st.text(max_size=5).filter(lambda key: key != "type"), st.text(max_size=20), max_size=3),
        max_size=5,
    ),
    st.data(),
)
def test_framed_events_round_trip(payloads: list[dict[str, str]], data: st.DataObject) -> None:
    """What the gateway frames, the decoder reads back unchanged, split anywhere."""
    stream = b"".join(frame_named({"type": "t", **p}) if i % 2 else frame_data(p) for i, p in enumerate(payloads))
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=len(stream)), max_size=10))
    decoded = decode_in_pieces(stream, cuts)
    assert [m.json() for m in decoded] == [({"type": "t", **p} if i % 2 else p) for i, p in enumerate(payloads)]
    assert [m.event for m in decoded] == [("t" if i % 2 else None) for i in range(len(payloads))]


def test_unterminated_last_event_is_flushed() -> None:
    """An event cut off without its blank line is still delivered by flush()."""
    decoder = SSEDecoder()
    assert decoder.decode(b"data: tail") == []
    assert decoder.flush() == [SSEMessage(None, "tail")]
