"""A chat turn recorded as the exchange it was → the Responses object and items a translated chat turn is kept as.

The byte relay stores a chat turn as the request the client sent and the answer as it was relayed (a whole
``chat.completion`` or its SSE stream). This reads such a record the way the translated path reads a turn as it
happens: the request through `chat_request_to_canonical`, the answer through the chat decoders into a
`ResponsesEncoder` whose echo is the one a stored chat turn has. So a recorded turn and a translated one give the
same response object and the same items; only when, and how often, the translation runs differs.

The ids and the clock are injected, as for every encoder: the store derives item ids from the response id, so every
reading of one record gives the same ids.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from plano_proxy.transformers.canonical import Event, Item
from plano_proxy.transformers.chat_decoder import ChatStreamDecoder, chat_completion_to_events
from plano_proxy.transformers.chat_request import chat_request_to_canonical, check_chat_request
from plano_proxy.transformers.ids import IdFactory
from plano_proxy.transformers.responses_encoder import ResponsesEncoder
from plano_proxy.transformers.responses_object import echo_fields
from plano_proxy.transformers.sse import SSEDecoder

CUT_SHORT = frozenset({"length", "content_filter"})
"""Chat finish reasons that leave a Responses answer ``incomplete`` (every other one completes it)."""


@dataclass(frozen=True, slots=True)
class ChatTurn:
    response: dict[str, Any]
    """The Responses object, as `ResponsesEncoder.response` gives it."""
    input_items: list[Item]
    """Without ids: the store gives them theirs."""
    output_items: list[Item]


def chat_status(finish_reason: str | None) -> str:
    """The status of the Responses object a chat answer with this finish reason becomes."""
    return "incomplete" if finish_reason in CUT_SHORT else "completed"


def chat_echo(model: str, previous_response_id: str | None) -> dict[str, Any]:
    """What the Responses object of a stored chat turn echoes: the model, and the state it continues."""
    return {
        **echo_fields({"model": model}),
        "previous_response_id": previous_response_id,
        "conversation": None,
        "store": True,
    }


def chat_turn(
    request: bytes,
    answer: bytes,
    *,
    streamed: bool,
    echo: dict[str, Any],
    ids: Callable[[int], IdFactory],
    clock: Callable[[], int],
) -> ChatTurn:
    """The recorded turn read back. ``ids(n)`` is the id factory of a turn with ``n`` input items."""
    canonical = chat_request_to_canonical(check_chat_request(orjson.loads(request)))
    encoder = ResponsesEncoder(canonical, echo, ids(len(canonical.items)), clock)
    for event in _stream_events(answer) if streamed else chat_completion_to_events(orjson.loads(answer)):
        encoder.feed(event)
    encoder.finish()
    return ChatTurn(encoder.response(), list(canonical.items), encoder.output_items())


def _stream_events(answer: bytes) -> list[Event]:
    sse, decoder = SSEDecoder(), ChatStreamDecoder()
    messages = [*sse.decode(answer), *sse.flush()]
    return [event for message in messages for event in decoder.feed(message)] + decoder.finish()
