"""Keys of ``plano_config.yaml`` that plano-proxy does not read, so a typo or an unsupported Plano setting is named
at start instead of being dropped without a word."""

from __future__ import annotations

from typing import Any

_TOP = frozenset(
    {
        "version",
        "listeners",
        "model_providers",
        "llm_providers",
        "model_aliases",
        "state_storage",
        "max_body_bytes",
        "cors",
        "gateway_keys",
    }
)
_LISTENER = frozenset({"type", "name", "address", "port", "timeout", "shutdown_grace", "upstream_connections"})
_PROVIDER = frozenset(
    {
        "model",
        "access_key",
        "base_url",
        "default",
        "provider_interface",
        "headers",
        "api_version",
        "max_tokens",
        "context_window",
        "responses_api",
        "timeouts",
        "retries",
        "fallbacks",
        "passthrough_auth",
    }
)
_STATE_STORAGE = frozenset({"type", "path", "connection_string", "schema", "max_responses", "store_chat_turns"})
_ALIAS = frozenset({"target", "fallbacks"})
_GATEWAY_KEY = frozenset({"name", "key", "key_sha256"})
_CORS = frozenset({"allowed_origins"})


def ignored_keys(root: dict[str, Any]) -> tuple[str, ...]:
    """Key paths present in the config that no setting reads (nested settings of unknown keys are not listed)."""
    found = _unknown(root, _TOP, "")
    for section in ("model_providers", "llm_providers"):
        found += _in_list(root.get(section), _PROVIDER, section)
    found += _in_list(root.get("listeners"), _LISTENER, "listeners")
    found += _in_list(root.get("gateway_keys"), _GATEWAY_KEY, "gateway_keys")
    found += _unknown(root.get("state_storage"), _STATE_STORAGE, "state_storage.")
    found += _unknown(root.get("cors"), _CORS, "cors.")
    aliases = root.get("model_aliases")
    if isinstance(aliases, dict):
        for name, alias in aliases.items():
            found += _unknown(alias, _ALIAS, f"model_aliases.{name}.")
    return tuple(found)


def _in_list(items: Any, known: frozenset[str], where: str) -> list[str]:
    if not isinstance(items, list):
        return []
    return [key for index, item in enumerate(items) for key in _unknown(item, known, f"{where}[{index}].")]


def _unknown(section: Any, known: frozenset[str], prefix: str) -> list[str]:
    if not isinstance(section, dict):
        return []
    return [f"{prefix}{key}" for key in section if key not in known]
