"""Retention: what a store holds (`StoreStats`), what a prune removed (`PruneResult`), and the rule both follow.

The unit of pruning is a whole chain or conversation, never a turn in the middle of one:

- a conversation is kept while it was created, or had a response, at or after the cutoff;
- a response is kept when it was created at or after the cutoff, or belongs to a kept conversation, or is an
  ancestor (through ``previous_response_id``) of a kept response: so every kept response keeps its whole history;
- everything else goes, with its items. A fork of a kept chain that has seen no turn since the cutoff goes too: what
  it shares with the kept chain stays, and nothing kept ever loses a turn of its history.

A size limit moves the cutoff later, oldest activity first, until what would remain fits (`size_cutoff`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StoreStats:
    responses: int
    items: int
    conversations: int
    conversation_items: int
    bytes: int
    """Bytes of stored JSON (response records, their items and conversation items), the figure ``max_size``
    limits; a database file is larger (indexes, free pages)."""


@dataclass(frozen=True, slots=True)
class PruneResult:
    responses: int = 0
    conversations: int = 0

    def __add__(self, other: PruneResult) -> PruneResult:
        return PruneResult(self.responses + other.responses, self.conversations + other.conversations)


SIZE_ROUNDS = 4
"""Times a prune moves its cutoff for the size limit: bytes an ancestor keeps cannot be removed by a later cutoff
alone, so one round may leave the store above the limit."""


def size_cutoff(spans: list[tuple[int, int]], total: int, max_bytes: int) -> int | None:
    """The cutoff (a time in seconds) that removes the oldest spans (last activity, bytes) until ``total`` is at
    most ``max_bytes``; None when it already is."""
    excess = total - max_bytes
    if excess <= 0:
        return None
    removed = 0
    ordered = sorted(spans)
    for when, size in ordered:
        removed += size
        if removed >= excess:
            return when + 1
    return ordered[-1][0] + 1 if ordered else None


@dataclass(frozen=True, slots=True)
class ResponseSpan:
    id: str
    previous_response_id: str | None
    conversation_id: str | None
    created_at: int
    bytes: int


def unit_spans(responses: list[ResponseSpan], conversations: list[tuple[str, int, int]]) -> list[tuple[int, int]]:
    """(last activity, bytes) of every response and conversation (id, created_at, bytes), where a response's last
    activity is the newest turn of its conversation or among its descendants: the time after which a cutoff removes
    it. A size limit is met by moving the cutoff past the oldest of these."""
    active = {conversation_id: created for conversation_id, created, _ in conversations}
    for span in responses:
        if span.conversation_id is not None:
            active[span.conversation_id] = max(active.get(span.conversation_id, 0), span.created_at)
    known = {span.id: span for span in responses}
    latest = {
        span.id: max(span.created_at, active.get(span.conversation_id, 0) if span.conversation_id else 0)
        for span in responses
    }
    # Children are newer than their parents, so newest first carries each one's activity up its whole chain; a
    # child stamped in the same second as its parent is handled by repeating until nothing changes.
    newest_first = sorted(responses, key=lambda s: s.created_at, reverse=True)
    changed = True
    while changed:
        changed = False
        for span in newest_first:
            parent = span.previous_response_id
            if parent is not None and parent in known and latest[span.id] > latest[parent]:
                latest[parent] = latest[span.id]
                changed = True
    return [(latest[span.id], span.bytes) for span in responses] + [
        (active[conversation_id], size) for conversation_id, _, size in conversations
    ]


def expired(
    responses: list[ResponseSpan], conversations: list[tuple[str, int]], cutoff: int
) -> tuple[list[str], list[str]]:
    """The ids of the responses and of the conversations (id, created_at) a prune at ``cutoff`` removes; the SQL
    stores run the same rule as one query each."""
    live = {conversation_id for conversation_id, created in conversations if created >= cutoff}
    live |= {span.conversation_id for span in responses if span.created_at >= cutoff and span.conversation_id}
    by_id = {span.id: span for span in responses}
    kept: set[str] = set()
    for span in responses:
        if span.created_at >= cutoff or span.conversation_id in live:
            current: ResponseSpan | None = span
            while current is not None and current.id not in kept:
                kept.add(current.id)
                previous = current.previous_response_id
                current = by_id.get(previous) if previous is not None else None
    gone = [span.id for span in responses if span.created_at < cutoff and span.id not in kept]
    return gone, [conversation_id for conversation_id, _ in conversations if conversation_id not in live]
