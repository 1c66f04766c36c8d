"""Chat Completions details clients read, checked on the byte relay (no storage), the stored-turn path, a native
Responses provider and an Anthropic provider."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from mock_upstream import REQUESTS
from support import http
from support.servers import ServerThread

HI = [{"role": "user", "content": "Tell me a short story"}]
# (storage, model): the relay to an OpenAI-compatible provider, the same provider with stored turns (relayed too, but
# kept as one choice, so held to the translation's checks), a native Responses provider and an Anthropic provider.
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


def test_n_is_relayed_to_an_openai_compatible_provider(make_gateway, mock_upstream: ServerThread) -> None:
    """On the byte relay n goes to the provider as sent, and its n choices reach the client, whole and streamed."""
    client = openai.OpenAI(base_url=f"{make_gateway(None).url}/v1", api_key="k", max_retries=0)
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=HI, n=2)
    assert [choice.index for choice in completion.choices] == [0, 1]
    assert completion.choices[0].message.content == completion.choices[1].message.content
    assert mock_upstream.app is not None and mock_upstream.app[REQUESTS][-1].body["n"] == 2
    streamed = list(client.chat.completions.create(model="gpt-4o-mini", messages=HI, n=3, stream=True))
    assert {choice.index for chunk in streamed for choice in chunk.choices} == {0, 1, 2}


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(("storage", "model"), TRANSLATED)
def test_n_above_one_is_refused_where_the_answer_is_translated(
    make_gateway, mock_upstream: ServerThread, storage: str | None, model: str, stream: bool
) -> None:
    """A translated answer has one choice, so n > 1 is a 400 naming n before any provider is called."""
    client = openai.OpenAI(base_url=f"{make_gateway(storage).url}/v1", api_key="k", max_retries=0)
    assert mock_upstream.app is not None
    received = len(mock_upstream.app[REQUESTS])
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=model, messages=HI, n=2, stream=stream)
    assert caught.value.param == "n" and "one choice" in caught.value.message and "n is 2" in caught.value.message
    with pytest.raises(openai.BadRequestError) as below:
        client.chat.completions.create(model=model, messages=HI, n=0, stream=stream)
    assert below.value.param == "n" and "Expected a value >= 1, but got 0 instead." in below.value.message
    assert len(mock_upstream.app[REQUESTS]) == received


@pytest.mark.parametrize(("storage", "model"), [RELAY, *TRANSLATED])
def test_n_of_one_is_answered_everywhere(make_gateway, storage: str | None, model: str) -> None:
    """n: 1 is the default spelled out: one choice on every path."""
    client = openai.OpenAI(base_url=f"{make_gateway(storage).url}/v1", api_key="k", max_retries=0)
    completion = client.chat.completions.create(model=model, messages=HI, n=1)
    assert len(completion.choices) == 1 and "short story" in (completion.choices[0].message.content or "")
