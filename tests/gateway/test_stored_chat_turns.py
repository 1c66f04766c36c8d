"""Stored chat turns on an OpenAI-compatible provider: relayed byte for byte under the gateway's completion id, kept as
the exchange they were, read back as Responses objects and items, acknowledged only once durable."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import urllib.request
from pathlib import Path
from typing import Any

import openai
import pytest
from mock_upstream import REQUESTS
from support import http
from support.servers import ServerThread

from plano_proxy.proxy.api.state import TurnState

HI = [{"role": "user", "content": "Tell me a short story"}]


def chat(gateway: ServerThread, **extra: Any) -> tuple[str, bytes]:
    """The completion id and the answer's bytes as the client got them."""
    answer = http.post(f"{gateway.url}/v1/chat/completions", {"model": "gpt-4o-mini", "messages": HI, **extra})
    assert answer.status == 200, answer.body
    first = answer.body.split(b"\n", 1)[0].removeprefix(b"data: ") if extra.get("stream") else answer.body
    return json.loads(first)["id"], answer.body


@pytest.mark.parametrize("stream", [False, True])
def test_a_stored_turn_is_relayed_and_read_back(make_gateway, store_kind: str, stream: bool) -> None:
    """The client gets the provider's answer under the gateway's id; the turn reads back as a Responses object,
    its input items, a history a Responses turn continues and items an item reference finds."""
    gateway = make_gateway(store_kind)
    extra = {"stream": True, "stream_options": {"include_usage": True}} if stream else {}
    completion_id, body = chat(gateway, **extra)
    assert completion_id.startswith("chatcmpl-") and len(completion_id) == len("chatcmpl-") + 48
    assert stream or b'"model": "gpt-4o-mini"' in body  # the mock's own bytes (the gateway's encoders write no spaces)
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
    stored = client.responses.retrieve(completion_id)
    assert stored.status == "completed" and stored.model == "gpt-4o-mini"
    assert "short story" in stored.output_text and stored.usage is not None and stored.usage.output_tokens > 0
    inputs = client.responses.input_items.list(completion_id).data
    assert [item.type for item in inputs] == ["message"]
    assert client.responses.retrieve(completion_id).output[0].id == stored.output[0].id  # the same ids each time
    follow = client.responses.create(model="gpt-4o-mini", input="And then?", previous_response_id=completion_id)
    assert "Tell me a short story" in follow.output_text
    reference = client.responses.create(
        model="gpt-4o-mini",
        input=[{"type": "item_reference", "id": stored.output[0].id}, {"role": "user", "content": "go"}],
    )
    assert reference.status == "completed"


def test_the_record_is_the_answer_as_sent(make_gateway, tmp_path: Path, mock_upstream: ServerThread) -> None:
    """What SQLite keeps is the request as the client sent it and the answer byte for byte as the client got it;
    the provider gets the client's body with only the model rewritten."""
    gateway = make_gateway("sqlite")
    for stream in (False, True):
        completion_id, body = chat(gateway, temperature=0.5, **({"stream": True} if stream else {}))
        assert mock_upstream.app is not None
        sent = mock_upstream.app[REQUESTS][-1].body
        assert sent == {
            "model": "gpt-4o-mini",
            "messages": HI,
            "temperature": 0.5,
            **({"stream": True} if stream else {}),
        }
        with sqlite3.connect(tmp_path / "state.db") as conn:
            kind, request, answer = conn.execute(
                "SELECT exchange_kind, exchange_request, exchange_answer FROM responses WHERE id = ?", (completion_id,)
            ).fetchone()
        assert kind == ("chat-stream" if stream else "chat") and answer == body
        assert json.loads(request)["temperature"] == 0.5


@pytest.mark.parametrize("stream", [False, True])
def test_the_end_of_the_answer_waits_for_the_commit(make_gateway, monkeypatch, stream: bool) -> None:
    """While the turn's commit is held, a stream has sent its first chunks but not its finish chunk nor [DONE],
    and a whole answer has sent nothing."""
    committing, release = threading.Event(), threading.Event()
    original = TurnState.commit_exchange

    async def held(self: TurnState, *args: Any) -> None:
        committing.set()
        await asyncio.to_thread(release.wait, 30)
        await original(self, *args)

    monkeypatch.setattr(TurnState, "commit_exchange", held)
    gateway = make_gateway("sqlite")
    body = json.dumps({"model": "gpt-4o-mini", "messages": HI, "stream": stream}).encode()
    request = urllib.request.Request(
        f"{gateway.url}/v1/chat/completions", data=body, headers={"Content-Type": "application/json"}
    )
    seen: list[bytes] = []
    done = threading.Event()

    def read() -> None:
        with urllib.request.urlopen(request, timeout=30) as response:
            for line in response:
                seen.append(line)
        done.set()

    reader = threading.Thread(target=read)
    reader.start()
    assert committing.wait(10)
    assert not done.wait(0.3)
    if stream:
        assert any(b'"content":"' in line for line in seen)
        assert not any(b'"finish_reason":"' in line or b"[DONE]" in line for line in seen)
    else:
        assert seen == []
    release.set()
    reader.join(10)
    assert done.is_set() and (b"data: [DONE]\n" in seen if stream else json.loads(b"".join(seen))["choices"])


def test_a_cut_stream_is_not_kept(make_gateway) -> None:
    """A provider stream that breaks off ends with the cut error and stores nothing, as on the translated path."""
    gateway = make_gateway("sqlite")
    answer = http.post(
        f"{gateway.url}/v1/chat/completions",
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "[[fault:cut]] go"}], "stream": True},
    )
    assert b"upstream_stream_error" in answer.body
    completion_id = json.loads(answer.body.split(b"\n", 1)[0].removeprefix(b"data: "))["id"]
    assert http.get(f"{gateway.url}/v1/responses/{completion_id}").status == 404
