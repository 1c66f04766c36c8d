"""The playground's server side: its files at ``/`` and ``/playground/``, the reads under ``/playground/api/`` (each
key sees only its own state), what a request sent upstream when the config keeps it, and the config switches."""

from __future__ import annotations

import re
from pathlib import Path

import openai
import pytest
from support import http
from support.gateway import ANTHROPIC_KEY, OPENAI_KEY
from support.servers import ServerThread

from plano_proxy.proxy.config import ConfigError, parse_config

PAGE_DIR = Path(__file__).resolve().parents[2] / "proxy" / "playground"
KEYS = "gateway_keys:\n  - {name: team-a, key: key-a}\n  - {name: team-b, key: key-b}\n"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_page_and_files_carry_a_strict_content_security_policy(gateway: ServerThread) -> None:
    """Every file the page loads, and every module its scripts import, is served from /playground/ with its type and
    a policy that allows this origin only and no inline script; nothing names another host."""
    page = http.get(f"{gateway.url}/")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy and "unsafe-inline" not in policy
    html = page.body.decode()
    wanted = set(re.findall(r'(?:src|href)="/playground/([^"]+)"', html))
    scripts = [name for name in wanted if name.endswith(".js")]
    while scripts:
        imported = set(re.findall(r'from "\./([^"]+)"', (PAGE_DIR / scripts.pop()).read_text()))
        scripts += imported - wanted
        wanted |= imported
    assert {"app.js", "layout.css", "turns.css", "favicon.svg", "sse.js", "markdown.js"} <= wanted
    types = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
    for name in wanted:
        served = http.get(f"{gateway.url}/playground/{name}")
        assert served.status == 200, name
        assert served.headers["content-type"].startswith(types[Path(name).suffix]), name
        assert served.headers["content-security-policy"] == policy and served.headers["x-content-type-options"]
        body = served.body.replace(b'xmlns="http://www.w3.org/2000/svg"', b"")  # a name, never fetched
        assert not re.search(rb"https?://[a-z0-9]", body), f"{name} names another host"
    assert http.get(f"{gateway.url}/playground/nothing.js").status == 404
    assert http.get(f"{gateway.url}/playground/%2e%2e%2fapp.py").status == 404


def test_files_are_open_and_reads_need_a_key(make_gateway) -> None:
    """With gateway keys the page and its files load without a key (it then asks for one); its reads do not."""
    guarded = make_gateway("sqlite", extra_yaml=KEYS)
    page = http.get(f"{guarded.url}/")
    assert 'data-gateway-keys="on"' in page.body.decode()
    assert http.get(f"{guarded.url}/playground/app.js").status == 200
    assert http.get(f"{guarded.url}/playground/api/info").status == 401
    assert http.get(f"{guarded.url}/playground/api/chains").status == 401
    info = http.get(f"{guarded.url}/playground/api/info", bearer("key-a")).json()
    assert info["owner"] == "team-a" and info["gateway_keys"] is True and info["storage"] == "sqlite"
    assert info["routes"]["fast-model"] == "openai/gpt-4o-mini" and info["keep_upstream_requests"] is False
    assert OPENAI_KEY not in str(info) and ANTHROPIC_KEY not in str(info)


def test_the_config_switch_turns_the_page_off(make_gateway) -> None:
    """playground.enabled: false leaves / to the page naming the endpoints, and nothing under /playground/."""
    off = make_gateway("sqlite", extra_yaml="playground: {enabled: false}\n")
    assert "/v1/chat/completions" in http.get(f"{off.url}/").body.decode()
    assert "content-security-policy" not in http.get(f"{off.url}/").headers
    assert http.get(f"{off.url}/playground/app.js").status == 404
    assert http.get(f"{off.url}/playground/api/info").status == 404


def test_each_key_lists_and_opens_only_its_own_state(make_gateway) -> None:
    """Chains (a fork is a chain of its own) and conversations come newest first with a title; a chain opens as its
    turns with model and provider; a conversation as its turns in order; another key lists nothing and gets 404."""
    guarded = make_gateway("sqlite", extra_yaml=KEYS)
    a = openai.OpenAI(base_url=f"{guarded.url}/v1", api_key="key-a", max_retries=0)
    first = a.responses.create(model="gpt-4o-mini", input="My name is Alice")
    second = a.responses.create(model="claude-sonnet-4-5", input="What's my name?", previous_response_id=first.id)
    fork = a.responses.create(model="gpt-4o-mini", input="Another branch", previous_response_id=first.id)
    conversation = a.conversations.create(metadata={"title": "Trip planning"})
    a.responses.create(model="gpt-4o-mini", input="Plan a trip", conversation=conversation.id)
    a.conversations.items.create(conversation.id, items=[{"type": "message", "role": "user", "content": "A note"}])
    a.responses.create(model="claude-sonnet-4-5", input="Where to?", conversation=conversation.id, stream=False)
    api = f"{guarded.url}/playground/api"

    chains = http.get(f"{api}/chains", bearer("key-a")).json()["data"]
    assert {c["id"] for c in chains} == {second.id, fork.id}
    assert {c["title"] for c in chains} == {"What's my name?", "Another branch"}
    conversations = http.get(f"{api}/conversations", bearer("key-a")).json()["data"]
    assert [(c["id"], c["title"]) for c in conversations] == [(conversation.id, "Trip planning")]

    chain = http.get(f"{api}/chains/{second.id}", bearer("key-a")).json()
    assert chain["complete"] is True
    assert [(t["id"], t["model"], t["provider"]) for t in chain["turns"]] == [
        (first.id, "gpt-4o-mini", "openai/gpt-4o-mini"),
        (second.id, "claude-sonnet-4-5", "anthropic/claude-sonnet-4-5"),
    ]
    assert chain["turns"][1]["input"][0]["content"][0]["text"] == "What's my name?"
    assert "heard 3 messages" in chain["turns"][1]["output"][0]["content"][0]["text"]

    turns = http.get(f"{api}/conversations/{conversation.id}", bearer("key-a")).json()["turns"]
    assert [(t["model"], t["status"]) for t in turns] == [
        ("gpt-4o-mini", "completed"),
        (None, "added"),
        ("claude-sonnet-4-5", "completed"),
    ]
    assert turns[1]["input"][0]["content"][0]["text"] == "A note"

    assert http.get(f"{api}/chains", bearer("key-b")).json()["data"] == []
    assert http.get(f"{api}/conversations", bearer("key-b")).json()["data"] == []
    assert http.get(f"{api}/chains/{second.id}", bearer("key-b")).status == 404
    assert http.get(f"{api}/conversations/{conversation.id}", bearer("key-b")).status == 404
    assert http.get(f"{api}/responses/{second.id}/events", bearer("key-b")).status == 404


def test_stored_events_of_a_streamed_turn(gateway: ServerThread) -> None:
    """A streamed turn's events come back in order with their sequence numbers; a turn not streamed has none."""
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
    with client.responses.stream(model="claude-sonnet-4-5", input="Hello") as stream:
        streamed = stream.get_final_response()
    whole = client.responses.create(model="gpt-4o-mini", input="Hello")
    events = http.get(f"{gateway.url}/playground/api/responses/{streamed.id}/events").json()["events"]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[0]["type"] == "response.created" and events[-1]["type"] == "response.completed"
    assert http.get(f"{gateway.url}/playground/api/responses/{whole.id}/events").json()["events"] is None


def test_upstream_requests_are_kept_only_when_the_config_says_so(make_gateway) -> None:
    """With keep_upstream_requests, a request's translated upstream body is readable by its own key under its
    request id, without any provider key; another key gets nothing; off, the answer says why."""
    guarded = make_gateway("sqlite", extra_yaml=KEYS + "playground: {keep_upstream_requests: true}\n")
    body = {"model": "claude-sonnet-4-5", "input": "Translate me"}
    sent = http.post(f"{guarded.url}/v1/responses", body, bearer("key-a"))
    request_id = sent.headers["x-request-id"]
    kept = http.get(f"{guarded.url}/playground/api/requests/{request_id}", bearer("key-a"))
    answer = kept.json()
    assert answer["kept"] is True and len(answer["requests"]) == 1
    upstream = answer["requests"][0]
    assert upstream["provider"] == "anthropic/claude-sonnet-4-5" and upstream["operation"] == "messages"
    assert upstream["url"].endswith("/v1/messages") and upstream["body"]["max_tokens"] > 0
    assert upstream["body"]["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Translate me"}]}]
    assert ANTHROPIC_KEY.encode() not in kept.body and OPENAI_KEY.encode() not in kept.body
    other = http.get(f"{guarded.url}/playground/api/requests/{request_id}", bearer("key-b")).json()
    assert other == {"kept": False, "reason": "no longer kept", "requests": []}

    plain = make_gateway("sqlite")
    request_id = http.post(f"{plain.url}/v1/responses", body).headers["x-request-id"]
    answer = http.get(f"{plain.url}/playground/api/requests/{request_id}").json()
    assert answer["kept"] is False and "keep_upstream_requests" in answer["reason"]


def test_background_upstream_request_is_kept_under_the_request_that_queued_it(make_gateway) -> None:
    """The provider call of a background response runs in a task of its own, and is still found by its request."""
    gateway = make_gateway("sqlite", extra_yaml="playground: {keep_upstream_requests: true}\n")
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
    raw = client.responses.with_raw_response.create(model="gpt-4o-mini", input="Later", background=True)
    queued = raw.parse()
    for _ in range(100):
        if client.responses.retrieve(queued.id).status == "completed":
            break
    answer = http.get(f"{gateway.url}/playground/api/requests/{raw.headers['x-request-id']}").json()
    assert [r["operation"] for r in answer["requests"]] == ["chat"]


@pytest.mark.parametrize(
    ("yaml", "problem"),
    [
        ("playground: {enabled: maybe}", "playground.enabled"),
        ("playground: {keep_upstream_requests: 1}", "playground.keep_upstream_requests"),
        ("playground: {enable: false}", "playground.enable: unknown key, did you mean `enabled`?"),
        ("playground: true", "playground"),
    ],
)
def test_playground_settings_are_checked(yaml: str, problem: str) -> None:
    text = "model_providers:\n  - {model: ollama/llama3.1}\n" + yaml + "\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(text, {})
    assert problem in str(caught.value)


def test_playground_defaults() -> None:
    config = parse_config("model_providers:\n  - {model: ollama/llama3.1}\n", {})
    assert (config.playground.enabled, config.playground.keep_upstream_requests) == (True, False)
