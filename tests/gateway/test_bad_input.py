"""Bad input never gets a 5xx, never crashes the gateway, and never changes a stored object."""

from __future__ import annotations

import json

import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import http
from support.servers import ServerThread

ENDPOINTS = ["/v1/chat/completions", "/v1/messages", "/v1/responses", "/v1/messages/count_tokens", "/v1/conversations"]
MODELS = st.sampled_from(["gpt-4o-mini", "claude-sonnet-4-5", "gpt-4o", "nope", 7, None])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
FIELDS = st.sampled_from(
    [
        "messages",
        "input",
        "tools",
        "tool_choice",
        "max_tokens",
        "stream",
        "system",
        "instructions",
        "temperature",
        "previous_response_id",
        "conversation",
        "response_format",
        "text",
        "reasoning",
        "metadata",
        "items",
        "content",
    ]
)
ITEMS = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "assistant", "system", "tool", "bot"])},
        optional={
            "content": JSON_VALUES,
            "type": st.sampled_from(["message", "function_call", "function_call_output", "reasoning", "x"]),
            "tool_calls": JSON_VALUES,
            "call_id": JSON_VALUES,
        },
    ),
    max_size=4,
)


@pytest.fixture(scope="module")
def fuzz_gateway(mock_upstream: ServerThread, tmp_path_factory: pytest.TempPathFactory):
    from support.gateway import gateway_config_text

    from plano_proxy.proxy.app import create_app
    from plano_proxy.proxy.config import parse_config

    path = tmp_path_factory.mktemp("fuzz") / "state.db"
    config = parse_config(
        gateway_config_text(
            mock_upstream.url, f"state_storage: {{type: sqlite, path: '{path}'}}\nmax_body_bytes: 200000\n"
        ),
        {},
    )
    server = ServerThread(lambda: create_app(config))
    yield server
    server.close()


def check_error_shape(path: str, response: http.RawResponse) -> None:
    assert response.status < 500, (path, response.status, response.body[:300])
    if response.status >= 400:
        body = response.json()
        if path.startswith("/v1/messages"):
            assert body["type"] == "error" and body["error"]["message"]
        else:
            assert body["error"]["message"] and body["error"]["type"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=st.sampled_from(ENDPOINTS), model=MODELS, fields=st.dictionaries(FIELDS, JSON_VALUES, max_size=5), items=ITEMS
)
def test_fuzzed_bodies_never_5xx(
    fuzz_gateway: ServerThread, path: str, model: object, fields: dict, items: list
) -> None:
    """Random JSON bodies on every endpoint get a 2xx or a 4xx in the client's error format, never a 5xx."""
    body = {"model": model, **fields}
    if items:
        body["messages" if "messages" in path or "chat" in path else "input"] = items
    body.setdefault("max_tokens", 20)
    response = http.post(f"{fuzz_gateway.url}{path}", body, headers={"anthropic-version": "2023-06-01"})
    check_error_shape(path, response)


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "\xff\xfe"}]}', 400),
        (b"[" * 5000 + b"]" * 5000, 400),
        (b'{"model": "gpt-4o-mini", "messages": [], "max_tokens": 123456789012345678901234567890}', 400),
        (b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}', 400),
        (b"x" * 300_000, 413),
        (b"", 400),
    ],
)
def test_malformed_bytes(fuzz_gateway: ServerThread, raw: bytes, status: int) -> None:
    """Invalid UTF-8, deep nesting, huge numbers, truncated JSON, oversize and empty bodies: a clear 4xx on each API."""
    for path in ENDPOINTS[:3]:
        response = http.post(f"{fuzz_gateway.url}{path}", raw=raw, headers={"anthropic-version": "2023-06-01"})
        assert response.status == status, (path, response.body[:200])
        check_error_shape(path, response)


def test_bad_input_never_changes_stored_objects(fuzz_gateway: ServerThread) -> None:
    """Rejected continuations and metadata updates leave the stored response and conversation exactly as they were."""
    client = openai.OpenAI(base_url=f"{fuzz_gateway.url}/v1", api_key="k", max_retries=0)
    kept = client.responses.create(model="gpt-4o-mini", input="keep me")
    conversation = client.conversations.create(metadata={"a": "b"})
    before = (
        json.dumps(client.responses.retrieve(kept.id).model_dump(), sort_keys=True),
        client.conversations.retrieve(conversation.id).metadata,
    )
    for bad in (
        {"input": 5},
        {"input": [{"type": 5}]},
        {"tools": [{"type": "function"}]},
        {"max_output_tokens": 3},
    ):
        response = http.post(
            f"{fuzz_gateway.url}/v1/responses", {"model": "gpt-4o-mini", "previous_response_id": kept.id, **bad}
        )
        assert response.status == 400
    assert http.post(f"{fuzz_gateway.url}/v1/conversations/{conversation.id}", {"metadata": {"k": 5}}).status == 400
    assert http.post(f"{fuzz_gateway.url}/v1/conversations/{conversation.id}/items", {"items": "nope"}).status == 400
    after = (
        json.dumps(client.responses.retrieve(kept.id).model_dump(), sort_keys=True),
        client.conversations.retrieve(conversation.id).metadata,
    )
    assert after == before
