"""Retention on the SQL stores: its statements, written once in PostgreSQL's text like the rest of the dialect
(`plano_proxy.storage.sql_dialect`), and the programs that count and prune (rules in
`plano_proxy.storage.retention`). A prune is one program, so one transaction: a turn committed while it runs is
either seen by it, and keeps its chain, or comes after it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from plano_proxy.storage.retention import PruneResult, ResponseSpan, StoreStats, size_cutoff, unit_spans
from plano_proxy.storage.sql_executor import Program, execute, fetch, fetchrow

# The conversations active at or after $1: created then, or holding a response created then.
_LIVE_CONVERSATIONS = """live_conversations(id) AS (
    SELECT id FROM conversations WHERE created_at >= $1
    UNION
    SELECT conversation_id FROM responses WHERE created_at >= $1 AND conversation_id IS NOT NULL
)"""

# Responses older than $1 that no kept response needs (see the rule in retention.py).
_EXPIRED_RESPONSES = f"""WITH RECURSIVE {_LIVE_CONVERSATIONS},
kept(id, prev) AS (
    SELECT id, previous_response_id FROM responses
    WHERE created_at >= $1 OR conversation_id IN (SELECT id FROM live_conversations)
    UNION
    SELECT r.id, r.previous_response_id FROM responses AS r JOIN kept ON r.id = kept.prev
)
SELECT id FROM responses WHERE created_at < $1 AND id NOT IN (SELECT id FROM kept)"""

_EXPIRED_CONVERSATIONS = (
    f"WITH {_LIVE_CONVERSATIONS} SELECT id FROM conversations WHERE id NOT IN (SELECT id FROM live_conversations)"
)

_BATCH = 1000
"""Ids per delete statement."""


@dataclass(frozen=True, slots=True)
class RetentionSql:
    id_list: Callable[[list[str]], object]
    stats: str
    response_spans: str
    conversation_spans: str
    expired_responses: str
    expired_conversations: str
    delete_items: str
    delete_responses: str
    delete_conversation_items: str
    delete_conversations: str


def build_retention(
    sql: Callable[[str], str], octets: Callable[[str], str], id_list: Callable[[list[str]], object]
) -> RetentionSql:
    """The statements through the dialect's ``sql`` formatter; ``octets(column)`` is the byte length of a text."""
    record = " + ".join(
        [octets("{t}.request"), octets("{t}.output")]
        + [
            f"COALESCE({octets(f'{{t}}.{column}')}, 0)"
            for column in ("usage", "error", "events", "exchange_request", "exchange_answer")
        ]
    )

    def total(table: str, column: str, alias: str, where: str = "") -> str:
        return f"COALESCE((SELECT SUM({octets(f'{alias}.{column}')}) FROM {table} AS {alias}{where}), 0)"

    return RetentionSql(
        id_list=id_list,
        stats=sql(
            "SELECT (SELECT COUNT(*) FROM responses), (SELECT COUNT(*) FROM items), "
            "(SELECT COUNT(*) FROM conversations), (SELECT COUNT(*) FROM conversation_items), "
            f"{total('items', 'body', 'i')} + {total('conversation_items', 'body', 'ci')} + "
            f"COALESCE((SELECT SUM({record.format(t='r')}) FROM responses AS r), 0)"
        ),
        response_spans=sql(
            "SELECT r.id, r.previous_response_id, r.conversation_id, r.created_at, "
            f"{record.format(t='r')} + {total('items', 'body', 'i', ' WHERE i.response_id = r.id')} "
            "FROM responses AS r"
        ),
        conversation_spans=sql(
            "SELECT c.id, c.created_at, "
            f"{total('conversation_items', 'body', 'ci', ' WHERE ci.conversation_id = c.id')} FROM conversations AS c"
        ),
        expired_responses=sql(_EXPIRED_RESPONSES),
        expired_conversations=sql(_EXPIRED_CONVERSATIONS),
        delete_items=sql("DELETE FROM items WHERE response_id {item_id_in}"),
        delete_responses=sql("DELETE FROM responses WHERE id {item_id_in}"),
        delete_conversation_items=sql("DELETE FROM conversation_items WHERE conversation_id {item_id_in}"),
        delete_conversations=sql("DELETE FROM conversations WHERE id {item_id_in}"),
    )


def stats_program(sql: RetentionSql) -> Program[StoreStats]:
    row = yield from fetchrow(sql.stats)
    assert row is not None
    return StoreStats(*(int(value) for value in row))


def prune_program(sql: RetentionSql, idle_before: int | None, max_bytes: int | None) -> Program[PruneResult]:
    """Remove the chains and conversations idle since before ``idle_before`` (seconds since the epoch), and the
    oldest others while the store holds more than ``max_bytes`` of JSON."""
    cutoff = idle_before
    if max_bytes is not None:
        stats = yield from stats_program(sql)
        if stats.bytes > max_bytes:
            responses = [ResponseSpan(*row) for row in (yield from fetch(sql.response_spans))]
            conversations = [(row[0], int(row[1]), int(row[2])) for row in (yield from fetch(sql.conversation_spans))]
            by_size = size_cutoff(unit_spans(responses, conversations), stats.bytes, max_bytes)
            if by_size is not None:
                cutoff = by_size if cutoff is None else max(cutoff, by_size)
    if cutoff is None:
        return PruneResult()
    return (yield from _remove_idle(sql, cutoff))


def _remove_idle(sql: RetentionSql, cutoff: int) -> Program[PruneResult]:
    # Both lists are taken before anything goes: which conversations are live depends on the responses.
    responses = [row[0] for row in (yield from fetch(sql.expired_responses, cutoff))]
    conversations = [row[0] for row in (yield from fetch(sql.expired_conversations, cutoff))]
    for start in range(0, len(responses), _BATCH):
        ids = sql.id_list(responses[start : start + _BATCH])
        yield from execute(sql.delete_items, ids)
        yield from execute(sql.delete_responses, ids)
    for start in range(0, len(conversations), _BATCH):
        ids = sql.id_list(conversations[start : start + _BATCH])
        yield from execute(sql.delete_conversation_items, ids)
        yield from execute(sql.delete_conversations, ids)
    return PruneResult(len(responses), len(conversations))
