"""The history memo: a stored history's upstream form and compaction check, worked out once, never wrong."""

from __future__ import annotations

import dataclasses

import orjson

from plano_proxy.transformers.canonical import CanonicalRequest, Item
from plano_proxy.transformers.compaction import pack_summary
from plano_proxy.transformers.history_memo import HistoryMemo
from plano_proxy.transformers.reasoning_codec import pack_anthropic_block


def message(item_id: str, text: str, role: str = "user") -> Item:
    kind = "input_text" if role == "user" else "output_text"
    return {"id": item_id, "type": "message", "role": role, "content": [{"type": kind, "text": text}]}


def turn(history: tuple[Item, ...], *new: Item) -> CanonicalRequest:
    return CanonicalRequest(model="m", items=(*history, *new), history=history)


def sent(memo: HistoryMemo, request: CanonicalRequest) -> list[Item]:
    items: list[Item] = orjson.loads(orjson.dumps(memo.replayed_input(request)))
    return items


def texts(items: list[Item]) -> list[str]:
    return [item["content"][0]["text"] for item in items]


def test_items_are_sent_without_ids_and_only_openai_reasoning() -> None:
    openai = {"id": "rs_1", "type": "reasoning", "summary": [], "encrypted_content": "gAAAAB=="}
    thinking = pack_anthropic_block({"type": "thinking", "thinking": "t", "signature": "s"})
    claude = {"id": "rs_2", "type": "reasoning", "summary": [], "encrypted_content": thinking}
    history = (message("msg_1", "hi"), openai, claude)
    call = {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}
    for memo in (HistoryMemo(), HistoryMemo()):
        request = turn(history, call)
        assert sent(memo, request) == [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
            {"type": "reasoning", "summary": [], "encrypted_content": "gAAAAB=="},
            call,
        ]
        assert sent(memo, request) == sent(memo, request), "the kept form is the one made the first time"
    assert "id" in history[0], "the stored item itself keeps its id"


def test_a_growing_chain_and_a_response_continued_again_are_sent_whole() -> None:
    """Each turn's body is what serialising it from scratch gives, whether its history was kept, grew or forked."""
    memo = HistoryMemo()
    history: tuple[Item, ...] = ()
    for n in range(6):
        question = message(f"msg_q{n}", f"q{n}")
        assert texts(sent(memo, turn(history, question))) == [*texts(sent(HistoryMemo(), turn(history))), f"q{n}"]
        history = (*history, question, message(f"msg_a{n}", f"a{n}", "assistant"))
    for fork in ("x", "y"):
        assert texts(sent(memo, turn(history, message(f"msg_{fork}", fork))))[-3:] == ["q5", "a5", fork]
    # No reasoning or other item is replayed: an empty kept run joins cleanly.
    thinking = pack_anthropic_block({"type": "thinking", "thinking": "t", "signature": "s"})
    silent = ({"id": "rs", "type": "reasoning", "summary": [], "encrypted_content": thinking},)
    assert sent(memo, turn(silent)) == []
    assert texts(sent(memo, turn(silent, message("msg_z", "z")))) == ["z"]


def test_a_request_whose_items_no_longer_begin_with_its_history_is_sent_as_it_is() -> None:
    """The history is a hint: items rewritten since (truncated, compactions expanded) are never replaced by it."""
    memo = HistoryMemo()
    history = tuple(message(f"msg_{n}", f"t{n}") for n in range(4))
    request = turn(history, message("msg_new", "new"))
    sent(memo, request)
    truncated = dataclasses.replace(request, items=request.items[2:])
    assert texts(sent(memo, truncated)) == ["t2", "t3", "new"]
    edited = dataclasses.replace(request, items=(message("msg_0", "changed"), *request.items[1:]))
    assert texts(sent(memo, edited))[0] == "changed"


def test_compaction_is_found_in_the_history_and_in_the_new_items() -> None:
    memo = HistoryMemo()
    compaction = {"id": "cmp_1", "type": "compaction", "encrypted_content": pack_summary("so far")}
    plain = (message("msg_1", "hi"), message("msg_2", "hello", "assistant"))
    assert not memo.holds_compaction(turn(plain, message("msg_3", "next")))
    assert memo.holds_compaction(turn(plain, compaction))
    compacted = (*plain, compaction)
    assert memo.holds_compaction(turn(compacted, message("msg_4", "more")))
    grown = (*compacted, message("msg_4", "more"), message("msg_5", "sure", "assistant"))
    assert memo.holds_compaction(turn(grown, message("msg_6", "and")))
    assert memo.holds_compaction(CanonicalRequest(model="m", items=(*plain, compaction)))


def test_the_memo_is_bounded_by_size() -> None:
    memo = HistoryMemo(max_bytes=2_000)
    for chain in range(20):
        history = tuple(message(f"msg_{chain}_{n}", "x" * 50) for n in range(10))
        sent(memo, turn(history))
    assert memo._bytes <= 2_000 and 0 < len(memo._runs) < 20
