"""Every statement the SQL stores run, written once, and the few places where SQLite and PostgreSQL differ.

The statements are PostgreSQL's text with numbered parameters (``$1``) and two slots that `build_dialect` fills:

- ``{same}``: the null-safe equality an owner is compared with (the owner is NULL without gateway keys): ``IS`` in
  SQLite, ``IS NOT DISTINCT FROM`` in PostgreSQL (SQLite has that spelling only from 3.39);
- ``{item_id_in}``: how an item id is tested against a list of ids passed as one parameter (a JSON array in SQLite,
  a ``text[]`` in PostgreSQL), so any number of ids makes one statement of the same text.

SQLite then gets ``?1`` for ``$1``: it binds ``?NNN`` by number, as PostgreSQL binds ``$n``, so a parameter used
twice is passed once in both. Booleans are written ``TRUE``/``FALSE``/``NOT deleted``, which SQLite (3.23+) reads
as the 1 and 0 its columns hold.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

from plano_proxy.storage.base import Order
from plano_proxy.storage.sql_common import RESPONSE_COLUMNS
from plano_proxy.storage.sql_retention import RetentionSql, build_retention

_LIVE = "id = $1 AND owner {same} $2 AND NOT deleted"
"""The response ``$1`` of owner ``$2``, unless deleted."""

_ON_CONFLICT = (
    "ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{column} = excluded.{column}" for column in RESPONSE_COLUMNS[1:])
    + ", revision = responses.revision + 1, deleted = FALSE "
    # A response that has ended stays as it ended (see `plano_proxy.storage.base.ends_once`).
    + "WHERE responses.status IN ('queued', 'in_progress') "
    + "OR (responses.status = 'cancelled' AND excluded.status = 'cancelled')"
)


def _insert_responses(rows: int) -> str:
    """The upsert of `rows` responses, their columns' parameters one row after the other."""
    width = len(RESPONSE_COLUMNS)
    values = ", ".join("(" + ", ".join(f"${row * width + n}" for n in range(1, width + 1)) + ")" for row in range(rows))
    return f"INSERT INTO responses ({', '.join(RESPONSE_COLUMNS)}) VALUES {values} {_ON_CONFLICT}"


_UPSERT_RESPONSE = _insert_responses(1) + " RETURNING revision"

# (depth, previous id, revision, body) of every item of the chain ending at $1, oldest response first, followed by
# the columns of the response for the row of a response kept as its exchange (it has no items); the oldest row's
# previous id is not NULL when the chain is incomplete.
_HISTORY = f"""
WITH RECURSIVE chain(id, prev, depth, revision) AS (
    SELECT id, previous_response_id, 0, revision FROM responses WHERE id = $1 AND owner {{same}} $2 AND NOT deleted
    UNION ALL
    SELECT r.id, r.previous_response_id, chain.depth + 1, r.revision
    FROM responses AS r JOIN chain ON r.id = chain.prev
    WHERE r.owner {{same}} $2
)
SELECT chain.depth, chain.prev, chain.revision, items.body, {", ".join(f"x.{column}" for column in RESPONSE_COLUMNS)}
FROM chain LEFT JOIN items ON items.response_id = chain.id
LEFT JOIN responses AS x ON items.body IS NULL AND x.id = chain.id AND x.exchange_kind IS NOT NULL
ORDER BY chain.depth DESC, items.position
"""

# (item_id, body) of the wanted items that the owner's live responses or conversations hold.
_ITEMS_BY_ID = (
    "SELECT i.item_id, i.body FROM items AS i JOIN responses AS r ON r.id = i.response_id "
    "WHERE i.item_id {item_id_in} AND r.owner {same} $2 AND NOT r.deleted "
    "UNION ALL "
    "SELECT ci.item_id, ci.body FROM conversation_items AS ci JOIN conversations AS c ON c.id = ci.conversation_id "
    "WHERE ci.item_id {item_id_in} AND c.owner {same} $2"
)

# Listed responses leave their events behind: a list never replays a stream, and events are the largest column.
_LISTED = ", ".join("NULL AS events" if column == "events" else f"r.{column}" for column in RESPONSE_COLUMNS)

# The last response of each of owner $1's chains (see `Store.list_chains`), newest first, at most $2. NOT IN over an
# uncorrelated subquery: both databases build its set once (no index on previous_response_id needed), where a
# correlated NOT EXISTS would scan the table once per response in SQLite.
_CHAIN_ENDS = (
    f"SELECT {_LISTED} FROM responses AS r "
    "WHERE r.owner {same} $1 AND NOT r.deleted AND r.conversation_id IS NULL AND r.id NOT IN ("
    "SELECT previous_response_id FROM responses "
    "WHERE previous_response_id IS NOT NULL AND owner {same} $1 AND NOT deleted) "
    "ORDER BY r.created_at DESC, r.id DESC LIMIT $2"
)

_INSERT_CONVERSATION = "INSERT INTO conversations (id, owner, created_at, metadata) VALUES ($1, $2, $3, $4)"


@dataclass(frozen=True, slots=True)
class Paging:
    """The statements that page through one list of items by position, all keyed by ``$1``."""

    position: str
    """The first position of the cursor item ``$2``, NULL if it is not in the list."""
    asc: str
    desc: str
    """Bodies with a position between ``$2`` and ``$3`` (exclusive), at most ``$4`` of them, in that order."""

    def rows(self, order: Order) -> str:
        return self.asc if order == "asc" else self.desc


@dataclass(frozen=True, slots=True)
class SqlDialect:
    """One database's text of every statement, and how it takes a list of ids."""

    id_list: Callable[[list[str]], object]
    """The value of the ids parameter of `items_by_id`."""
    upsert_response: str
    upsert_responses: Callable[[int], str]
    """The upsert of that many responses in one statement, without their revisions: for turns kept as their
    exchange, which are saved once under an id minted for them (see `SqlStore.save_turns`)."""
    response_item_ids: str
    delete_response_items: str
    insert_items: str
    get_response: str
    live_revision: str
    live_exchange_kind: str
    """The response's exchange kind, '' when it was not kept as its exchange (NULL when it is not there)."""
    history: str
    delete_response: str
    cancel_unfinished: str
    insert_conversation: str
    ensure_conversation: str
    owned_conversation: str
    update_metadata: str
    delete_conversation: str
    delete_conversation_items: str
    claim_positions: str
    """Reserves ``$3`` positions at the end of the conversation, returning the end; the row lock it takes gives
    concurrent appends distinct, ordered positions."""
    insert_conversation_items: str
    get_conversation_item: str
    delete_conversation_item: str
    conversation_bodies: str
    items_by_id: str
    recorded_by_id: str
    """The owner's live responses kept as their exchange among the ids ``$1``."""
    input_items: Paging
    conversation_items: Paging
    list_conversations: str
    list_chains: str
    conversation_responses: str
    retention: RetentionSql


def build_dialect(
    *, param: str, same: str, item_id_in: str, id_list: Callable[[list[str]], object], octets: str
) -> SqlDialect:
    """The statements with the slots filled and ``$n`` parameters written ``{param}n``; ``octets`` is the byte length
    of a text column ``{}`` (for the retention's size figures)."""

    def sql(template: str) -> str:
        text = template.format(same=same, item_id_in=item_id_in)
        return re.sub(r"\$(?=\d)", param, text)

    def paging(table: str, where: str) -> Paging:
        rows = f"SELECT body FROM {table} WHERE {where} AND position > $2 AND position < $3 ORDER BY position"
        return Paging(
            position=sql(f"SELECT MIN(position) FROM {table} WHERE {where} AND item_id = $2"),
            asc=sql(f"{rows} ASC LIMIT $4"),
            desc=sql(f"{rows} DESC LIMIT $4"),
        )

    return SqlDialect(
        id_list=id_list,
        upsert_response=sql(_UPSERT_RESPONSE),
        upsert_responses=functools.lru_cache(maxsize=None)(lambda rows: sql(_insert_responses(rows))),
        response_item_ids=sql("SELECT item_id FROM items WHERE response_id = $1"),
        delete_response_items=sql("DELETE FROM items WHERE response_id = $1"),
        insert_items=sql(
            "INSERT INTO items (response_id, position, is_input, item_id, body) VALUES ($1, $2, $3, $4, $5)"
        ),
        get_response=sql(f"SELECT * FROM responses WHERE {_LIVE}"),
        live_revision=sql(f"SELECT revision FROM responses WHERE {_LIVE}"),
        live_exchange_kind=sql(f"SELECT COALESCE(exchange_kind, '') FROM responses WHERE {_LIVE}"),
        history=sql(_HISTORY),
        delete_response=sql(f"UPDATE responses SET deleted = TRUE WHERE {_LIVE}"),
        cancel_unfinished=sql(
            f"UPDATE responses SET status = 'cancelled' WHERE {_LIVE} AND status IN ('queued', 'in_progress')"
        ),
        insert_conversation=sql(_INSERT_CONVERSATION),
        ensure_conversation=sql(_INSERT_CONVERSATION + " ON CONFLICT (id) DO NOTHING"),
        owned_conversation=sql("SELECT * FROM conversations WHERE id = $1 AND owner {same} $2"),
        update_metadata=sql("UPDATE conversations SET metadata = $3 WHERE id = $1 AND owner {same} $2 RETURNING *"),
        delete_conversation=sql("DELETE FROM conversations WHERE id = $1 AND owner {same} $2"),
        delete_conversation_items=sql("DELETE FROM conversation_items WHERE conversation_id = $1"),
        claim_positions=sql(
            "UPDATE conversations SET next_position = next_position + $3 WHERE id = $1 AND owner {same} $2 "
            "RETURNING next_position"
        ),
        insert_conversation_items=sql(
            "INSERT INTO conversation_items (conversation_id, position, item_id, body) VALUES ($1, $2, $3, $4)"
        ),
        get_conversation_item=sql(
            "SELECT ci.body FROM conversation_items AS ci JOIN conversations AS c ON c.id = ci.conversation_id "
            "WHERE c.id = $1 AND c.owner {same} $2 AND ci.item_id = $3 ORDER BY ci.position LIMIT 1"
        ),
        delete_conversation_item=sql(
            "DELETE FROM conversation_items WHERE conversation_id = $1 AND item_id = $3 "
            "AND EXISTS (SELECT 1 FROM conversations WHERE id = $1 AND owner {same} $2)"
        ),
        conversation_bodies=sql("SELECT body FROM conversation_items WHERE conversation_id = $1 ORDER BY position"),
        items_by_id=sql(_ITEMS_BY_ID),
        recorded_by_id=sql(
            "SELECT * FROM responses WHERE id {item_id_in} AND owner {same} $2 AND NOT deleted "
            "AND exchange_kind IS NOT NULL"
        ),
        input_items=paging("items", "response_id = $1 AND is_input"),
        conversation_items=paging("conversation_items", "conversation_id = $1"),
        list_conversations=sql(
            "SELECT * FROM conversations WHERE owner {same} $1 ORDER BY created_at DESC, id DESC LIMIT $2"
        ),
        list_chains=sql(_CHAIN_ENDS),
        conversation_responses=sql(
            f"SELECT {_LISTED} FROM responses AS r WHERE r.conversation_id = $1 AND r.owner {{same}} $2 "
            "AND NOT r.deleted ORDER BY r.created_at, r.id"
        ),
        retention=build_retention(sql, octets.format, id_list),
    )
