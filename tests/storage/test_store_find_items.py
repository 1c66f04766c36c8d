"""The `Store.find_items` contract (items by id, for item references), checked identically on every store."""

from __future__ import annotations

from typing import Any

from plano_proxy.storage import Conversation, Store, StoredResponse

CALL = {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_weather", "arguments": "{}"}


def message(item_id: str, role: str = "user") -> dict[str, Any]:
    part = "input_text" if role == "user" else "output_text"
    return {"id": item_id, "type": "message", "role": role, "content": [{"type": part, "text": f"text of {item_id}"}]}


def owned_by(owner: str | None, response_id: str, **extra: Any) -> StoredResponse:
    return StoredResponse(response_id, owner, 1_700_000_000, "completed", "gpt-4o-mini", **extra)


async def test_items_of_any_response_or_conversation_of_the_owner_are_found(store: Store) -> None:
    """Input and output items of unrelated responses and items of conversations (created with it or added by a
    turn) come back by id from one lookup, each as stored."""
    await store.save_turn(owned_by("key-a", "resp_1"), [message("msg_q")], [message("msg_a", "assistant"), CALL])
    await store.save_turn(owned_by("key-a", "resp_2"), [message("msg_other")], [])
    await store.create_conversation(Conversation("conv_1", "key-a", 1, {}), [message("msg_seed")])
    await store.save_turn(owned_by("key-a", "resp_3", conversation_id="conv_1"), [message("msg_turn")], [])
    wanted = ["fc_1", "msg_a", "msg_q", "msg_other", "msg_seed", "msg_turn"]
    found = await store.find_items(wanted, "key-a")
    assert sorted(found) == sorted(wanted)
    assert found["fc_1"] == CALL
    assert found["msg_a"] == message("msg_a", "assistant")
    assert found["msg_seed"] == message("msg_seed")


async def test_another_owners_unknown_and_deleted_items_are_not_found(store: Store) -> None:
    """Only the owner's items are found; a deleted response's or conversation's items and unknown ids are absent,
    and the lookup does not fail for them."""
    await store.save_turn(owned_by("key-a", "resp_mine"), [message("msg_mine")], [])
    await store.save_turn(owned_by("key-b", "resp_theirs"), [message("msg_theirs")], [])
    await store.save_turn(owned_by(None, "resp_keyless"), [message("msg_keyless")], [])
    await store.create_conversation(Conversation("conv_b", "key-b", 1, {}), [message("msg_their_note")])
    await store.save_turn(owned_by("key-a", "resp_gone"), [message("msg_gone")], [message("msg_gone_answer")])
    await store.create_conversation(Conversation("conv_gone", "key-a", 1, {}), [message("msg_gone_note")])
    assert await store.delete_response("resp_gone", "key-a")
    assert await store.delete_conversation("conv_gone", "key-a")
    everything = ["msg_mine", "msg_theirs", "msg_keyless", "msg_their_note", "msg_gone", "msg_gone_answer"]
    everything += ["msg_gone_note", "msg_unknown"]
    assert list(await store.find_items(everything, "key-a")) == ["msg_mine"]
    assert sorted(await store.find_items(everything, "key-b")) == ["msg_their_note", "msg_theirs"]
    assert list(await store.find_items(everything, None)) == ["msg_keyless"]
    assert await store.find_items(["msg_unknown"], "key-a") == {}
    assert await store.find_items([], "key-a") == {}


async def test_an_item_carried_into_later_turns_is_found_once(store: Store) -> None:
    """A referenced item is stored again, with its id, by the turn that used it: it is still one item, and it stays
    found through that turn when the response it came from is deleted."""
    await store.save_turn(owned_by(None, "resp_origin"), [], [message("msg_answer", "assistant")])
    await store.save_turn(owned_by(None, "resp_reuse"), [message("msg_answer", "assistant"), message("msg_new")], [])
    assert await store.find_items(["msg_answer"], None) == {"msg_answer": message("msg_answer", "assistant")}
    assert await store.delete_response("resp_origin", None)
    assert list(await store.find_items(["msg_answer"], None)) == ["msg_answer"]
