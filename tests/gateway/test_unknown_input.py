"""What the gateway does not know (docs/translation.md): unknown top-level fields are never a 400; a provider of the
client's own format gets them as sent, any other does not and the answer names them in ``x-plano-ignored-params``
(counted, logged once per name); unknown items, parts, tools and roles are carried where they mean something."""

from __future__ import annotations

import json
import re
from typing import Any

import anthropic
import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mock_upstream import REQUESTS
from structlog.testing import capture_logs
from support import http
from support.servers import ServerThread

from plano_proxy.transformers.anthropic_request import READ_PARAMETERS as ANTHROPIC_READ
from plano_proxy.transformers.chat_request import READ_PARAMETERS as CHAT_READ
from plano_proxy.transformers.responses_request import READ_PARAMETERS as RESPONSES_READ

IGNORED = "x-plano-ignored-params"


def last_sent(mock: ServerThread) -> dict[str, Any]:
    assert mock.app is not None
    body: dict[str, Any] = mock.app[REQUESTS][-1].body
    return body


# -- top-level fields -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "forwarded"),
    [("gpt-4o", True), ("gpt-4o-mini", False), ("claude-sonnet-4-5", False)],
)
def test_responses_unknown_fields(
    openai_client: openai.OpenAI, mock_upstream: ServerThread, model: str, forwarded: bool
) -> None:
    """Codex's fields reach a native Responses upstream as sent; a translated one does not get them, and the
    answer names them."""
    extra = {"client_metadata": {"session_id": "s1"}, "prompt_cache_key": "k1"}
    raw = openai_client.responses.with_raw_response.create(model=model, input="hi", extra_body=extra)
    sent = last_sent(mock_upstream)
    if forwarded:
        assert IGNORED not in raw.headers
        assert (sent["client_metadata"], sent["prompt_cache_key"]) == (extra["client_metadata"], "k1")
    else:
        assert raw.headers[IGNORED] == "client_metadata, prompt_cache_key"
        assert "client_metadata" not in sent and "prompt_cache_key" not in sent


@pytest.mark.parametrize(("model", "forwarded"), [("gpt-4o-mini", True), ("claude-sonnet-4-5", False)])
def test_chat_unknown_fields(
    openai_client: openai.OpenAI, mock_upstream: ServerThread, model: str, forwarded: bool
) -> None:
    """A stored chat turn keeps its unknown fields for a Chat upstream (relayed as sent) and names them for another."""
    raw = openai_client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "hi"}], extra_body={"verbosity": "low", "seed": 7}
    )
    sent = last_sent(mock_upstream)
    if forwarded:
        assert IGNORED not in raw.headers and (sent["verbosity"], sent["seed"]) == ("low", 7)
    else:
        assert raw.headers[IGNORED] == "seed, verbosity" and "seed" not in sent


@pytest.mark.parametrize(("model", "forwarded"), [("claude-sonnet-4-5", True), ("gpt-4o-mini", False)])
def test_messages_unknown_fields(
    anthropic_client: anthropic.Anthropic, mock_upstream: ServerThread, model: str, forwarded: bool
) -> None:
    """Claude Code's context_management reaches Anthropic untouched and is named, not sent, for a GPT model."""
    extra = {"context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]}}
    raw = anthropic_client.messages.with_raw_response.create(
        model=model, max_tokens=50, messages=[{"role": "user", "content": "hi"}], extra_body=extra
    )
    sent = last_sent(mock_upstream)
    if forwarded:
        assert IGNORED not in raw.headers and sent["context_management"] == extra["context_management"]
    else:
        assert raw.headers[IGNORED] == "context_management" and "context_management" not in sent


def test_ignored_fields_are_counted_and_logged_once(gateway: ServerThread, openai_client: openai.OpenAI) -> None:
    """Each ignored name counts in plano_ignored_params_total on every request and is logged on its first only."""
    with capture_logs() as logs:
        for _ in range(3):
            openai_client.responses.create(model="claude-sonnet-4-5", input="hi", extra_body={"brand_new_field": 1})
    assert [entry["param"] for entry in logs if entry["event"] == "param_ignored"] == ["brand_new_field"]
    scrape = http.get(f"{gateway.url}/metrics").body.decode()
    line = next(line for line in scrape.splitlines() if 'param="brand_new_field"' in line and "_total" in line)
    assert line.endswith(" 3.0") and 'provider="anthropic/claude-sonnet-4-5"' in line


def test_known_fields_keep_strict_checks(openai_client: openai.OpenAI) -> None:
    """A field the gateway reads keeps OpenAI's type check and wording beside an unknown one."""
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.responses.create(model="gpt-4o-mini", input="hi", extra_body={"stream": "yes", "novel": 1})
    assert caught.value.message.endswith("Invalid type for 'stream': expected a boolean, but got a string instead.")


# -- roles, items, parts and tools --------------------------------------------------------------------------------


def test_mid_conversation_system_message_reaches_a_gpt_model(
    anthropic_client: anthropic.Anthropic, mock_upstream: ServerThread
) -> None:
    """Claude Code's mid-conversation system message becomes a system message where it stood."""
    anthropic_client.messages.create(
        model="gpt-4o-mini",
        max_tokens=50,
        messages=[
            {"role": "user", "content": "first"},
            {"role": "system", "content": [{"type": "text", "text": "# Environment"}]},  # type: ignore[list-item, typeddict-item]
        ],
    )
    assert [(m["role"], m["content"]) for m in last_sent(mock_upstream)["messages"]] == [
        ("user", "first"),
        ("system", "# Environment"),
    ]


NAMESPACE = {
    "type": "namespace",
    "name": "agents",
    "description": "Sub-agents.",
    "tools": [
        {
            "type": "function",
            "name": "close_agent",
            "parameters": {"type": "object", "properties": {"id": {"type": "string"}}},
        }
    ],
}


@pytest.mark.parametrize(("model", "flat"), [("claude-sonnet-4-5", True), ("gpt-4o-mini", True), ("gpt-4o", False)])
def test_namespace_tool_round_trip(
    openai_client: openai.OpenAI, mock_upstream: ServerThread, model: str, flat: bool
) -> None:
    """A namespace tool's function is offered flat to providers without namespaces, and its call comes back named
    with its namespace; the call and its output then travel back under the flat name again."""
    first = openai_client.responses.create(
        model=model, input='close it [[call:close_agent {"id": "a1"}]]', tools=[NAMESPACE], store=False
    )
    offered = last_sent(mock_upstream)["tools"]
    if flat:
        assert [tool.get("name") or tool["function"]["name"] for tool in offered] == ["agents__close_agent"]
    else:
        assert offered[0]["type"] == "namespace" and offered[0]["tools"][0]["name"] == "close_agent"
    call = first.output[-1].model_dump()
    assert (call["type"], call["name"], call.get("namespace")) == ("function_call", "close_agent", "agents")
    history = [
        {"role": "user", "content": "close it"},
        {k: call[k] for k in ("type", "call_id", "name", "arguments", "namespace") if call.get(k) is not None},
        {"type": "function_call_output", "call_id": call["call_id"], "output": "closed"},
    ]
    answer = openai_client.responses.create(model=model, input=history, tools=[NAMESPACE], store=False)
    assert answer.output_text.startswith("tool result received: closed.")
    assert "agents__close_agent" in json.dumps(last_sent(mock_upstream)) or not flat


@pytest.mark.parametrize(("model", "verbatim"), [("gpt-4o", True), ("claude-sonnet-4-5", False)])
def test_unknown_item_type_is_carried(
    openai_client: openai.OpenAI, mock_upstream: ServerThread, model: str, verbatim: bool
) -> None:
    """An item type the gateway does not know goes verbatim to a native upstream and as text to others."""
    item = {"type": "web_search_call", "status": "completed", "action": {"type": "search", "query": "plano gateway"}}
    openai_client.responses.create(model=model, input=[{"role": "user", "content": "hi"}, item], store=False)  # type: ignore[list-item]
    sent = json.dumps(last_sent(mock_upstream))
    if verbatim:
        assert item in last_sent(mock_upstream)["input"]
    else:
        assert "[web_search_call]" in sent and "plano gateway" in sent


def test_part_without_text_or_equivalent_is_a_400_naming_it(openai_client: openai.OpenAI) -> None:
    """A content part with no text and no equivalent on the provider is the one thing refused, by its type."""
    part = {"type": "input_hologram", "data": "AAAA"}
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.responses.create(model="claude-sonnet-4-5", input=[{"role": "user", "content": [part]}])  # type: ignore[list-item]
    assert "input_hologram" in caught.value.message


# -- fuzzing ---------------------------------------------------------------------------------------------------------

NAMES = st.from_regex(re.compile(r"[a-z][a-z0-9_]{2,14}"), fullmatch=True)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
TEXTS = st.text(min_size=1, max_size=20)
UNKNOWN_PART = st.fixed_dictionaries({"type": NAMES}, optional={"text": TEXTS, "data": JSON})
UNKNOWN_ITEM = st.fixed_dictionaries({"type": NAMES}, optional={"status": NAMES, "action": JSON, "output": TEXTS})
UNKNOWN_TOOL = st.fixed_dictionaries({"type": NAMES}, optional={"name": NAMES, "config": JSON})
MODELS = st.sampled_from(["gpt-4o-mini", "gpt-4o", "claude-sonnet-4-5"])


def unknown_fields(read: frozenset[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(NAMES.filter(lambda name: name not in read and name != "messages"), JSON, max_size=3)


def accepted_or_named(response: http.RawResponse, added: list[dict[str, Any]]) -> None:
    """A 2xx, or a 400 whose message names the type of something the test added."""
    if response.status == 200:
        return
    assert response.status == 400, (response.status, response.body[:300])
    error = response.json()["error"]
    assert any(str(thing["type"]) in error["message"] for thing in added), error


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    model=MODELS,
    fields=unknown_fields(RESPONSES_READ),
    items=st.lists(UNKNOWN_ITEM, max_size=2),
    parts=st.lists(UNKNOWN_PART, max_size=2),
    tools=st.lists(UNKNOWN_TOOL, max_size=2),
)
def test_fuzzed_responses_bodies(
    gateway: ServerThread, model: str, fields: dict, items: list, parts: list, tools: list
) -> None:
    """Random unknown fields, items, parts and tools on a valid Responses body: accepted, or a 400 naming one."""
    message = {"role": "user", "content": [{"type": "input_text", "text": "hi"}, *parts]}
    body = {**fields, "model": model, "input": [*items, message], "tools": tools, "store": False}
    accepted_or_named(http.post(f"{gateway.url}/v1/responses", body), [*parts, *items, *tools])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    model=MODELS,
    fields=unknown_fields(CHAT_READ),
    parts=st.lists(UNKNOWN_PART, max_size=2),
    tools=st.lists(UNKNOWN_TOOL, max_size=2),
)
def test_fuzzed_chat_bodies(gateway: ServerThread, model: str, fields: dict, parts: list, tools: list) -> None:
    """Random unknown fields, parts and tools on a valid chat body: accepted, or a 400 naming one."""
    message = {"role": "user", "content": [{"type": "text", "text": "hi"}, *parts]}
    body = {**fields, "model": model, "messages": [message], "tools": tools}
    accepted_or_named(http.post(f"{gateway.url}/v1/chat/completions", body), [*parts, *tools])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    model=MODELS,
    fields=unknown_fields(ANTHROPIC_READ),
    blocks=st.lists(UNKNOWN_PART, max_size=2),
    tools=st.lists(UNKNOWN_TOOL.map(lambda tool: {"name": "t", **tool}), max_size=2),
)
def test_fuzzed_messages_bodies(gateway: ServerThread, model: str, fields: dict, blocks: list, tools: list) -> None:
    """Random unknown fields, blocks and server tools on a valid Messages body: accepted, or a 400 naming one."""
    message = {"role": "user", "content": [{"type": "text", "text": "hi"}, *blocks]}
    body = {**fields, "model": model, "max_tokens": 50, "messages": [message], "tools": tools}
    headers = {"anthropic-version": "2023-06-01", "x-api-key": "k"}
    accepted_or_named(http.post(f"{gateway.url}/v1/messages", body, headers), [*blocks, *tools])


def test_thinking_is_not_sent_to_an_openai_model_without_reasoning(
    anthropic_client: anthropic.Anthropic, openai_client: openai.OpenAI, mock_upstream: ServerThread
) -> None:
    """Claude Code asks for adaptive thinking on every turn; gpt-4o-mini takes no reasoning_effort (OpenAI refuses it),
    so the translated request goes without it and the answer names it. A Chat client's own reasoning_effort is its
    business and goes as sent."""
    raw = anthropic_client.messages.with_raw_response.create(
        model="gpt-4o-mini",
        max_tokens=50,
        messages=[{"role": "user", "content": "hi"}],
        extra_body={"thinking": {"type": "adaptive"}, "output_config": {"effort": "high"}},
    )
    assert raw.headers[IGNORED] == "thinking" and "reasoning_effort" not in last_sent(mock_upstream)
    openai_client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], reasoning_effort="low"
    )
    assert last_sent(mock_upstream)["reasoning_effort"] == "low"
