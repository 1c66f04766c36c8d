"""The `Store` interface, its records, and the rules every implementation follows.

Records are frozen slotted dataclasses; conversation items are Responses-shaped dicts (messages, function calls and
their outputs, reasoning with ``encrypted_content``, images as data URLs) kept losslessly as JSON.

Rules shared by all stores:

- Every read and write is scoped to an ``owner`` (the caller's gateway key identity, None without gateway keys).
  Another owner sees nothing: reads give None, deletes give False.
- Every stored item has an ``id``: an item's own id is kept, a missing one is minted (`with_item_ids`).
- A turn writes its response and only its new items (this turn's input, then its output), so an N-turn chain takes
  O(N) storage. Saving a response id again replaces that record and its items (background responses move from
  ``queued`` to a terminal status); items already saved for it are not appended to its conversation a second time.
  A response that has ended is never saved over (`ends_once`): the first terminal write wins.
- Deleting a response leaves a tombstone: the response is gone for every read (get, history, input items, use as
  ``previous_response_id``), while responses that already continue it keep their whole history and stay
  retrievable, as on OpenAI.
- Item dicts handed to a store or returned by it may be shared (the history cache keeps them): treat them as
  read-only.
"""

from __future__ import annotations

import abc
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from plano_proxy.storage.retention import PruneResult, StoreStats
from plano_proxy.transformers.ids import random_id

Item: TypeAlias = dict[str, Any]
Order: TypeAlias = Literal["asc", "desc"]

ITEM_ID_PREFIXES: dict[str, str] = {
    "message": "msg_",
    "function_call": "fc_",
    "function_call_output": "fco_",
    "reasoning": "rs_",
    "custom_tool_call": "ctc_",
    "custom_tool_call_output": "ctco_",
    "compaction": "cmp_",
}
"""Id prefixes of stored items by type, as OpenAI mints them; other types get ``item_``."""

TERMINAL_STATUSES = frozenset({"completed", "failed", "incomplete", "cancelled"})


def ends_once(stored: str, saved: str) -> bool:
    """Whether a response stored with status `stored` may be saved again with status `saved`: only while it is
    unfinished, so a status that ended it (a cancel from another instance, a takeover after its instance died) is
    never overwritten by whoever finishes later. A cancelled response takes the cancelled answer of the instance that
    was producing it (its partial output)."""
    return stored not in TERMINAL_STATUSES or stored == saved == "cancelled"


class StorageUnavailable(Exception):
    """The database cannot be reached or refused the work for a reason that may pass (connection lost, locked,
    shutting down, out of resources). Retrying later may succeed."""


@dataclass(frozen=True, slots=True)
class RecordedExchange:
    """A turn kept as the exchange it was, not as items: see `plano_proxy.storage.exchange`."""

    kind: Literal["chat", "chat-stream"]
    """A Chat Completions turn answered whole (``chat``) or streamed (``chat-stream``)."""
    request: bytes
    """The request body as the client sent it."""
    answer: bytes
    """The answer as the client received it: the ``chat.completion`` body, or the SSE stream."""


@dataclass(frozen=True, slots=True)
class StoredResponse:
    id: str
    owner: str | None
    created_at: int
    status: str
    model: str
    provider: str | None = None
    previous_response_id: str | None = None
    conversation_id: str | None = None
    request: dict[str, Any] = field(default_factory=dict)
    """The request parameters the response object echoes."""
    output: list[Item] = field(default_factory=list)
    usage: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    events: list[dict[str, Any]] | None = None
    """The stream events as emitted (with their sequence numbers), for replay with ``starting_after``."""
    completed_at: int | None = None
    exchange: RecordedExchange | None = None
    """Set for a turn kept as its exchange; the fields read from its answer (``request``, ``output``, ``usage``)
    are then filled when the store reads it back."""


@dataclass(frozen=True, slots=True)
class Conversation:
    id: str
    owner: str | None
    created_at: int
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StoredTurn:
    """One unit of work for `Store.save_turns` and the background writer."""

    response: StoredResponse
    input_items: list[Item]
    output_items: list[Item]


@dataclass(frozen=True, slots=True)
class ItemPage:
    """One page of a list object: ``data`` in the requested order, ``has_more`` if items remain past its end."""

    items: list[Item]
    has_more: bool

    @property
    def first_id(self) -> str | None:
        return self.items[0]["id"] if self.items else None

    @property
    def last_id(self) -> str | None:
        return self.items[-1]["id"] if self.items else None


def item_id_prefix(item: Item) -> str:
    return ITEM_ID_PREFIXES.get(str(item.get("type", "")), "item_")


def with_item_ids(items: Iterable[Item]) -> list[Item]:
    """The items, each with an ``id``: its own when it has one, else a fresh unguessable one (``msg_…``, ``fc_…``)."""
    return [item if item.get("id") else {"id": random_id(item_id_prefix(item)), **item} for item in items]


def page_of(items: Sequence[Item], *, after: str | None, before: str | None, limit: int, order: Order) -> ItemPage:
    """Cursor paging over an ordered list, as OpenAI's list objects do it.

    The items are taken in ``order``; ``after`` keeps those that come after that id in this order, ``before`` those
    that come before it; the first ``limit`` are returned. An unknown cursor id gives an empty page.
    """
    ordered = list(items) if order == "asc" else list(reversed(items))
    ids = [item["id"] for item in ordered]
    start, stop = 0, len(ordered)
    if after is not None:
        if after not in ids:
            return ItemPage([], False)
        start = ids.index(after) + 1
    if before is not None:
        if before not in ids:
            return ItemPage([], False)
        stop = ids.index(before)
    window = ordered[start:stop]
    return ItemPage(window[:limit], len(window) > limit)


class Store(abc.ABC):
    """Durable state of the Responses and Conversations APIs. All methods are coroutines."""

    async def save_turn(self, response: StoredResponse, input_items: list[Item], output_items: list[Item]) -> None:
        """Store one response with its new items in one transaction; see `save_turns`."""
        await self.save_turns([StoredTurn(response, input_items, output_items)])

    @abc.abstractmethod
    async def save_turns(self, turns: Sequence[StoredTurn]) -> None:
        """Store several turns in ONE transaction (group commit), in order.

        Each turn writes its response and its input items then output items; when the response names a
        conversation that the same owner holds, those items are appended to the conversation in the same order.
        Raises `StorageUnavailable` when the database is away; any other exception means the data was refused.
        """

    @abc.abstractmethod
    async def get_response(self, response_id: str, owner: str | None) -> StoredResponse | None: ...

    @abc.abstractmethod
    async def delete_response(self, response_id: str, owner: str | None) -> bool:
        """Tombstone the response; True if it existed for this owner (see the module docstring)."""

    @abc.abstractmethod
    async def history(self, response_id: str, owner: str | None) -> tuple[Item, ...] | None:
        """Every item of the chain ending at this response (each ancestor's input then output, oldest first).

        A history served from a store's cache is the same tuple for every turn that continues the response, so
        what is worked out from it once (see `plano_proxy.transformers.history_memo`) holds
        for the next turn too.

        None when the response is unknown, deleted, owned by another, or its chain is incomplete (an ancestor
        evicted from the memory store).
        """

    @abc.abstractmethod
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
        """This response's own input items (not its inherited history), paged; None if the response is unknown."""

    @abc.abstractmethod
    async def create_conversation(self, conversation: Conversation, items: Sequence[Item] = ()) -> list[Item]:
        """Create the conversation with its first items; returns those items with their ids."""

    @abc.abstractmethod
    async def cancel_unfinished(self, response_id: str, owner: str | None) -> bool:
        """Mark the response ``cancelled`` if it is still ``queued`` or ``in_progress``, in one step, so a producer
        finishing at the same moment is never overwritten; False if it was finished already (or is unknown)."""

    @abc.abstractmethod
    async def ensure_conversation(self, conversation: Conversation) -> bool:
        """Create the conversation unless its id exists; True if it now belongs to `conversation.owner` (just
        created or already there), False if another owner holds that id."""

    @abc.abstractmethod
    async def get_conversation(self, conversation_id: str, owner: str | None) -> Conversation | None: ...

    @abc.abstractmethod
    async def update_conversation_metadata(
        self, conversation_id: str, owner: str | None, metadata: dict[str, Any]
    ) -> Conversation | None:
        """Replace the metadata; returns the updated conversation, None if unknown."""

    @abc.abstractmethod
    async def delete_conversation(self, conversation_id: str, owner: str | None) -> bool:
        """Delete the conversation and its items (responses that used it stay); True if it existed."""

    @abc.abstractmethod
    async def list_conversation_items(
        self,
        conversation_id: str,
        owner: str | None,
        *,
        after: str | None = None,
        before: str | None = None,
        limit: int = 20,
        order: Order = "desc",
    ) -> ItemPage | None: ...

    @abc.abstractmethod
    async def add_conversation_items(
        self, conversation_id: str, owner: str | None, items: Sequence[Item]
    ) -> list[Item] | None:
        """Append items; returns them with their ids, None if the conversation is unknown."""

    @abc.abstractmethod
    async def get_conversation_item(self, conversation_id: str, owner: str | None, item_id: str) -> Item | None: ...

    @abc.abstractmethod
    async def delete_conversation_item(self, conversation_id: str, owner: str | None, item_id: str) -> bool: ...

    @abc.abstractmethod
    async def conversation_history(self, conversation_id: str, owner: str | None) -> list[Item] | None:
        """All items of the conversation, oldest first; None if unknown."""

    @abc.abstractmethod
    async def find_items(self, item_ids: Collection[str], owner: str | None) -> dict[str, Item]:
        """The stored items with these ids, by id, looked up together: input and output items of the owner's
        responses and items of the owner's conversations.

        An id that is unknown, another owner's, or held only by a deleted response or conversation is absent. An
        id several stored items share (an item carried into later turns keeps its id) gives one of them.
        """

    # Listing the owner's state (the playground's side list)

    @abc.abstractmethod
    async def list_conversations(self, owner: str | None, *, limit: int = 20) -> list[Conversation]:
        """The owner's conversations, newest first (``created_at`` descending, then id descending), at most
        ``limit``."""

    @abc.abstractmethod
    async def list_chains(self, owner: str | None, *, limit: int = 20) -> list[StoredResponse]:
        """The last response of each of the owner's chains, newest first (``created_at`` descending, then id
        descending), at most ``limit``: its live responses outside any conversation that none of its live responses
        continues. A fork ends a chain of its own. The records come without their ``events`` (None)."""

    @abc.abstractmethod
    async def list_conversation_responses(self, conversation_id: str, owner: str | None) -> list[StoredResponse] | None:
        """The live responses that added to the owner's conversation, oldest first (``created_at``, then id), without
        their ``events``; None if the conversation is unknown."""

    # Retention (the rule is in plano_proxy.storage.retention)

    @abc.abstractmethod
    async def prune(self, *, idle_before: int | None, max_bytes: int | None = None) -> PruneResult:
        """Remove, for every owner, the chains and conversations idle since before ``idle_before`` (seconds since
        the epoch), and the oldest others while more than ``max_bytes`` of JSON is stored; never a turn that the
        history of a response kept needs."""

    @abc.abstractmethod
    async def stats(self) -> StoreStats:
        """Rows and bytes of JSON held, for every owner."""

    @property
    def available(self) -> bool:
        """False while the database is known to be away, when work fails at once with `StorageUnavailable` (see
        `plano_proxy.storage.availability`). A store that keeps no such state says True and finds out by trying."""
        return True

    @abc.abstractmethod
    async def ping(self) -> None:
        """Return if the database answers; raise `StorageUnavailable` otherwise (readiness)."""

    async def warm(self) -> None:
        """Get ready for the first turn, on the event loop that will serve the turns (the gateway calls it at start);
        nothing to do for most stores."""
        return None

    @abc.abstractmethod
    async def close(self) -> None: ...
