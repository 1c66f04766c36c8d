"""Context windows: the ``context_window`` provider setting, its checks, and the defaults by model id."""

from __future__ import annotations

import pytest
import yaml

from plano_proxy.proxy.config import ConfigError, parse_config
from plano_proxy.proxy.config.keys import check_keys
from plano_proxy.proxy.upstream.context_window import FALLBACK_CONTEXT_WINDOW, context_window

CONFIG = """
model_providers:
  - {model: openai/gpt-4o-mini, access_key: k, default: true}
  - {model: openai/gpt-4.1, access_key: k}
  - {model: openai/gpt-4, access_key: k}
  - {model: anthropic/claude-sonnet-4-5, access_key: k}
  - {model: ollama/llama3.1}
  - {model: ollama/qwen3, context_window: 32768}
"""


def test_known_defaults_fallback_and_setting() -> None:
    """A known model id's prefix gives its window (the longest prefix first), an unknown one the small fallback, and
    the setting wins over both."""
    windows = [context_window(provider) for provider in parse_config(CONFIG, {}).providers]
    assert windows == [128_000, 1_047_576, 8_192, 200_000, FALLBACK_CONTEXT_WINDOW, 32_768]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("lots", "model_providers[0].context_window: 'lots' is not a valid integer"),
        ("0", "model_providers[0].context_window: 0 is out of range"),
        ("true", "model_providers[0].context_window: True is not a valid integer"),
    ],
)
def test_bad_setting_names_the_key(value: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(f"model_providers:\n  - {{model: ollama/m, context_window: {value}}}\n", {})
    assert str(caught.value) == message


def test_setting_is_a_known_key() -> None:
    """context_window is read, so check and serve do not warn about it."""
    assert check_keys(yaml.safe_load(CONFIG)).unknown == ()
