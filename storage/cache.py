"""A bounded LRU of recent chain histories, so a turn deep in a chain does not rebuild its history from the database.

A chain's history never changes once written (a turn only adds a new response; deletion only hides the deleted
response itself), so an entry stays right as long as its last response exists unchanged. The SQL stores check that
with one primary-key lookup returning the response's ``revision`` (bumped when a response id is saved again), which
also keeps the cache right when other processes or instances share the database.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from plano_proxy.storage.base import Item, StoredResponse


@dataclass(frozen=True, slots=True)
class CachedHistory:
    owner: str | None
    revision: int
    items: tuple[Item, ...]
    recorded: StoredResponse | None = None
    """The chain's last turn when it was kept as its exchange: its items come after `items`, once something reads
    them (see `plano_proxy.storage.exchange`)."""


class HistoryCache:
    def __init__(self, max_entries: int = 2048) -> None:
        self._entries: OrderedDict[str, CachedHistory] = OrderedDict()
        self._max = max_entries

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, response_id: str) -> CachedHistory | None:
        entry = self._entries.get(response_id)
        if entry is not None:
            self._entries.move_to_end(response_id)
        return entry

    def put(self, response_id: str, entry: CachedHistory) -> None:
        if self._max <= 0:
            return
        self._entries[response_id] = entry
        self._entries.move_to_end(response_id)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def extend(
        self,
        parent_id: str | None,
        response_id: str,
        owner: str | None,
        revision: int,
        new_items: list[Item],
        recorded: StoredResponse | None = None,
    ) -> None:
        """Cache a new turn's history from its parent's cached one (a first turn needs no parent); a turn kept as its
        exchange comes as its `recorded` response, not yet read into items."""
        if parent_id is None:
            self.put(response_id, CachedHistory(owner, revision, tuple(new_items), recorded))
            return
        parent = self._entries.get(parent_id)
        if parent is not None and parent.owner == owner and parent.recorded is None:
            self.put(response_id, CachedHistory(owner, revision, parent.items + tuple(new_items), recorded))

    def discard(self, response_id: str) -> None:
        self._entries.pop(response_id, None)

    def clear(self) -> None:
        self._entries.clear()
