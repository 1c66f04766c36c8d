"""The retention contract (`Store.prune`, `Store.stats`), checked identically on every store: whole chains and
conversations go once idle past the cutoff or over the size limit, and no kept response ever loses a turn."""

from __future__ import annotations

from typing import Any

from plano_proxy.storage import Conversation, Store, StoredResponse
from plano_proxy.storage.retention import PruneResult, ResponseSpan, expired, size_cutoff, unit_spans

DAY = 86_400
NOW = 1_800_000_000


def turn(response_id: str, created_at: int, **extra: Any) -> StoredResponse:
    return StoredResponse(response_id, None, created_at, "completed", "gpt-4o-mini", **extra)


def said(text: str) -> list[dict[str, Any]]:
    return [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}]


def texts(items: list[dict[str, Any]] | None) -> list[str] | None:
    """The texts of stored items (which come back with ids the store gave them)."""
    return None if items is None else [part["text"] for item in items for part in item["content"]]


async def chain(store: Store, prefix: str, *created: int, previous: str | None = None) -> list[str]:
    ids = []
    for number, created_at in enumerate(created):
        response_id = f"{prefix}_{number}"
        await store.save_turn(turn(response_id, created_at, previous_response_id=previous), said(response_id), [])
        ids.append(response_id)
        previous = response_id
    return ids


async def test_an_idle_chain_goes_while_a_newer_one_stays(store: Store) -> None:
    """A chain whose newest turn is older than the cutoff goes whole, items included; a newer chain is untouched."""
    old = await chain(store, "resp_old", NOW - 40 * DAY, NOW - 35 * DAY, NOW - 31 * DAY)
    new = await chain(store, "resp_new", NOW - 40 * DAY, NOW - 2 * DAY)
    before = await store.stats()
    assert (before.responses, before.items) == (5, 5)

    assert await store.prune(idle_before=NOW - 30 * DAY) == PruneResult(responses=3, conversations=0)

    for response_id in old:
        assert await store.get_response(response_id, None) is None
    assert texts(await store.history(new[-1], None)) == new
    after = await store.stats()
    assert (after.responses, after.items) == (2, 2) and 0 < after.bytes < before.bytes


async def test_a_chain_continued_recently_keeps_every_turn(store: Store) -> None:
    """Old turns of a chain with a recent continuation stay: a prune never takes a turn from the middle."""
    ids = await chain(store, "resp", NOW - 90 * DAY, NOW - 60 * DAY, NOW - 1 * DAY)
    assert await store.prune(idle_before=NOW - 30 * DAY) == PruneResult()
    assert texts(await store.history(ids[-1], None)) == ids


async def test_an_idle_fork_goes_and_the_kept_chain_keeps_its_history(store: Store) -> None:
    """A fork idle past the cutoff goes; the turns it shares with a recently continued chain stay with that chain."""
    trunk = await chain(store, "resp_trunk", NOW - 90 * DAY, NOW - 80 * DAY, NOW - 1 * DAY)
    fork = await chain(store, "resp_fork", NOW - 70 * DAY, previous=trunk[0])
    assert await store.prune(idle_before=NOW - 30 * DAY) == PruneResult(responses=1)
    assert await store.get_response(fork[0], None) is None
    assert texts(await store.history(trunk[-1], None)) == trunk


async def test_conversations_go_whole_when_idle(store: Store) -> None:
    """An idle conversation goes with its items and responses; one with a recent response keeps its old ones too."""
    await store.create_conversation(Conversation("conv_idle", None, NOW - 50 * DAY, {}), said("idle"))
    await store.save_turn(turn("resp_idle", NOW - 45 * DAY, conversation_id="conv_idle"), said("in idle"), [])
    await store.create_conversation(Conversation("conv_live", None, NOW - 50 * DAY, {}), said("live"))
    await store.save_turn(turn("resp_live_old", NOW - 45 * DAY, conversation_id="conv_live"), said("old"), [])
    await store.save_turn(turn("resp_live_new", NOW - DAY, conversation_id="conv_live"), said("new"), [])
    await store.create_conversation(Conversation("conv_new", None, NOW - DAY, {}), said("fresh"))

    assert await store.prune(idle_before=NOW - 30 * DAY) == PruneResult(responses=1, conversations=1)

    assert await store.get_conversation("conv_idle", None) is None
    assert await store.get_response("resp_idle", None) is None
    assert texts(await store.conversation_history("conv_live", None)) == ["live", "old", "new"]
    assert await store.get_response("resp_live_old", None) is not None
    assert texts(await store.conversation_history("conv_new", None)) == ["fresh"]
    stats = await store.stats()
    assert (stats.responses, stats.conversations, stats.conversation_items) == (2, 2, 4)


async def test_a_size_limit_removes_the_oldest_units_first(store: Store) -> None:
    """Over max_bytes, whole chains go oldest activity first until what is left fits; within the limit, nothing."""
    big = "x" * 5_000
    for number in range(4):
        created = NOW - (10 - number) * DAY
        await store.save_turn(turn(f"resp_{number}", created), said(big), [])
        await store.save_turn(turn(f"resp_{number}b", created + 1, previous_response_id=f"resp_{number}"), [], [])
    total = (await store.stats()).bytes
    assert await store.prune(idle_before=None, max_bytes=total) == PruneResult()
    assert await store.prune(idle_before=None, max_bytes=total - 1_000) == PruneResult(responses=2)
    assert await store.get_response("resp_0", None) is None
    assert await store.get_response("resp_1", None) is not None
    assert await store.prune(idle_before=None, max_bytes=12_000) == PruneResult(responses=2)
    assert [await store.get_response(f"resp_{n}", None) is not None for n in range(4)] == [False, False, True, True]
    assert (await store.stats()).bytes <= 12_000


async def test_stats_count_every_owner(store: Store) -> None:
    """stats counts rows and bytes of every owner, deleted responses included until pruned."""
    assert (await store.stats()).bytes == 0
    await store.save_turn(StoredResponse("resp_a", "key-a", NOW, "completed", "m"), said("a"), said("b"))
    await store.save_turn(StoredResponse("resp_b", "key-b", NOW, "completed", "m"), said("c"), [])
    await store.delete_response("resp_b", "key-b")
    stats = await store.stats()
    assert (stats.responses, stats.items, stats.conversations, stats.conversation_items) == (2, 3, 0, 0)


def test_the_rule_in_memory() -> None:
    """The pure rule the memory store runs: ancestors of a kept response stay, a same-second child carries its
    chain's activity up, and the size cutoff passes the oldest spans first."""
    spans = [
        ResponseSpan("r0", None, None, 10, 100),
        ResponseSpan("r1", "r0", None, 10, 100),
        ResponseSpan("r2", "r1", None, 50, 100),
        ResponseSpan("solo", None, None, 20, 100),
    ]
    assert expired(spans, [("c", 5)], 30) == (["solo"], ["c"])
    assert sorted(unit_spans(spans, [("c", 5, 7)])) == [(5, 7), (20, 100), (50, 100), (50, 100), (50, 100)]
    assert size_cutoff([(5, 7), (20, 100), (50, 100)], 207, 200) == 6
    assert size_cutoff([(5, 7), (20, 100)], 107, 200) is None
