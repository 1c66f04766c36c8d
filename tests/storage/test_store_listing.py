"""The listing contract (`Store.list_conversations`, `list_chains`, `list_conversation_responses`), checked
identically on every store: what the playground's side list shows of one owner's state."""

from __future__ import annotations

from typing import Any

from plano_proxy.storage import Conversation, Store, StoredResponse


def turn(owner: str | None, response_id: str, created_at: int = 1_700_000_000, **extra: Any) -> StoredResponse:
    return StoredResponse(response_id, owner, created_at, "completed", "gpt-4o-mini", **extra)


def said(text: str) -> list[dict[str, Any]]:
    return [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}]


async def test_conversations_are_listed_newest_first_for_their_owner_only(store: Store) -> None:
    """Newest first by creation time, then by id for those created in the same second; another owner's (and the
    keyless ones) are not listed; limit cuts the list."""
    for conversation_id, created_at in (("conv_a", 10), ("conv_c", 30), ("conv_b1", 20), ("conv_b2", 20)):
        await store.create_conversation(Conversation(conversation_id, "key-a", created_at, {"n": conversation_id}))
    await store.create_conversation(Conversation("conv_theirs", "key-b", 40, {}))
    await store.create_conversation(Conversation("conv_keyless", None, 50, {}))
    listed = await store.list_conversations("key-a")
    assert [c.id for c in listed] == ["conv_c", "conv_b2", "conv_b1", "conv_a"]
    assert listed[0] == Conversation("conv_c", "key-a", 30, {"n": "conv_c"})
    assert [c.id for c in await store.list_conversations("key-a", limit=2)] == ["conv_c", "conv_b2"]
    assert [c.id for c in await store.list_conversations("key-b")] == ["conv_theirs"]
    assert [c.id for c in await store.list_conversations(None)] == ["conv_keyless"]
    assert await store.list_conversations("key-nobody") == []
    assert await store.delete_conversation("conv_c", "key-a")
    assert [c.id for c in await store.list_conversations("key-a", limit=1)] == ["conv_b2"]


async def test_a_chain_is_listed_once_by_its_last_response(store: Store) -> None:
    """A chain of three turns is one entry, its last response, without its events; a single turn is a chain; a
    fork makes a second chain end while the original end stays listed; newest first."""
    await store.save_turn(turn("key-a", "resp_1", 100), said("one"), [])
    await store.save_turn(turn("key-a", "resp_2", 101, previous_response_id="resp_1"), said("two"), [])
    events = [{"type": "response.created", "sequence_number": 0}]
    await store.save_turn(turn("key-a", "resp_3", 102, previous_response_id="resp_2", events=events), said("3"), [])
    await store.save_turn(turn("key-a", "resp_solo", 103), said("alone"), [])
    assert [r.id for r in await store.list_chains("key-a")] == ["resp_solo", "resp_3"]
    await store.save_turn(turn("key-a", "resp_fork", 104, previous_response_id="resp_1"), said("fork"), [])
    listed = await store.list_chains("key-a")
    assert [r.id for r in listed] == ["resp_fork", "resp_solo", "resp_3"]
    end = listed[2]
    assert (end.model, end.previous_response_id, end.events) == ("gpt-4o-mini", "resp_2", None)
    assert (await store.get_response("resp_3", "key-a")) is not None
    assert [r.id for r in await store.list_chains("key-a", limit=1)] == ["resp_fork"]


async def test_chains_are_the_owners_and_leave_conversations_out(store: Store) -> None:
    """Another owner's responses are never listed, nor do they end this owner's chains; responses of a conversation
    are listed with the conversation, not as chains; same-second ends come by id descending."""
    await store.save_turn(turn("key-a", "resp_a1"), said("mine"), [])
    await store.save_turn(turn("key-b", "resp_b1", previous_response_id="resp_a1"), said("theirs"), [])
    await store.create_conversation(Conversation("conv_1", "key-a", 1, {}))
    await store.save_turn(turn("key-a", "resp_in_conv", conversation_id="conv_1"), said("in a conversation"), [])
    await store.save_turn(turn("key-a", "resp_a2"), said("also mine"), [])
    assert [r.id for r in await store.list_chains("key-a")] == ["resp_a2", "resp_a1"]
    assert [r.id for r in await store.list_chains("key-b")] == ["resp_b1"]
    assert await store.list_chains(None) == []


async def test_deleting_the_last_response_makes_its_parent_the_end(store: Store) -> None:
    """A deleted response is not listed, and the response it continued ends its chain again."""
    await store.save_turn(turn(None, "resp_1", 100), said("one"), [])
    await store.save_turn(turn(None, "resp_2", 101, previous_response_id="resp_1"), said("two"), [])
    assert [r.id for r in await store.list_chains(None)] == ["resp_2"]
    assert await store.delete_response("resp_2", None)
    assert [r.id for r in await store.list_chains(None)] == ["resp_1"]


async def test_a_background_response_saved_again_is_listed_once_as_it_now_is(store: Store) -> None:
    """A queued response stored again when it finishes stays one entry, with its new status."""
    await store.save_turn(StoredResponse("resp_bg", None, 5, "queued", "gpt-4o"), said("later"), [])
    await store.save_turn(StoredResponse("resp_bg", None, 5, "completed", "gpt-4o"), said("later"), [])
    assert [(r.id, r.status) for r in await store.list_chains(None)] == [("resp_bg", "completed")]


async def test_a_conversations_responses_are_listed_oldest_first(store: Store) -> None:
    """The live responses that added to the conversation, oldest first, with model and provider, without events;
    None for an unknown conversation or another owner's."""
    await store.create_conversation(Conversation("conv_1", "key-a", 1, {}))
    events = [{"type": "response.created", "sequence_number": 0}]
    first = turn("key-a", "resp_1", 100, conversation_id="conv_1", provider="openai/gpt-4o-mini", events=events)
    await store.save_turn(first, said("one"), [])
    second = StoredResponse(
        "resp_2",
        "key-a",
        101,
        "completed",
        "claude-sonnet-4-5",
        "anthropic/claude-sonnet-4-5",
        conversation_id="conv_1",
    )
    await store.save_turn(second, said("two"), [])
    await store.save_turn(turn("key-a", "resp_gone", 102, conversation_id="conv_1"), said("three"), [])
    await store.save_turn(turn("key-a", "resp_elsewhere", 103), said("four"), [])
    assert await store.delete_response("resp_gone", "key-a")
    listed = await store.list_conversation_responses("conv_1", "key-a")
    assert listed is not None
    assert [(r.id, r.model, r.provider, r.events) for r in listed] == [
        ("resp_1", "gpt-4o-mini", "openai/gpt-4o-mini", None),
        ("resp_2", "claude-sonnet-4-5", "anthropic/claude-sonnet-4-5", None),
    ]
    assert await store.list_conversation_responses("conv_1", "key-b") is None
    assert await store.list_conversation_responses("conv_unknown", "key-a") is None
    await store.create_conversation(Conversation("conv_empty", "key-a", 2, {}))
    assert await store.list_conversation_responses("conv_empty", "key-a") == []
