"""The SQL store: every operation of the `Store` interface, written once for SQLite and PostgreSQL.

::

    Store (base.py)                       the interface and its rules
    └── SqlStore (sql_store.py)           every operation, once: history cache, turns, paging, conversations
        ├── SqliteStore (sqlite.py)       open: migrate the file
        └── PostgresStore (postgres.py)   open: schema, pool, migrate

    a SqlStore is given
    ├── a SqlDialect (sql_dialect.py)     the text of every statement: SQLITE in sqlite.py, POSTGRES in postgres.py
    └── an Executor (sql_executor.py)     runs programs of statements: SqliteExecutor (threads, WAL, BEGIN
                                          IMMEDIATE), PostgresExecutor (pool, transactions, SQLSTATE mapping)
    and turns rows into records with sql_common.py.

Each operation is a program (see `plano_proxy.storage.sql_executor`): a generator yielding statements, run by the
executor in one go (on one SQLite thread, on one PostgreSQL connection). Whatever touches the history cache stays
outside the programs, on the event loop: the cache is not shared with the SQLite threads. Decoding is inside the
programs where the result is large (a history, a page), so SQLite does it off the event loop.

The history cache (`plano_proxy.storage.cache`) is checked with one primary-key lookup of the response's revision,
which also keeps it right when other processes or instances write to the same database.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from plano_proxy.storage.base import (
    Conversation,
    Item,
    ItemPage,
    Order,
    Store,
    StoredResponse,
    StoredTurn,
    page_of,
    with_item_ids,
)
from plano_proxy.storage.cache import CachedHistory, HistoryCache
from plano_proxy.storage.exchange import ExpansionCache, recorded_response_ids
from plano_proxy.storage.retention import PruneResult, StoreStats
from plano_proxy.storage.sql_common import (
    PreparedTurn,
    assemble_history,
    conversation_from_row,
    cursor_bounds,
    dumps,
    items_by_id,
    loads_item,
    page_from_bodies,
    prepare,
    response_from_row,
    response_values,
)
from plano_proxy.storage.sql_dialect import Paging, SqlDialect
from plano_proxy.storage.sql_executor import (
    Executor,
    Program,
    Statement,
    execute,
    executemany,
    fetch,
    fetchrow,
    fetchval,
)
from plano_proxy.storage.sql_retention import prune_program, stats_program


class SqlStore(Store):
    """Opened by a subclass's ``open``, which migrates the database and hands over its executor and dialect."""

    def __init__(self, executor: Executor, sql: SqlDialect, *, cache_size: int) -> None:
        self._db = executor
        self._sql = sql
        self._cache = HistoryCache(cache_size)
        self._expansions = ExpansionCache(cache_size)
        """Turns kept as their exchange, read into their record and items (see `plano_proxy.storage.exchange`)."""

    # Responses

    async def save_turns(self, turns: Sequence[StoredTurn]) -> None:
        prepared = prepare(turns)
        revisions: list[int | None]
        if all(_recorded(turn) for turn in prepared):  # the shipped configuration's chat turns: nothing to read back
            await self._db.write_all(self._recorded_rows(prepared))
            revisions = [0] * len(prepared)
        else:
            revisions = await self._db.write(self._save_turns(prepared))
        for turn, revision in zip(prepared, revisions, strict=True):
            record = turn.response
            if revision is None:
                continue  # refused: the response had already ended
            if revision > 0:
                self._cache.clear()  # a response saved again may sit inside cached chains
                self._expansions.clear()
            else:
                recorded = record if record.exchange is not None else None
                self._cache.extend(record.previous_response_id, record.id, record.owner, revision, turn.items, recorded)

    def _save_turns(self, turns: list[PreparedTurn]) -> Program[list[int | None]]:
        """Every turn's revision (None when refused, see `_save_turn`). Turns kept as their exchange go in multi-row
        statements, one per 64: they have no items, and their ids are minted for them, so they are new (revision 0).
        A batch of them is then one step of SQLite's writer thread (each step gives the GIL back to the event loop
        and waits to take it again) and one round trip to PostgreSQL, where a statement each took as many."""
        for statement in self._recorded_rows([turn for turn in turns if _recorded(turn)]):
            yield from statement
        revisions: list[int | None] = []
        for turn in turns:
            revisions.append(0 if _recorded(turn) else (yield from self._save_turn(turn)))
        return revisions

    def _recorded_rows(self, recorded: list[PreparedTurn]) -> list[Statement[int]]:
        """The upserts of turns kept as their exchange, 64 rows to a statement."""
        statements = []
        for start in range(0, len(recorded), _ROWS_PER_STATEMENT):
            rows = recorded[start : start + _ROWS_PER_STATEMENT]
            values = [value for turn in rows for value in response_values(turn.response)]
            statements.append(execute(self._sql.upsert_responses(len(rows)), *values))
        return statements

    def _save_turn(self, turn: PreparedTurn) -> Program[int | None]:
        """Write one response and its items; returns its revision (0 when new), or None when the stored response has
        already ended (`ends_once`): then nothing is written."""
        record = turn.response
        revision: int | None = yield from fetchval(self._sql.upsert_response, *response_values(record))
        if revision is None:
            return None
        previous: set[str] = set()
        if revision > 0:  # saved again (a background response finishing, say): its old items make way for the new
            previous = {row[0] for row in (yield from fetch(self._sql.response_item_ids, record.id))}
            yield from execute(self._sql.delete_response_items, record.id)
        if rows := turn.item_rows():  # a turn kept as its exchange has none
            yield from executemany(self._sql.insert_items, rows)
        if record.conversation_id is not None:
            new = [item for item in turn.items if item["id"] not in previous]
            yield from self._append_conversation_items(record.conversation_id, record.owner, new)
        return revision

    async def get_response(self, response_id: str, owner: str | None) -> StoredResponse | None:
        row = await self._db.read(fetchrow(self._sql.get_response, response_id, owner))
        return None if row is None else self._expansions.complete(response_from_row(row))

    async def delete_response(self, response_id: str, owner: str | None) -> bool:
        self._cache.discard(response_id)
        return bool(await self._db.write(execute(self._sql.delete_response, response_id, owner)))

    async def history(self, response_id: str, owner: str | None) -> tuple[Item, ...] | None:
        cached = self._cache.get(response_id)
        if cached is not None and cached.owner == owner:
            revision = await self._db.read(fetchval(self._sql.live_revision, response_id, owner))
            if revision is None:
                self._cache.discard(response_id)
                return None
            if revision == cached.revision:
                if cached.recorded is not None:  # the last turn was kept as its exchange: read it now, once
                    read = cached.items + self._expansions.expand(cached.recorded).items
                    cached = CachedHistory(owner, revision, read)
                    self._cache.put(response_id, cached)
                return cached.items
        found = await self._db.read(self._chain(response_id, owner))
        if found is None:
            return None
        revision, history = found
        items: list[Item] = []
        for entry in history:
            if isinstance(entry, StoredResponse):
                items.extend(self._expansions.expand(entry).items)
            else:
                items.append(entry)
        cached = CachedHistory(owner, revision, tuple(items))
        self._cache.put(response_id, cached)
        return cached.items

    def _chain(self, response_id: str, owner: str | None) -> Program[tuple[int, list[Item | StoredResponse]] | None]:
        return assemble_history((yield from fetch(self._sql.history, response_id, owner)))

    async def list_input_items(
        self,
        response_id: str,
        owner: str | None,
        *,
        after: str | None = None,
        before: str | None = None,
        limit: int = 20,
        order: Order = "desc",
    ) -> ItemPage | None:
        found = await self._db.read(self._input_items(response_id, owner, after, before, limit, order))
        if not isinstance(found, StoredResponse):
            return found
        inputs = self._expansions.expand(found).input_items
        return page_of(inputs, after=after, before=before, limit=limit, order=order)

    def _input_items(
        self, response_id: str, owner: str | None, after: str | None, before: str | None, limit: int, order: Order
    ) -> Program[ItemPage | StoredResponse | None]:
        """The page; for a turn kept as its exchange, its record to read the items from."""
        kind = yield from fetchval(self._sql.live_exchange_kind, response_id, owner)
        if kind is None:
            return None
        if kind:
            row = yield from fetchrow(self._sql.get_response, response_id, owner)
            return None if row is None else response_from_row(row)
        return (yield from self._page(self._sql.input_items, response_id, after, before, limit, order))

    # Conversations

    async def create_conversation(self, conversation: Conversation, items: Sequence[Item] = ()) -> list[Item]:
        stored = with_item_ids(items)
        await self._db.write(self._create_conversation(conversation, stored))
        return stored

    def _create_conversation(self, conversation: Conversation, items: list[Item]) -> Program[None]:
        yield from execute(self._sql.insert_conversation, *_conversation_values(conversation))
        yield from self._append_conversation_items(conversation.id, conversation.owner, items)

    async def cancel_unfinished(self, response_id: str, owner: str | None) -> bool:
        return bool(await self._db.write(execute(self._sql.cancel_unfinished, response_id, owner)))

    async def ensure_conversation(self, conversation: Conversation) -> bool:
        return await self._db.write(self._ensure_conversation(conversation))

    def _ensure_conversation(self, conversation: Conversation) -> Program[bool]:
        yield from execute(self._sql.ensure_conversation, *_conversation_values(conversation))
        row = yield from fetchrow(self._sql.owned_conversation, conversation.id, conversation.owner)
        return row is not None

    async def get_conversation(self, conversation_id: str, owner: str | None) -> Conversation | None:
        row = await self._db.read(fetchrow(self._sql.owned_conversation, conversation_id, owner))
        return None if row is None else conversation_from_row(row)

    async def update_conversation_metadata(
        self, conversation_id: str, owner: str | None, metadata: dict[str, Any]
    ) -> Conversation | None:
        update = fetchrow(self._sql.update_metadata, conversation_id, owner, dumps(metadata))
        row = await self._db.write(update)
        return None if row is None else conversation_from_row(row)

    async def delete_conversation(self, conversation_id: str, owner: str | None) -> bool:
        return await self._db.write(self._delete_conversation(conversation_id, owner))

    def _delete_conversation(self, conversation_id: str, owner: str | None) -> Program[bool]:
        if not (yield from execute(self._sql.delete_conversation, conversation_id, owner)):
            return False
        yield from execute(self._sql.delete_conversation_items, conversation_id)
        return True

    async def list_conversation_items(
        self,
        conversation_id: str,
        owner: str | None,
        *,
        after: str | None = None,
        before: str | None = None,
        limit: int = 20,
        order: Order = "desc",
    ) -> ItemPage | None:
        found = fetchrow(self._sql.owned_conversation, conversation_id, owner)
        return await self._db.read(
            self._page_if(found, self._sql.conversation_items, conversation_id, after, before, limit, order)
        )

    async def add_conversation_items(
        self, conversation_id: str, owner: str | None, items: Sequence[Item]
    ) -> list[Item] | None:
        stored = with_item_ids(items)
        found = await self._db.write(self._append_conversation_items(conversation_id, owner, stored))
        return stored if found else None

    def _append_conversation_items(self, conversation_id: str, owner: str | None, items: list[Item]) -> Program[bool]:
        """Append after the conversation's last position; False if this owner has no such conversation."""
        end = yield from fetchval(self._sql.claim_positions, conversation_id, owner, len(items))
        if end is None:
            return False
        start = end - len(items)
        rows = [(conversation_id, start + offset, item["id"], dumps(item)) for offset, item in enumerate(items)]
        yield from executemany(self._sql.insert_conversation_items, rows)
        return True

    async def get_conversation_item(self, conversation_id: str, owner: str | None, item_id: str) -> Item | None:
        body = await self._db.read(fetchval(self._sql.get_conversation_item, conversation_id, owner, item_id))
        return None if body is None else loads_item(body)

    async def delete_conversation_item(self, conversation_id: str, owner: str | None, item_id: str) -> bool:
        delete = execute(self._sql.delete_conversation_item, conversation_id, owner, item_id)
        return bool(await self._db.write(delete))

    async def conversation_history(self, conversation_id: str, owner: str | None) -> list[Item] | None:
        return await self._db.read(self._conversation_history(conversation_id, owner))

    def _conversation_history(self, conversation_id: str, owner: str | None) -> Program[list[Item] | None]:
        if (yield from fetchrow(self._sql.owned_conversation, conversation_id, owner)) is None:
            return None
        return [loads_item(row[0]) for row in (yield from fetch(self._sql.conversation_bodies, conversation_id))]

    async def find_items(self, item_ids: Collection[str], owner: str | None) -> dict[str, Item]:
        wanted = set(item_ids)
        found = items_by_id(await self._db.read(fetch(self._sql.items_by_id, self._sql.id_list(list(wanted)), owner)))
        recorded = recorded_response_ids(wanted - found.keys())  # items of turns kept as their exchange have no rows
        if recorded:
            rows = await self._db.read(fetch(self._sql.recorded_by_id, self._sql.id_list(sorted(recorded)), owner))
            for row in rows:
                items = self._expansions.expand(response_from_row(row)).items
                found.update((item["id"], item) for item in items if item["id"] in wanted)
        return found

    # Listing

    async def list_conversations(self, owner: str | None, *, limit: int = 20) -> list[Conversation]:
        rows = await self._db.read(fetch(self._sql.list_conversations, owner, limit))
        return [conversation_from_row(row) for row in rows]

    async def list_chains(self, owner: str | None, *, limit: int = 20) -> list[StoredResponse]:
        rows = await self._db.read(fetch(self._sql.list_chains, owner, limit))
        return [self._expansions.complete(response_from_row(row)) for row in rows]

    async def list_conversation_responses(self, conversation_id: str, owner: str | None) -> list[StoredResponse] | None:
        return await self._db.read(self._conversation_responses(conversation_id, owner))

    def _conversation_responses(self, conversation_id: str, owner: str | None) -> Program[list[StoredResponse] | None]:
        if (yield from fetchrow(self._sql.owned_conversation, conversation_id, owner)) is None:
            return None
        rows = yield from fetch(self._sql.conversation_responses, conversation_id, owner)
        return [response_from_row(row) for row in rows]

    # Paging

    def _page_if(
        self,
        found: Statement[Any],
        paging: Paging,
        key: str,
        after: str | None,
        before: str | None,
        limit: int,
        order: Order,
    ) -> Program[ItemPage | None]:
        """The page of the list keyed by ``key``; None if ``found`` (the list's owner) gives None."""
        if (yield from found) is None:
            return None
        return (yield from self._page(paging, key, after, before, limit, order))

    def _page(
        self, paging: Paging, key: str, after: str | None, before: str | None, limit: int, order: Order
    ) -> Program[ItemPage]:
        positions: list[int | None] = []
        for cursor in (after, before):
            position = None if cursor is None else (yield from fetchval(paging.position, key, cursor))
            if cursor is not None and position is None:
                return ItemPage([], False)
            positions.append(position)
        low, high = cursor_bounds(order, positions[0], positions[1])
        rows = yield from fetch(paging.rows(order), key, low, high, limit + 1)
        return page_from_bodies([row[0] for row in rows], limit)

    # Retention

    async def prune(self, *, idle_before: int | None, max_bytes: int | None = None) -> PruneResult:
        result = await self._db.write(prune_program(self._sql.retention, idle_before, max_bytes))
        if result.responses:
            self._cache.clear()
        return result

    async def stats(self) -> StoreStats:
        return await self._db.read(stats_program(self._sql.retention))

    async def ping(self) -> None:
        await self._db.read(fetchval("SELECT 1"))

    async def close(self) -> None:
        await self._db.close()


_ROWS_PER_STATEMENT = 64
"""64 responses of 17 columns stay well under both databases' limits on a statement's parameters."""


def _recorded(turn: PreparedTurn) -> bool:
    return turn.response.exchange is not None and not turn.items and turn.response.conversation_id is None


def _conversation_values(conversation: Conversation) -> tuple[Any, ...]:
    return conversation.id, conversation.owner, conversation.created_at, dumps(conversation.metadata)
