"""Chat Completions details clients read, checked on the byte relay (no storage), the stored-turn path, a native
Responses provider and an Anthropic provider."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from support import http

HI = [{"role": "user", "content": "Tell me a short story"}]
# (storage, model): the relay to an OpenAI-compatible provider, the same provider with stored turns (translated),
# a native Responses provider and an Anthropic provider.
RELAY = (None, "gpt-4o-mini")
TRANSLATED = [("sqlite", "gpt-4o-mini"), ("sqlite", "gpt-4o"), (None, "claude-sonnet-4-5")]


def chunks_of(body: bytes) -> list[dict[str, Any]]:
    lines = [line[6:] for line in body.decode().splitlines() if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    return [json.loads(line) for line in lines[:-1]]


@pytest.mark.parametrize(("storage", "model"), [RELAY, *TRANSLATED])
def test_include_usage_puts_null_usage_on_every_chunk_but_the_last(make_gateway, storage: str | None, model: str):
    """As OpenAI streams with include_usage: "usage": null on each chunk, then one chunk with no choices and usage."""
    gateway = make_gateway(storage)
    body = {"model": model, "messages": HI, "stream": True, "stream_options": {"include_usage": True}}
    answer = http.post(f"{gateway.url}/v1/chat/completions", body)
    assert answer.status == 200
    *chunks, last = chunks_of(answer.body)
    assert len(chunks) > 3
    assert all("usage" in chunk and chunk["usage"] is None and chunk["choices"] for chunk in chunks)
    assert last["choices"] == [] and last["usage"]["completion_tokens"] > 0
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
    streamed = list(client.chat.completions.create(**body))
    assert [c.usage is None for c in streamed] == [True] * (len(streamed) - 1) + [False]
