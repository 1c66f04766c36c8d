"""What the SQL stores promise beyond the contract, checked on SQLite and PostgreSQL alike: a write is one
transaction, on which the background writer's turn-by-turn retry of a refused batch relies."""

from __future__ import annotations

from typing import Any

import pytest
from storage_fixtures import Stores

from plano_proxy.storage import Conversation, StoredResponse, StoredTurn


def message(text: Any) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def turn(response_id: str, text: Any, **extra: Any) -> StoredTurn:
    return StoredTurn(StoredResponse(response_id, None, 1_700_000_000, "completed", "m", **extra), [message(text)], [])


async def test_a_refused_turn_undoes_its_whole_batch(durable_stores: Stores) -> None:
    """When one turn of a batch cannot be stored, the turns before it are not stored either, their conversation
    items included, and the same turn saved alone afterwards is stored once."""
    store = await durable_stores.open()
    await store.create_conversation(Conversation("conv_1", None, 1_700_000_000))
    unencodable = object()
    with pytest.raises(TypeError):
        await store.save_turns([turn("resp_ok", "q", conversation_id="conv_1"), turn("resp_bad", unencodable)])
    assert await store.get_response("resp_ok", None) is None
    assert await store.history("resp_ok", None) is None
    assert await store.conversation_history("conv_1", None) == []
    await store.save_turns([turn("resp_ok", "q", conversation_id="conv_1")])
    history = await store.conversation_history("conv_1", None)
    assert history is not None and [item["content"][0]["text"] for item in history] == ["q"]
