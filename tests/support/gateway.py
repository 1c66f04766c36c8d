"""What gateway tests share: the provider set pointed at the mock upstream, and canary provider keys."""

from __future__ import annotations

import textwrap
from collections.abc import Callable

from support.servers import ServerThread

OPENAI_KEY = "sk-test-openai-canary-7f3a"
ANTHROPIC_KEY = "sk-ant-test-canary-91c2"

# Retries are off here so injected faults reach the client at once; tests/gateway/test_retries.py turns them on.
PROVIDERS = """
model_providers:
  - model: openai/gpt-4o-mini
    retries: {{attempts: 0}}
    access_key: {openai_key}
    base_url: {mock}/v1
    default: true
    responses_api: false
  - model: openai/gpt-4o
    retries: {{attempts: 0}}
    access_key: {openai_key}
    base_url: {mock}/v1
    responses_api: true
  - model: anthropic/claude-sonnet-4-5
    retries: {{attempts: 0}}
    access_key: {anthropic_key}
    base_url: {mock}
  - model: anthropic/claude-3-5-sonnet-20241022
    retries: {{attempts: 0}}
    access_key: {anthropic_key}
    base_url: {mock}
  - model: ollama/llama3.1
    retries: {{attempts: 0}}
    base_url: {mock}
  - model: azure_openai/gpt-4o-deployment
    retries: {{attempts: 0}}
    access_key: {openai_key}
    base_url: {mock}
model_aliases:
  fast-model: {{target: gpt-4o-mini}}
  smart-model: {{target: gpt-4o}}
  reasoning-model: {{target: claude-sonnet-4-5}}
"""


GatewayFactory = Callable[..., ServerThread]


def gateway_config_text(mock_url: str, storage_yaml: str = "", extra_yaml: str = "") -> str:
    text = PROVIDERS.format(mock=mock_url, openai_key=OPENAI_KEY, anthropic_key=ANTHROPIC_KEY)
    return text + textwrap.dedent(storage_yaml) + textwrap.dedent(extra_yaml)
