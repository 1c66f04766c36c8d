"""``truncation: "auto"`` on every upstream kind: the oldest whole turns are dropped to fit the configured
``context_window``, and what each provider received is read back from the mock upstream."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest
from mock_upstream import REQUESTS
from support.gateway import gateway_config_text
from support.servers import ServerThread

from plano_proxy.proxy.config import parse_config

MODELS = ["gpt-4o-mini", "gpt-4o", "claude-sonnet-4-5"]
"""A Chat Completions upstream, a native Responses upstream and an Anthropic upstream."""
WINDOW = 500
"""Each model's configured context window, in tokens: about 2,000 characters of JSON."""


def words(label: str, count: int = 130) -> str:
    return label + " " + "word " * count


# About 2,700 characters: turn one takes some 1,700 of them, turn two (with its tool round trip) some 800.
CONVERSATION = [
    {"role": "developer", "content": "Answer briefly."},
    {"role": "user", "content": words("turn one")},
    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": words("answer one")}]},
    {"role": "user", "content": words("turn two", 70)},
    {"type": "function_call", "call_id": "call_weather", "name": "get_weather", "arguments": '{"city": "Paris"}'},
    {"type": "function_call_output", "call_id": "call_weather", "output": "sunny in Paris"},
    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "It is sunny."}]},
    {"role": "user", "content": "turn three: thanks"},
]


@pytest.fixture
def client(mock_upstream: ServerThread) -> Iterator[openai.OpenAI]:
    """A gateway whose three test models have a context window of `WINDOW` tokens, with state in memory."""
    text = gateway_config_text(mock_upstream.url, "state_storage: {type: memory}\n")
    for model in ("openai/gpt-4o-mini", "openai/gpt-4o", "anthropic/claude-sonnet-4-5"):
        text = text.replace(f"  - model: {model}\n", f"  - model: {model}\n    context_window: {WINDOW}\n")
    from plano_proxy.proxy.app import create_app

    config = parse_config(text, {})
    gateway = ServerThread(lambda: create_app(config))
    yield openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
    gateway.close()


def sent_text(mock: ServerThread) -> str:
    return json.dumps(mock.app[REQUESTS][-1].body)


@pytest.mark.parametrize("model", MODELS)
def test_auto_drops_the_oldest_turn(client: openai.OpenAI, mock_upstream: ServerThread, model: str) -> None:
    """Turn one goes; the developer message, turn two with its whole tool round trip, and turn three stay."""
    answer = client.responses.create(model=model, input=CONVERSATION, truncation="auto")
    sent = sent_text(mock_upstream)
    assert "turn one" not in sent and "answer one" not in sent
    assert all(text in sent for text in ("Answer briefly.", "turn two", "Paris", "sunny in Paris", "turn three"))
    assert answer.truncation == "auto"


@pytest.mark.parametrize("model", MODELS)
def test_disabled_sends_everything(client: openai.OpenAI, mock_upstream: ServerThread, model: str) -> None:
    """Without truncation (the default) nothing is dropped, however long the input."""
    answer = client.responses.create(model=model, input=CONVERSATION)
    assert "turn one" in sent_text(mock_upstream) and answer.truncation == "disabled"


@pytest.mark.parametrize("model", MODELS)
def test_requested_output_takes_room(client: openai.OpenAI, mock_upstream: ServerThread, model: str) -> None:
    """max_output_tokens is kept free in the window: turn two goes too, its function call together with its output."""
    client.responses.create(model=model, input=CONVERSATION, truncation="auto", max_output_tokens=300)
    sent = sent_text(mock_upstream)
    assert all(text not in sent for text in ("turn one", "turn two", "Paris", "sunny"))
    assert "Answer briefly." in sent and "turn three" in sent


@pytest.mark.parametrize("model", MODELS)
def test_stored_history_is_truncated_only_on_the_way_out(
    client: openai.OpenAI, mock_upstream: ServerThread, model: str
) -> None:
    """A chain continued with truncation sends its provider the recent turns only; the stored history stays whole,
    so a later turn without truncation sends everything again."""
    first = client.responses.create(model=model, input=CONVERSATION[:3])
    second = client.responses.create(
        model=model, input=CONVERSATION[3:], previous_response_id=first.id, truncation="auto"
    )
    assert "turn one" not in sent_text(mock_upstream) and "turn three" in sent_text(mock_upstream)
    client.responses.create(model=model, input="turn four", previous_response_id=second.id)
    assert "turn one" in sent_text(mock_upstream) and "turn four" in sent_text(mock_upstream)


@pytest.mark.parametrize("model", MODELS)
def test_counting_sees_the_truncation(client: openai.OpenAI, model: str) -> None:
    """input_tokens counts what would be sent: fewer tokens with truncation: "auto" than without."""
    whole = client.responses.input_tokens.count(model=model, input=CONVERSATION)
    truncated = client.responses.input_tokens.count(model=model, input=CONVERSATION, truncation="auto")
    assert 0 < truncated.input_tokens < whole.input_tokens
