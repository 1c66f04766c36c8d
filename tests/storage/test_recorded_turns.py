"""Chat turns kept as the exchange they were, read back on every store as the translated path stores a chat turn.

The reference is the translated path's own pipeline: the request parsed into the canonical model, the provider's
answer decoded as it arrives (split at random points) and fed to a `ResponsesEncoder` beside the client's
`ChatEncoder`, and the turn saved as items. The same request and answer saved as a `RecordedExchange` must read back
as the same response object and the same items, ids aside (ids are minted: the reference's at random, the record's
from its response id).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson
import pytest
from storage_fixtures import Stores

from plano_proxy.storage import Store, StoredResponse, StoredTurn, with_item_ids
from plano_proxy.storage.base import RecordedExchange
from plano_proxy.storage.exchange import to_record_fields
from plano_proxy.transformers.canonical import Event
from plano_proxy.transformers.chat_decoder import ChatStreamDecoder, chat_completion_to_events
from plano_proxy.transformers.chat_encoder import ChatEncoder
from plano_proxy.transformers.chat_record import chat_status
from plano_proxy.transformers.chat_request import chat_request_to_canonical, check_chat_request
from plano_proxy.transformers.framers import TeeEncoder
from plano_proxy.transformers.ids import random_id, with_response_id
from plano_proxy.transformers.responses_encoder import ResponsesEncoder
from plano_proxy.transformers.responses_object import echo_fields
from plano_proxy.transformers.sse import SSEDecoder

CHAT_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "chat"
CREATED = 1_735_689_600
MODEL = "fast-model"
TOOL = {"type": "function", "function": {"name": "get_capital", "parameters": {"type": "object"}}}
MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": [{"type": "text", "text": "Capital of France?"}]},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_capital", "arguments": '{"country":"France"}'}}
    ]},
    {"role": "tool", "tool_call_id": "call_1", "content": "Paris"},
    {"role": "user", "content": "And of Peru?", "name": "ana"},
]  # fmt: skip


def completion(message: dict[str, Any], finish: str) -> bytes:
    usage = {"prompt_tokens": 20, "completion_tokens": 7, "total_tokens": 27}
    choice = {"index": 0, "message": {"role": "assistant", **message}, "logprobs": None, "finish_reason": finish}
    body = {"id": "chatcmpl-up", "object": "chat.completion", "created": 1, "model": "m", "choices": [choice]}
    return orjson.dumps({**body, "usage": usage})


WHOLE = {
    "text": completion({"content": "Lima.", "refusal": None}, "stop"),
    "calls": completion(
        {"content": None, "tool_calls": [{"id": "call_2", "type": "function", "function": {"name": "get_capital"}}]},
        "tool_calls",
    ),
    "cut": completion({"content": "Li", "reasoning_content": "Peru..."}, "length"),
    "refusal": completion({"content": None, "refusal": "No."}, "content_filter"),
}
STREAMS = {path.stem: path.read_bytes() for path in sorted(CHAT_FIXTURES.glob("*.sse")) if "error" not in path.stem}
ANSWERS = [(name, answer, False) for name, answer in WHOLE.items()] + [
    (name, answer, True) for name, answer in STREAMS.items()
]


def request_body(streamed: bool) -> bytes:
    extra: dict[str, Any] = {"stream": True, "stream_options": {"include_usage": True}} if streamed else {}
    return orjson.dumps({"model": MODEL, "messages": MESSAGES, "tools": [TOOL], "temperature": 0.2, **extra})


def finish_reason(answer: bytes, streamed: bool) -> str | None:
    if not streamed:
        return str(orjson.loads(answer)["choices"][0]["finish_reason"])
    for line in answer.splitlines():
        if line.startswith(b"data: {"):
            for choice in orjson.loads(line[6:]).get("choices") or []:
                if choice.get("finish_reason"):
                    return str(choice["finish_reason"])
    return None


def translated(request: bytes, answer: bytes, streamed: bool, previous: str | None, seed: int) -> StoredTurn:
    """The turn as the translated path stores it (the request parsed, the answer fed as it arrives to the client's
    encoder and the recording one, the record's echo that of a stored chat turn)."""
    canonical = chat_request_to_canonical(check_chat_request(orjson.loads(request)))
    chat = ChatEncoder(model=MODEL, ids=random_id, clock=lambda: CREATED, include_usage=canonical.include_usage)
    echo = {**echo_fields({"model": MODEL}), "previous_response_id": previous, "conversation": None, "store": True}
    record = ResponsesEncoder(canonical, echo, with_response_id(chat.id), lambda: CREATED)
    tee = TeeEncoder(chat, record)
    for event in _arriving(answer, seed) if streamed else chat_completion_to_events(orjson.loads(answer)):
        tee.feed(event)
    tee.finish()
    response = record.response()
    stored = StoredResponse(
        id=response["id"], owner=None, model=MODEL, provider="openai/gpt-4o-mini", previous_response_id=previous,
        **to_record_fields(response),
    )  # fmt: skip
    return StoredTurn(stored, with_item_ids(canonical.items), record.output_items())


def _arriving(answer: bytes, seed: int) -> list[Event]:
    cuts = sorted(random.Random(seed).sample(range(1, len(answer)), 12))
    sse, decoder = SSEDecoder(), ChatStreamDecoder()
    events: list[Event] = []
    for start, end in zip([0, *cuts], [*cuts, len(answer)], strict=True):
        events += [event for message in sse.decode(answer[start:end]) for event in decoder.feed(message)]
    return events + [event for message in sse.flush() for event in decoder.feed(message)] + decoder.finish()


def recorded(request: bytes, answer: bytes, streamed: bool, previous: str | None) -> StoredTurn:
    record = StoredResponse(
        id=random_id("chatcmpl-"),
        owner=None,
        created_at=CREATED,
        status=chat_status(finish_reason(answer, streamed)),
        model=MODEL,
        provider="openai/gpt-4o-mini",
        previous_response_id=previous,
        completed_at=CREATED,
        exchange=RecordedExchange("chat-stream" if streamed else "chat", request, answer),
    )
    return StoredTurn(record, [], [])


def without_ids(value: Any, seen: dict[str, str] | None = None) -> Any:
    """The value with every id replaced by its order of first appearance, so minted ids compare equal."""
    seen = {} if seen is None else seen
    if isinstance(value, dict):
        return {
            key: seen.setdefault(item, f"id{len(seen)}") if key == "id" else without_ids(item, seen)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [without_ids(item, seen) for item in value]
    return value


def readable(record: StoredResponse | None) -> dict[str, Any]:
    assert record is not None
    fields = ("status", "request", "output", "usage", "error", "completed_at", "created_at", "model")
    return without_ids({name: getattr(record, name) for name in fields})


async def read_back(store: Store, response_id: str) -> tuple[dict[str, Any], Any, Any]:
    page = await store.list_input_items(response_id, None, order="asc", limit=100)
    assert page is not None
    return (
        readable(await store.get_response(response_id, None)),
        without_ids(await store.history(response_id, None)),
        without_ids(page.items),
    )


@pytest.mark.parametrize(("name", "answer", "streamed"), ANSWERS, ids=[f"{n}-{s}" for n, _, s in ANSWERS])
async def test_a_recorded_turn_reads_back_as_the_translated_turn(
    stores: Stores, name: str, answer: bytes, streamed: bool
) -> None:
    """Response object, history and input items equal the translated path's, whole answers and streams alike."""
    store = await stores.open()
    request = request_body(streamed)
    reference = translated(request, answer, streamed, None, seed=len(name))
    kept = recorded(request, answer, streamed, None)
    await store.save_turns([reference, kept])
    expected = await read_back(store, reference.response.id)
    assert expected[0]["output"], "the fixture gives an answer"
    assert await read_back(store, kept.response.id) == expected
    if stores.kind != "memory":  # another instance on the same database reads it the same, ids included
        again = await stores.open()
        assert await again.history(kept.response.id, None) == await store.history(kept.response.id, None)


async def test_recorded_turns_in_a_chain(stores: Stores) -> None:
    """A recorded turn continuing a translated one, and a translated one continuing it, have the translated
    chain's history; each reading gives the same ids, and those ids are found by item reference."""
    store = await stores.open()
    whole, stream = WHOLE["calls"], STREAMS["tool_calls_with_usage"]
    first = translated(request_body(False), whole, False, None, seed=1)
    second = recorded(request_body(True), stream, True, first.response.id)
    await store.save_turns([first, second])
    third = translated(request_body(False), whole, False, second.response.id, seed=3)
    await store.save_turns([third])
    reference_second = translated(request_body(True), stream, True, first.response.id, seed=2)
    reference_third = translated(request_body(False), whole, False, reference_second.response.id, seed=4)
    await store.save_turns([reference_second, reference_third])
    history = await store.history(third.response.id, None)
    assert without_ids(history) == without_ids(await store.history(reference_third.response.id, None))
    assert readable(await store.get_response(second.response.id, None)) == readable(
        await store.get_response(reference_second.response.id, None)
    )
    assert (
        await store.history(second.response.id, None)
        == (await store.history(third.response.id, None) or [])[: -len(third.input_items) - len(third.output_items)]
    )
    record = await store.get_response(second.response.id, None)
    assert record is not None and record.output
    wanted = [record.output[0]["id"], (await store.history(second.response.id, None) or [])[-3]["id"]]
    found = await (await stores.open()).find_items(wanted, None)
    assert sorted(found) == sorted(wanted)
    assert await store.find_items(wanted, "someone else") == {}
    assert await store.delete_response(second.response.id, None)
    assert await store.find_items(wanted, None) == {}
    assert await store.history(third.response.id, None) == history  # a later turn keeps its history


async def test_a_recorded_turn_counts_as_its_exchange(stores: Stores) -> None:
    """Retention sizes a recorded turn by the bytes it keeps, before and after it is read, and prunes it."""
    store = await stores.open()
    kept = recorded(request_body(True), STREAMS["tool_calls_with_usage"], True, None)
    await store.save_turns([kept])
    exchange = kept.response.exchange
    assert exchange is not None
    size = len(b"{}[]") + len(exchange.request) + len(exchange.answer)
    before = await store.stats()
    assert (before.responses, before.items, before.bytes) == (1, 0, size)
    assert await store.history(kept.response.id, None)
    assert await store.stats() == before
    assert (await store.prune(idle_before=CREATED + 1)).responses == 1
    assert await store.get_response(kept.response.id, None) is None
