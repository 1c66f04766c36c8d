"""What is worked out once per stored history: its items as a native Responses upstream is sent them, serialised,
and whether it holds compaction items.

A stateless upstream is sent the whole conversation on every turn, so a turn deep in a chain would copy, scan and
serialise the same history items again and again, touching every one of them. `CanonicalRequest.history` names the
stored history a request's items begin with; the memo keeps, per history, a *run*: the replayed forms of its items
(each without its ``id``, since the upstream never stored it; a reasoning item only when OpenAI minted its
``encrypted_content``) serialised and joined by commas, and whether any of them is a compaction item. A run is made
from the longest run already kept that its history begins with, plus the few items after it, so a chain that grows
by a turn, and a response continued many times, cost the new items only. A ``conversation``'s items are read afresh
on every turn, so its turns name no history and are serialised whole.

Runs are kept by the identity of their last item and checked against the request's items by identity, which costs
a comparison of pointers, not a look at each item: a stored item is one object for as long as a history holds it
(the stores' history caches hand out the same tuple to every turn continuing a response), and an item is never
changed once it is part of a request. A run holds its items, so no other live object can take their ``id()``. A
request whose history does not check out (none, or items changed since) is serialised whole, as before. The runs
are bounded by their total size, the least recently used going first.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import orjson

from plano_proxy.transformers.canonical import CanonicalRequest, Item
from plano_proxy.transformers.reasoning_codec import is_openai_reasoning

_LOOK_BACK = 64
"""How many items back from the end of a history a kept run is looked for: the items one turn adds (its input, its
output, its tool calls) are fewer."""


@dataclass(frozen=True, slots=True)
class _Run:
    items: tuple[Item, ...]
    replayed: bytes
    """The replayed forms of `items`, serialised and joined by commas; empty when none is replayed."""
    compaction: bool


class HistoryMemo:
    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self._runs: OrderedDict[int, _Run] = OrderedDict()
        self._bytes = 0
        self._max_bytes = max_bytes

    def replayed_input(self, request: CanonicalRequest) -> orjson.Fragment:
        """The request's items as the ``input`` array of a native Responses body, serialised."""
        run = self._history_run(request)
        if run is None:
            return orjson.Fragment(orjson.dumps(_replayed(request.items)))
        rest = _joined(request.items[len(run.items) :])
        return orjson.Fragment(b"[" + _comma_joined(run.replayed, rest) + b"]")

    def holds_compaction(self, request: CanonicalRequest) -> bool:
        """Whether any of the request's items is a compaction item. Only looks at runs already kept: every provider
        asks this, and only a native Responses upstream is sent the serialised runs."""
        history = _checked_history(request)
        kept = self._longest_kept(history) if history else None
        if kept is None:
            return _any_compaction(request.items)
        return kept.compaction or _any_compaction(request.items[len(kept.items) :])

    def _history_run(self, request: CanonicalRequest) -> _Run | None:
        """The run of the request's stored history, made now unless it is kept; None when there is no history or
        the request's items do not begin with it."""
        history = _checked_history(request)
        if not history:
            return None
        start = self._longest_kept(history)
        if start is not None and len(start.items) == len(history):
            self._runs.move_to_end(id(history[-1]))
            return start
        new = history[len(start.items) :] if start is not None else history
        run = _Run(
            history,
            _comma_joined(start.replayed, _joined(new)) if start is not None else _joined(new),
            (start is not None and start.compaction) or _any_compaction(new),
        )
        self._keep(run)
        return run

    def _longest_kept(self, history: tuple[Item, ...]) -> _Run | None:
        """The longest kept run `history` begins with (itself included), looking back from its end."""
        for end in range(len(history) - 1, max(len(history) - 1 - _LOOK_BACK, -1), -1):
            kept = self._runs.get(id(history[end]))
            if kept is not None and len(kept.items) == end + 1 and history[: end + 1] == kept.items:
                return kept
        return None

    def _keep(self, run: _Run) -> None:
        key = id(run.items[-1])
        replaced = self._runs.pop(key, None)
        if replaced is not None:
            self._bytes -= len(replaced.replayed)
        self._runs[key] = run
        self._bytes += len(run.replayed)
        while self._bytes > self._max_bytes and len(self._runs) > 1:
            _, dropped = self._runs.popitem(last=False)
            self._bytes -= len(dropped.replayed)


def _checked_history(request: CanonicalRequest) -> tuple[Item, ...]:
    """The request's stored history when its items begin with it (compared by identity first), else empty."""
    history = request.history
    return history if history and request.items[: len(history)] == history else ()


def _replayed(items: tuple[Item, ...]) -> list[Item]:
    """The items without their ids (a copy only of those that have one), reasoning only where OpenAI minted it.

    One plain loop, no call per item: this runs over every item of a history the memo has not seen.
    """
    replayed = []
    for item in items:
        if item.get("type") == "reasoning" and not is_openai_reasoning(item.get("encrypted_content")):
            continue
        if "id" in item:
            item = dict(item)
            del item["id"]
        replayed.append(item)
    return replayed


def _joined(items: tuple[Item, ...]) -> bytes:
    return orjson.dumps(_replayed(items))[1:-1]


def _comma_joined(first: bytes, second: bytes) -> bytes:
    return first + b"," + second if first and second else first or second


def _any_compaction(items: tuple[Item, ...]) -> bool:
    # A plain loop: any() over a generator costs half as much again per item.
    for item in items:  # noqa: SIM110
        if item.get("type") == "compaction":
            return True
    return False


HISTORIES = HistoryMemo()
"""The process's memo: every compaction check and every native Responses body goes through it."""
