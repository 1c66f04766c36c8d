"""Items replayed to a native Responses upstream: serialised once, kept by identity, bounded."""

from __future__ import annotations

import orjson

from plano_proxy.transformers.canonical import Item
from plano_proxy.transformers.reasoning_codec import pack_anthropic_block
from plano_proxy.transformers.responses_replay import ReplayMemo


def wire(fragments: list[orjson.Fragment]) -> list[Item]:
    items: list[Item] = orjson.loads(orjson.dumps(fragments))
    return items


def message(item_id: str, text: str) -> Item:
    return {"id": item_id, "type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def test_items_are_sent_without_ids_and_only_openai_reasoning() -> None:
    openai = {"id": "rs_1", "type": "reasoning", "summary": [], "encrypted_content": "gAAAAB=="}
    claude = {
        "id": "rs_2",
        "type": "reasoning",
        "summary": [],
        "encrypted_content": pack_anthropic_block({"type": "thinking", "thinking": "t", "signature": "s"}),
    }
    call = {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}
    history = (message("msg_1", "hi"), openai, claude, call)
    assert wire(ReplayMemo().replayed(history)) == [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
        {"type": "reasoning", "summary": [], "encrypted_content": "gAAAAB=="},
        call,
    ]
    assert "id" in history[0], "the stored item itself keeps its id"


def test_a_history_sent_again_reuses_each_items_serialised_form() -> None:
    memo = ReplayMemo()
    history = tuple(message(f"msg_{n}", f"turn {n}") for n in range(5))
    first = memo.replayed(history)
    longer = memo.replayed((*history, message("msg_new", "next")))
    assert all(again is before for again, before in zip(longer, first, strict=False))
    assert wire(longer)[-1]["content"][0]["text"] == "next"


def test_items_are_told_apart_by_object_not_by_their_id() -> None:
    """Two clients' items may carry the same id with different content; each is sent as it is."""
    memo = ReplayMemo()
    mine, theirs = message("msg_1", "mine"), message("msg_1", "theirs")
    assert wire(memo.replayed((mine,)))[0]["content"][0]["text"] == "mine"
    assert wire(memo.replayed((theirs,)))[0]["content"][0]["text"] == "theirs"


def test_the_memo_is_bounded_and_keeps_what_is_still_in_use() -> None:
    memo = ReplayMemo(items_per_generation=2)
    kept = message("msg_kept", "in use")
    first = memo.replayed((kept,))[0]
    for n in range(3):  # two generations' worth of other items pass through
        memo.replayed((message(f"msg_{n}", "other"),))
        assert memo.replayed((kept,))[0] is first, "an item used on every turn is not serialised again"
    assert len(memo._young) <= 2 and len(memo._old) <= 2
    for n in range(4):
        memo.replayed((message(f"msg_later_{n}", "other"),))
    again = memo.replayed((kept,))[0]
    assert again is not first and orjson.dumps([again]) == orjson.dumps([first]), "dropped, then made again"
