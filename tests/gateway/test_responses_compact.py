"""``POST /v1/responses/compact`` on every upstream kind, and compaction items sent back as input, with the openai SDK.

The routed model writes the summary; the mock upstream answers with an echo of what it heard, so the summary holds
the conversation's text and what each provider received can be read back from the mock.
"""

from __future__ import annotations

import json

import openai
import pytest
from mock_upstream import REQUESTS
from support import http
from support.servers import ServerThread

UPSTREAM_PATHS = {
    "gpt-4o-mini": "/v1/chat/completions",
    "gpt-4o": "/v1/responses",
    "claude-sonnet-4-5": "/v1/messages",
}
"""A Chat Completions upstream, a native Responses upstream and an Anthropic upstream, and where each is called."""
CONVERSATION = [
    {"role": "user", "content": "My name is Alice"},
    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hello Alice, noted."}]},
    {"role": "user", "content": "I like Python"},
]
PREAMBLE = "This is a summary of the earlier part of this conversation"


def last_sent(mock: ServerThread) -> tuple[str, str]:
    """The path and the JSON text of the last request the mock upstream received."""
    sent = mock.app[REQUESTS][-1]
    return sent.path, json.dumps(sent.body)


def compacted_items(client: openai.OpenAI, **params: object) -> list[dict]:
    """The compacted output as JSON, as Codex keeps it to send back (the SDK types its user messages as assistant
    output messages, so their dump would not be what the gateway sent)."""
    raw = client.responses.with_raw_response.compact(**params)  # type: ignore[arg-type]
    return raw.http_response.json()["output"]


@pytest.mark.parametrize("model", UPSTREAM_PATHS)
def test_compact_summarises_through_the_routed_model(
    openai_client: openai.OpenAI, mock_upstream: ServerThread, model: str
) -> None:
    """The answer is OpenAI's compaction object (the user messages, then one gateway-minted compaction item) and the
    summary was asked of the routed model, which heard the whole conversation and its instructions."""
    compacted = openai_client.responses.compact(
        model=model, input=CONVERSATION, instructions="Be brief.", prompt_cache_key="codex-session"
    )
    path, sent = last_sent(mock_upstream)
    assert path == UPSTREAM_PATHS[model]
    assert "Summarise this conversation" in sent
    assert all(text in sent for text in ("My name is Alice", "Hello Alice, noted.", "I like Python", "Be brief."))
    assert compacted.object == "response.compaction" and compacted.id.startswith("resp_")
    *users, compaction = compacted.output
    assert [(user.type, user.role, user.content[0].text) for user in users] == [
        ("message", "user", "My name is Alice"),
        ("message", "user", "I like Python"),
    ]
    assert compaction.type == "compaction" and compaction.id.startswith("cmp_")
    assert compaction.encrypted_content.startswith("plano.compaction.v1:")
    assert compacted.usage.input_tokens > 0 and compacted.usage.output_tokens > 0
    assert compacted.usage.total_tokens == compacted.usage.input_tokens + compacted.usage.output_tokens


@pytest.mark.parametrize("model", UPSTREAM_PATHS)
def test_compaction_item_sent_back_becomes_the_summary(
    openai_client: openai.OpenAI, mock_upstream: ServerThread, model: str
) -> None:
    """Codex sends the compacted output back as the start of its input: the provider hears the summary as a message
    (the assistant's words reach it only through the summary), never the blob; stored, it keeps working."""
    compacted = compacted_items(openai_client, model=model, input=CONVERSATION)
    follow = openai_client.responses.create(
        model=model, input=[*compacted, {"role": "user", "content": "What is my name?"}]
    )
    path, sent = last_sent(mock_upstream)
    assert path == UPSTREAM_PATHS[model]
    assert PREAMBLE in sent and "Hello Alice, noted." in sent and "What is my name?" in sent
    assert "plano.compaction.v1:" not in sent
    stored = [item.type for item in openai_client.responses.input_items.list(follow.id, order="asc")]
    assert stored == ["message", "message", "compaction", "message"]

    openai_client.responses.create(model=model, input="And my language?", previous_response_id=follow.id)
    _, sent = last_sent(mock_upstream)
    assert PREAMBLE in sent and "Hello Alice, noted." in sent and "plano.compaction.v1:" not in sent


@pytest.mark.parametrize(
    ("model", "forwarded"), [("gpt-4o", True), ("gpt-4o-mini", False), ("claude-sonnet-4-5", False)]
)
def test_foreign_compaction_item_reaches_only_openai(
    openai_client: openai.OpenAI, mock_upstream: ServerThread, model: str, forwarded: bool
) -> None:
    """A compaction item the gateway did not mint (OpenAI's, encrypted) goes as sent to a native Responses upstream
    and is left out for every other provider, which could not read it."""
    foreign = {"type": "compaction", "encrypted_content": "gAAAAB-minted-by-openai"}
    answer = openai_client.responses.create(model=model, input=[foreign, {"role": "user", "content": "Go on."}])
    assert answer.status == "completed"
    sent = mock_upstream.app[REQUESTS][-1].body
    assert ("gAAAAB-minted-by-openai" in json.dumps(sent)) is forwarded
    if forwarded:
        assert sent["input"][0] == foreign


def test_compact_reads_the_stored_history(openai_client: openai.OpenAI, mock_upstream: ServerThread) -> None:
    """With previous_response_id the summary covers the stored chain, and its user messages are kept."""
    first = openai_client.responses.create(model="claude-sonnet-4-5", input="My name is Alice")
    compacted = openai_client.responses.compact(
        model="claude-sonnet-4-5", previous_response_id=first.id, input="I like Python"
    )
    _, sent = last_sent(mock_upstream)
    assert first.output_text[:30] in json.dumps(json.loads(sent)["messages"][0]["content"])
    assert [item.content[0].text for item in compacted.output[:-1]] == ["My name is Alice", "I like Python"]


def test_compact_needs_a_model(gateway: ServerThread) -> None:
    """Without a model the compaction is OpenAI's 400 naming the parameter."""
    answer = http.post(f"{gateway.url}/v1/responses/compact", {"input": "hi"})
    assert answer.status == 400
    assert answer.json()["error"] == {
        "message": "Missing required parameter: 'model'.",
        "type": "invalid_request_error",
        "param": "model",
        "code": "missing_required_parameter",
    }


def test_compaction_item_without_content_is_refused(openai_client: openai.OpenAI) -> None:
    """A compaction input item must carry its encrypted_content: a 400 naming it, before any provider is called."""
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.responses.create(model="gpt-4o-mini", input=[{"type": "compaction"}])
    assert caught.value.param == "input[0].encrypted_content"
