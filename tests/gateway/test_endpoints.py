"""Small endpoints real clients probe or call, and the exact bodies and errors they read."""

from __future__ import annotations

import anthropic
import openai
import pytest
from support import http
from support.servers import ServerThread

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
