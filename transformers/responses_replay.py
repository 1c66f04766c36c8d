"""Input items as a native Responses upstream is sent them, each serialised once.

A stateless upstream is sent the whole conversation on every turn, so a turn deep in a chain replays the same
history items again and again. Each item's replayed form (its ``id`` dropped, since the upstream never stored it;
a reasoning item only when OpenAI minted its ``encrypted_content``) is serialised the first time it is sent and kept
as an `orjson.Fragment`, which `orjson.dumps` copies into the body as it stands. A turn then costs a lookup per
item, not a copy and a serialisation.

Items are kept by identity: a stored item is one object for as long as a history holds it (the stores and the
history caches hand out the same dicts on every turn), and an item is never changed once it is part of a request.
The memo holds each item it knows, so no other live object can take its ``id()``. It is bounded in two
generations: when the young one is full it becomes the old one and the oldest is dropped; an item found in the old
one moves back to the young one.
"""

from __future__ import annotations

import orjson

from plano_proxy.transformers.canonical import Item
from plano_proxy.transformers.reasoning_codec import is_openai_reasoning

_Kept = tuple[Item, orjson.Fragment | None]
"""An item and its replayed form, or None for an item that is not replayed."""


class ReplayMemo:
    def __init__(self, items_per_generation: int = 32_768) -> None:
        self._young: dict[int, _Kept] = {}
        self._old: dict[int, _Kept] = {}
        self._max = items_per_generation

    def replayed(self, items: tuple[Item, ...]) -> list[orjson.Fragment]:
        # A plain loop with one dictionary lookup per item: this runs over the whole history of every turn.
        young = self._young
        sent = []
        for item in items:
            kept = young.get(id(item)) or self._keep(item)
            if kept[1] is not None:
                sent.append(kept[1])
        return sent

    def _keep(self, item: Item) -> _Kept:
        kept = self._old.pop(id(item), None) or (item, _replayed_form(item))
        if len(self._young) >= self._max:
            self._old, self._young = self._young, {}
        self._young[id(item)] = kept
        return kept


def _replayed_form(item: Item) -> orjson.Fragment | None:
    if item.get("type") == "reasoning" and not is_openai_reasoning(item.get("encrypted_content")):
        return None
    if "id" in item:
        item = {key: value for key, value in item.items() if key != "id"}
    return orjson.Fragment(orjson.dumps(item))


REPLAYS = ReplayMemo()
"""The process's memo: every Responses upstream body is built through it."""
