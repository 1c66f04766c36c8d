"""The `Store` contract, checked identically on the memory, SQLite and PostgreSQL stores."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from storage_fixtures import Stores

from plano_proxy.storage import Conversation, Store, StoredResponse, StoredTurn
from plano_proxy.transformers.ids import random_id

PNG = "data:image/png;base64," + base64.b64encode(bytes(range(256)) * 64).decode()


def user(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}], **extra}


def assistant(text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def response(response_id: str, previous: str | None = None, owner: str | None = None, **extra: Any) -> StoredResponse:
    fields: dict[str, Any] = {"created_at": 1_700_000_000, "status": "completed", "model": "gpt-4o-mini"}
    fields.update(extra)
    return StoredResponse(
        id=response_id, owner=owner, provider="openai/gpt-4o-mini", previous_response_id=previous, **fields
    )


def texts(items: list[dict[str, Any]] | None) -> list[str]:
    assert items is not None
    out = []
    for item in items:
        if item["type"] == "message":
            out.append(item["content"][0]["text"])
        else:
            out.append(item["type"])
    return out


async def chain(store: Store, depth: int, owner: str | None = None, prefix: str = "resp_") -> list[str]:
    """Saves a chain of ``depth`` turns (one question, one answer each); returns the response ids."""
    ids: list[str] = []
    for turn in range(depth):
        rid = f"{prefix}{turn}_{random_id('')[:8]}"
        await store.save_turn(
            response(rid, ids[-1] if ids else None, owner), [user(f"q{turn}")], [assistant(f"a{turn}")]
        )
        ids.append(rid)
    return ids


async def test_history_is_every_ancestor_input_then_output_oldest_first(store: Store) -> None:
    """A tool round trip with reasoning and an image comes back whole, in order, byte for byte."""
    reasoning = {
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": "thinking…"}],
        "encrypted_content": "gAAAA" + "x" * 500,
    }
    call = {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city": "Zürich"}'}
    first_in = [
        user("what is this?"),
        {"type": "message", "role": "user", "content": [{"type": "input_image", "image_url": PNG, "detail": "auto"}]},
    ]
    await store.save_turn(response("resp_a"), first_in, [reasoning, call])
    output = {"type": "function_call_output", "call_id": "call_1", "output": "22°C ☀"}
    await store.save_turn(response("resp_b", "resp_a"), [output], [assistant("It is sunny")])
    await store.save_turn(response("resp_c", "resp_b"), [user("thanks")], [assistant("you're welcome")])

    history = await store.history("resp_c", None)

    assert history is not None
    assert [{k: v for k, v in item.items() if k != "id"} for item in history] == [
        *first_in,
        reasoning,
        call,
        output,
        assistant("It is sunny"),
        user("thanks"),
        assistant("you're welcome"),
    ]
    assert [item["id"][: item["id"].index("_") + 1] for item in history] == [
        "msg_",
        "msg_",
        "rs_",
        "fc_",
        "fco_",
        "msg_",
        "msg_",
        "msg_",
    ]
    assert history[1]["content"][0]["image_url"] == PNG
    assert list(history[2]) == ["id", "type", "summary", "encrypted_content"]


async def test_items_keep_their_own_ids_and_get_unguessable_ones_otherwise(store: Store) -> None:
    """An item's own id is kept; minted ids are distinct and long enough not to be guessed."""
    await store.save_turn(response("resp_a"), [user("hi", id="msg_client")], [assistant("a"), assistant("b")])
    history = await store.history("resp_a", None)
    assert history is not None
    assert history[0]["id"] == "msg_client"
    minted = [item["id"] for item in history[1:]]
    assert len(set(minted)) == 2
    assert all(len(item_id) >= 40 for item_id in minted)


async def test_fork_from_an_earlier_response_has_only_its_own_branch(store: Store) -> None:
    """Two continuations of the same response do not see each other."""
    ids = await chain(store, 3)
    await store.save_turn(response("resp_fork", ids[0]), [user("other way")], [assistant("sure")])
    assert texts(await store.history("resp_fork", None)) == ["q0", "a0", "other way", "sure"]
    assert texts(await store.history(ids[2], None)) == ["q0", "a0", "q1", "a1", "q2", "a2"]


async def test_a_deep_chain_reads_back_whole_and_again_from_the_cache(store: Store) -> None:
    """History at depth 120 is complete, on the first read and on the next (cached) ones."""
    ids = await chain(store, 120)
    expected = [text for turn in range(120) for text in (f"q{turn}", f"a{turn}")]
    assert texts(await store.history(ids[-1], None)) == expected
    assert texts(await store.history(ids[-1], None)) == expected
    assert texts(await store.history(ids[60], None)) == expected[:122]


async def test_stored_response_round_trips_every_field(store: Store) -> None:
    """get_response returns the record as saved, events included."""
    events = [
        {"type": "response.created", "sequence_number": 0, "response": {"id": "resp_a"}},
        {"type": "response.completed", "sequence_number": 1},
    ]
    record = response(
        "resp_a",
        request={"instructions": "be brief", "temperature": 0.2, "metadata": {"k": "v"}, "tools": []},
        output=[assistant("hello")],
        usage={"input_tokens": 3, "output_tokens": 1, "input_tokens_details": {"cached_tokens": 0}},
        error=None,
        events=events,
        completed_at=1_700_000_005,
    )
    await store.save_turn(record, [user("hi")], [assistant("hello")])
    assert await store.get_response("resp_a", None) == record
    bad = StoredResponse("resp_b", None, 1, "failed", "m", error={"code": "server_error", "message": "boom"})
    await store.save_turn(bad, [user("x")], [])
    assert await store.get_response("resp_b", None) == bad


async def test_unknown_response_is_none_everywhere(store: Store) -> None:
    """Unknown ids read as None and delete as False."""
    assert await store.get_response("resp_nope", None) is None
    assert await store.history("resp_nope", None) is None
    assert await store.list_input_items("resp_nope", None) is None
    assert await store.delete_response("resp_nope", None) is False


async def test_another_owner_sees_nothing(store: Store) -> None:
    """Objects of one key are invisible to another key and to the keyless owner, and the reverse."""
    ids = await chain(store, 2, owner="key-a")
    for other in ("key-b", None):
        assert await store.get_response(ids[1], other) is None
        assert await store.history(ids[1], other) is None
        assert await store.list_input_items(ids[1], other) is None
        assert await store.delete_response(ids[1], other) is False
    assert texts(await store.history(ids[1], "key-a")) == ["q0", "a0", "q1", "a1"]
    keyless = await chain(store, 1, owner=None, prefix="resp_keyless")
    assert await store.get_response(keyless[0], "key-a") is None


async def test_a_chain_never_crosses_owners(store: Store) -> None:
    """A response continuing another owner's response has no history (it cannot borrow theirs)."""
    await store.save_turn(response("resp_a", owner="key-a"), [user("secret")], [assistant("ok")])
    await store.save_turn(response("resp_b", "resp_a", owner="key-b"), [user("hi")], [assistant("ok")])
    assert await store.history("resp_b", "key-b") is None


async def test_delete_hides_the_response_but_not_what_continues_it(store: Store) -> None:
    """A deleted response cannot be read or continued; its descendants keep their full history."""
    ids = await chain(store, 3)
    assert texts(await store.history(ids[1], None)) == ["q0", "a0", "q1", "a1"]  # now cached
    assert await store.delete_response(ids[1], None) is True
    assert await store.get_response(ids[1], None) is None
    assert await store.history(ids[1], None) is None
    assert await store.list_input_items(ids[1], None) is None
    assert await store.delete_response(ids[1], None) is False
    assert (await store.get_response(ids[2], None)) is not None
    assert texts(await store.history(ids[2], None)) == ["q0", "a0", "q1", "a1", "q2", "a2"]


async def test_input_items_page_like_openai_list_objects(store: Store) -> None:
    """after/before/limit/order and has_more over one response's input items (not its inherited history)."""
    await chain(store, 1, prefix="resp_parent")
    parent = (await chain(store, 1, prefix="resp_other"))[0]
    items = [user(f"m{n}", id=f"msg_{n}") for n in range(5)]
    await store.save_turn(response("resp_x", parent), items, [assistant("done")])

    async def page(**kwargs: Any) -> tuple[list[str], bool]:
        result = await store.list_input_items("resp_x", None, **kwargs)
        assert result is not None
        return [item["id"] for item in result.items], result.has_more

    assert await page() == (["msg_4", "msg_3", "msg_2", "msg_1", "msg_0"], False)
    assert await page(limit=2) == (["msg_4", "msg_3"], True)
    assert await page(limit=2, after="msg_3") == (["msg_2", "msg_1"], True)
    assert await page(limit=2, after="msg_1") == (["msg_0"], False)
    assert await page(order="asc", limit=3) == (["msg_0", "msg_1", "msg_2"], True)
    assert await page(order="asc", after="msg_2") == (["msg_3", "msg_4"], False)
    assert await page(order="asc", before="msg_3") == (["msg_0", "msg_1", "msg_2"], False)
    assert await page(order="asc", before="msg_3", limit=2) == (["msg_0", "msg_1"], True)
    assert await page(order="desc", before="msg_1") == (["msg_4", "msg_3", "msg_2"], False)
    assert await page(order="asc", after="msg_0", before="msg_4") == (["msg_1", "msg_2", "msg_3"], False)
    assert await page(after="msg_unknown") == ([], False)
    result = await store.list_input_items("resp_x", None, limit=2)
    assert result is not None and (result.first_id, result.last_id) == ("msg_4", "msg_3")


async def test_turns_on_a_conversation_append_their_items_in_order(store: Store) -> None:
    """Input then output of each turn land at the end of the conversation, which is the next turn's history."""
    created = await store.create_conversation(
        Conversation("conv_1", None, 1_700_000_000, {"topic": "x"}), [user("seed")]
    )
    assert created[0]["id"].startswith("msg_")
    for turn in range(3):
        record = response(f"resp_{turn}", conversation_id="conv_1")
        await store.save_turn(record, [user(f"q{turn}")], [assistant(f"a{turn}")])
    assert texts(await store.conversation_history("conv_1", None)) == ["seed", "q0", "a0", "q1", "a1", "q2", "a2"]
    assert texts(await store.history("resp_2", None)) == ["q2", "a2"]


async def test_cancel_unfinished_changes_only_an_unfinished_response(store: Store) -> None:
    """A queued response becomes cancelled with its items kept; a finished one, another owner's or an unknown one
    stays as it is."""
    await store.save_turn(response("resp_q", owner="team-a", status="queued"), [user("long job")], [])
    await store.save_turn(response("resp_done", owner="team-a"), [user("q")], [assistant("a")])
    assert not await store.cancel_unfinished("resp_q", "team-b")
    assert await store.cancel_unfinished("resp_q", "team-a")
    cancelled = await store.get_response("resp_q", "team-a")
    assert cancelled is not None and cancelled.status == "cancelled"
    assert texts(await store.history("resp_q", "team-a")) == ["long job"]
    assert not await store.cancel_unfinished("resp_done", "team-a")
    done = await store.get_response("resp_done", "team-a")
    assert done is not None and done.status == "completed"
    assert not await store.cancel_unfinished("resp_unknown", None)


async def test_ensure_conversation_creates_once_and_respects_its_owner(store: Store) -> None:
    """A named conversation starts empty on first use, is left as it is afterwards, and another owner cannot take it."""
    assert await store.ensure_conversation(Conversation("conv_named", "team-a", 1_700_000_000, {"k": "v"}))
    await store.save_turn(response("resp_n1", owner="team-a", conversation_id="conv_named"), [user("q")], [])
    assert await store.ensure_conversation(Conversation("conv_named", "team-a", 1_800_000_000))
    kept = await store.get_conversation("conv_named", "team-a")
    assert kept is not None and (kept.created_at, kept.metadata) == (1_700_000_000, {"k": "v"})
    assert texts(await store.conversation_history("conv_named", "team-a")) == ["q"]
    assert not await store.ensure_conversation(Conversation("conv_named", "team-b", 1_800_000_000))
    assert await store.get_conversation("conv_named", "team-b") is None


async def test_saving_a_response_again_replaces_it_without_duplicating_conversation_items(store: Store) -> None:
    """A background response saved queued then completed keeps one copy of its input in the conversation."""
    await store.create_conversation(Conversation("conv_1", None, 1, {}))
    question = user("q", id="msg_q")
    queued = StoredResponse("resp_bg", None, 1, "queued", "m", conversation_id="conv_1")
    await store.save_turn(queued, [question], [])
    assert texts(await store.history("resp_bg", None)) == ["q"]
    done = StoredResponse("resp_bg", None, 1, "completed", "m", conversation_id="conv_1", completed_at=2)
    await store.save_turn(done, [question], [assistant("a")])
    assert await store.get_response("resp_bg", None) == done
    assert texts(await store.history("resp_bg", None)) == ["q", "a"]
    assert texts(await store.conversation_history("conv_1", None)) == ["q", "a"]


async def test_a_batch_commits_parent_and_child_together(store: Store) -> None:
    """save_turns stores several turns, a child after its parent in the same batch."""
    await store.save_turns(
        [
            StoredTurn(response("resp_p"), [user("q0")], [assistant("a0")]),
            StoredTurn(response("resp_c", "resp_p"), [user("q1")], [assistant("a1")]),
        ]
    )
    assert texts(await store.history("resp_c", None)) == ["q0", "a0", "q1", "a1"]


async def test_conversation_crud(store: Store) -> None:
    """Create, read, update metadata, delete; another owner sees none of it."""
    conv = Conversation("conv_1", "key-a", 1_700_000_000, {"topic": "demo"})
    await store.create_conversation(conv)
    assert await store.get_conversation("conv_1", "key-a") == conv
    assert await store.get_conversation("conv_1", "key-b") is None
    assert await store.update_conversation_metadata("conv_1", "key-b", {"x": "y"}) is None
    updated = await store.update_conversation_metadata("conv_1", "key-a", {"topic": "changed"})
    assert updated == Conversation("conv_1", "key-a", 1_700_000_000, {"topic": "changed"})
    assert await store.get_conversation("conv_1", "key-a") == updated
    assert await store.delete_conversation("conv_1", "key-b") is False
    assert await store.delete_conversation("conv_1", "key-a") is True
    assert await store.get_conversation("conv_1", "key-a") is None
    assert await store.conversation_history("conv_1", "key-a") is None
    assert await store.delete_conversation("conv_1", "key-a") is False


async def test_conversation_items_add_get_delete_and_page(store: Store) -> None:
    """Items are appended, paged like list objects, fetched and deleted one by one, scoped to the owner."""
    await store.create_conversation(Conversation("conv_1", "key-a", 1, {}), [user("m0", id="msg_0")])
    added = await store.add_conversation_items(
        "conv_1", "key-a", [user(f"m{n}", id=f"msg_{n}") for n in range(1, 4)] + [user("m4")]
    )
    assert added is not None and [item["id"] for item in added][:3] == ["msg_1", "msg_2", "msg_3"]
    last = added[-1]["id"]
    assert await store.add_conversation_items("conv_1", "key-b", [user("intruder")]) is None

    page = await store.list_conversation_items("conv_1", "key-a", limit=2)
    assert page is not None and [item["id"] for item in page.items] == [last, "msg_3"] and page.has_more
    page = await store.list_conversation_items("conv_1", "key-a", after="msg_3", limit=10)
    assert page is not None and [item["id"] for item in page.items] == ["msg_2", "msg_1", "msg_0"] and not page.has_more
    page = await store.list_conversation_items("conv_1", "key-a", order="asc", after="msg_1", limit=2)
    assert page is not None and [item["id"] for item in page.items] == ["msg_2", "msg_3"] and page.has_more
    assert await store.list_conversation_items("conv_1", "key-b") is None

    assert await store.get_conversation_item("conv_1", "key-a", "msg_2") == {"id": "msg_2", **user("m2")}
    assert await store.get_conversation_item("conv_1", "key-b", "msg_2") is None
    assert await store.get_conversation_item("conv_1", "key-a", "msg_nope") is None
    assert await store.delete_conversation_item("conv_1", "key-b", "msg_2") is False
    assert await store.delete_conversation_item("conv_1", "key-a", "msg_2") is True
    assert await store.delete_conversation_item("conv_1", "key-a", "msg_2") is False
    assert texts(await store.conversation_history("conv_1", "key-a")) == ["m0", "m1", "m3", "m4"]
    await store.add_conversation_items("conv_1", "key-a", [user("m5")])
    assert texts(await store.conversation_history("conv_1", "key-a")) == ["m0", "m1", "m3", "m4", "m5"]


async def test_a_turn_on_another_owners_conversation_does_not_touch_it(store: Store) -> None:
    """Items are only appended to a conversation the turn's owner holds."""
    await store.create_conversation(Conversation("conv_1", "key-a", 1, {}))
    await store.save_turn(response("resp_x", owner="key-b", conversation_id="conv_1"), [user("q")], [assistant("a")])
    assert await store.conversation_history("conv_1", "key-a") == []


@pytest.mark.parametrize("first", ["completed", "failed", "incomplete", "cancelled"])
async def test_a_response_that_has_ended_is_never_saved_over(store: Store, first: str) -> None:
    """The first terminal write wins (a cancel or a takeover elsewhere is not undone by a late answer); only a
    cancelled response takes the cancelled answer with its partial output."""
    await store.save_turn(response("resp_bg", status="in_progress"), [user("q")], [])
    await store.save_turn(response("resp_bg", status=first), [user("q")], [])
    for late in ("completed", "failed", "cancelled"):
        await store.save_turn(response("resp_bg", status=late), [user("q")], [assistant(late)])
        stored = await store.get_response("resp_bg", None)
        assert stored is not None
        if first == late == "cancelled":
            assert texts(await store.history("resp_bg", None)) == ["q", "cancelled"]
        else:
            assert stored.status == first and texts(await store.history("resp_bg", None)) == ["q"]


async def test_ping_answers(store: Store) -> None:
    """A reachable store passes the readiness check."""
    await store.ping()


async def test_a_second_instance_sees_deletes_and_rewrites_made_by_the_first(stores: Stores) -> None:
    """The history cache of one instance never serves a chain another instance deleted or rewrote."""
    first, second = await stores.open(), await stores.open()
    ids = await chain(first, 2)
    await first.save_turn(response("resp_bg", ids[1], status="in_progress"), [user("q2")], [])
    assert texts(await second.history("resp_bg", None)) == ["q0", "a0", "q1", "a1", "q2"]
    assert texts(await second.history(ids[1], None)) == ["q0", "a0", "q1", "a1"]
    await first.save_turn(response("resp_bg", ids[1]), [user("q2")], [assistant("finished")])
    assert texts(await second.history("resp_bg", None)) == ["q0", "a0", "q1", "a1", "q2", "finished"]
    assert await first.delete_response(ids[1], None)
    assert await second.history(ids[1], None) is None


async def test_memory_store_evicts_the_oldest_responses() -> None:
    """Past max_responses the oldest go, and a chain missing an ancestor has no history rather than a partial one."""
    from plano_proxy.storage import open_store

    store = await open_store("memory", max_responses=3)
    ids = await chain(store, 4)
    assert await store.get_response(ids[0], None) is None
    assert await store.get_response(ids[1], None) is not None
    assert await store.history(ids[3], None) is None
    await store.close()


async def test_a_cached_memory_history_is_not_served_once_an_ancestor_is_evicted() -> None:
    """The memory store caches chain histories; one read before an eviction is not served after it."""
    from plano_proxy.storage import open_store

    store = await open_store("memory", max_responses=3)
    ids = await chain(store, 3)
    first = await store.history(ids[2], None)
    assert texts(first) == ["q0", "a0", "q1", "a1", "q2", "a2"]
    assert await store.history(ids[2], None) is first, "a deep turn's history is the one tuple, not rebuilt"
    await store.save_turn(response("resp_other", None), [user("elsewhere")], [assistant("ok")])
    assert await store.get_response(ids[0], None) is None
    assert await store.history(ids[2], None) is None
    await store.close()


@pytest.mark.parametrize("kind", ["memory", "sqlite", "postgres", "nope"])
async def test_open_store_rejects_a_missing_location_or_unknown_kind(kind: str) -> None:
    """The factory names what is missing instead of failing later."""
    from plano_proxy.storage import open_store

    if kind == "memory":
        with pytest.raises(ValueError, match="max_responses"):
            await open_store(kind, max_responses=0)
        return
    with pytest.raises(ValueError, match=r"path|connection_string|unknown store kind"):
        await open_store(kind)
