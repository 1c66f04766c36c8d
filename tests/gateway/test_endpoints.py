"""Small endpoints real clients probe or call, and the exact bodies and errors they read."""

from __future__ import annotations

import re
import urllib.request

import anthropic
import openai
import pytest
from support import http
from support.servers import ServerThread


@pytest.mark.parametrize("playground", ["true", "false"])
def test_home_page_answers_head_and_get_without_a_key(make_gateway, playground: str) -> None:
    """HEAD / (Claude Code's probe) and GET / are 200 even with gateway keys, the playground or, with it off, the
    page naming the endpoints: self-contained HTML, with no inline script and nothing from elsewhere."""
    keys = "gateway_keys:\n  - {name: team, key: key-team}\n"
    guarded = make_gateway(None, extra_yaml=f"{keys}playground: {{enabled: {playground}}}\n")
    head = urllib.request.urlopen(urllib.request.Request(f"{guarded.url}/", method="HEAD"), timeout=10)
    assert head.status == 200 and head.headers["Content-Type"].startswith("text/html") and head.read() == b""
    page = http.get(f"{guarded.url}/")
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    html = page.body.decode()
    assert html.startswith("<!doctype html>") and "://" not in html
    assert re.findall(r"<script[^>]*>", html) == (
        ['<script type="module" src="/playground/app.js">'] if playground == "true" else []
    )
    assert http.get(f"{guarded.url}/v1/models").status == 401


def test_home_page_names_every_route(make_gateway) -> None:
    """With the playground off, each route the gateway serves is named on the page with its methods, so the page
    cannot fall behind."""
    gateway = make_gateway("sqlite", extra_yaml="playground: {enabled: false}\n")
    named: dict[str, set[str]] = {}
    for methods, path in re.findall(r"<code>([A-Z|]+) (/[^<\s?]*)</code>", http.get(f"{gateway.url}/").body.decode()):
        named.setdefault(path, set()).update(methods.split("|"))
    assert gateway.app is not None
    for route in gateway.app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if route.method == "HEAD" or path == "/":
            continue
        path = path.replace("{model_id:.+}", "{model_id}")
        assert route.method in named.get(path, set()), f"{route.method} {path} is not on the home page"


MODEL_NAMES = [("openai/gpt-4o-mini", "openai"), ("gpt-4o-mini", "openai"), ("claude-sonnet-4-5", "anthropic")]


@pytest.mark.parametrize(("name", "owner"), [*MODEL_NAMES, ("fast-model", "alias")])
def test_retrieve_model_with_both_sdks(gateway: ServerThread, name: str, owner: str) -> None:
    """client.models.retrieve works for provider/model names, bare ids and aliases, in each SDK's own shape."""
    model = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0).models.retrieve(name)
    assert (model.id, model.object, model.owned_by) == (name, "model", owner) and model.created > 0
    info = anthropic.Anthropic(base_url=gateway.url, api_key="k", max_retries=0).models.retrieve(name)
    assert (info.id, info.type, info.display_name) == (name, "model", name) and info.created_at.year >= 2023


def test_retrieve_model_with_a_raw_slash(gateway: ServerThread) -> None:
    """A provider/model id sent unencoded (older SDKs, curl) reaches the same model."""
    raw = http.get(f"{gateway.url}/v1/models/anthropic/claude-sonnet-4-5")
    assert raw.status == 200 and raw.json()["id"] == "anthropic/claude-sonnet-4-5"


def test_unknown_model_is_404_in_each_format(gateway: ServerThread) -> None:
    """An unknown id is OpenAI's 404 model_not_found for OpenAI clients and Anthropic's not_found_error for theirs."""
    with pytest.raises(openai.NotFoundError) as caught:
        openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0).models.retrieve("gpt-9")
    assert caught.value.code == "model_not_found" and "gpt-9" in caught.value.message
    with pytest.raises(anthropic.NotFoundError) as refused:
        anthropic.Anthropic(base_url=gateway.url, api_key="k", max_retries=0).models.retrieve("claude-9")
    assert refused.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    assert "claude-9" in refused.value.body["error"]["message"]  # type: ignore[index]


def test_deleted_response_body(gateway: ServerThread) -> None:
    """DELETE answers OpenAI's documented body; the response is gone afterwards and the SDK's delete still works."""
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
    first, second = (client.responses.create(model="gpt-4o-mini", input=text) for text in ("one", "two"))
    deleted = http.request("DELETE", f"{gateway.url}/v1/responses/{first.id}")
    assert deleted.status == 200 and deleted.json() == {"id": first.id, "object": "response", "deleted": True}
    assert http.get(f"{gateway.url}/v1/responses/{first.id}").status == 404
    client.responses.delete(second.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(second.id)


TOO_LONG = "Expected a string with maximum length {limit}, but got a string with length {got} instead."
BAD_METADATA = [
    (
        {f"k{i}": "v" for i in range(17)},
        "Invalid 'metadata': too many properties. Expected an object with at most 16 properties, but got an object "
        "with 17 properties instead.",
        "metadata",
    ),
    ({"k" * 65: "v"}, "Invalid 'metadata': string too long. " + TOO_LONG.format(limit=64, got=65), "metadata"),
    ({"k": "v" * 513}, "Invalid 'metadata.k': string too long. " + TOO_LONG.format(limit=512, got=513), "metadata.k"),
    ({"k": 5}, "Invalid type for 'metadata.k': expected a string, but got a number instead.", "metadata.k"),
    ("tags", "Invalid type for 'metadata': expected an object, but got a string instead.", "metadata"),
]


@pytest.mark.parametrize(("metadata", "message", "param"), BAD_METADATA)
def test_conversation_metadata_limits_match_responses(
    gateway: ServerThread, metadata: object, message: str, param: str
) -> None:
    """Conversations refuse the metadata Responses refuse, with OpenAI's texts, on create and on update; a refused
    update leaves the conversation as it was."""
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
    kept = client.conversations.create(metadata={"topic": "kept"})
    answers = [
        http.post(f"{gateway.url}/v1/responses", {"model": "gpt-4o-mini", "input": "hi", "metadata": metadata}),
        http.post(f"{gateway.url}/v1/conversations", {"metadata": metadata}),
        http.post(f"{gateway.url}/v1/conversations/{kept.id}", {"metadata": metadata}),
    ]
    for answer in answers:
        assert answer.status == 400
        assert answer.json()["error"] == {
            "message": message,
            "type": "invalid_request_error",
            "param": param,
            "code": None,
        }
    with pytest.raises(openai.BadRequestError):
        client.conversations.update(kept.id, metadata=metadata)  # type: ignore[arg-type]
    assert client.conversations.retrieve(kept.id).metadata == {"topic": "kept"}


def test_conversation_metadata_at_the_limits_is_kept(gateway: ServerThread) -> None:
    """16 keys, a 64-character key and 512-character values are accepted on create and update, and stored."""
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
    full = {f"{i:02d}".ljust(64, "k"): "v" * 512 for i in range(16)}
    created = client.conversations.create(metadata=full)
    assert client.conversations.retrieve(created.id).metadata == full
    updated = client.conversations.update(created.id, metadata={"topic": "t"})
    assert updated.metadata == {"topic": "t"} == client.conversations.retrieve(created.id).metadata
