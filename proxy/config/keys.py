"""Keys of ``plano_config.yaml`` that no setting reads.

An unknown key is an error naming its path and, when one is close, the known key meant::

    state_storge: unknown key, did you mean `state_storage`?

Two kinds of key are let through: a key starting with ``x-`` is an extension (for tools of your own, YAML anchors
to reuse), never read nor reported; and a setting of Plano's own format that plano-proxy does not implement
(``prompt_targets``, ``prompt_guards`` …) is named as ignored, a warning, so one file can serve both.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

EXTENSION_PREFIX = "x-"

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
        "playground",
        "tracing",
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
_STATE_STORAGE = frozenset(
    {
        "type",
        "path",
        "connection_string",
        "schema",
        "max_responses",
        "store_chat_turns",
        "retention",
        "instance_lease",
        "event_log_ttl",
    }
)
_RETENTION = frozenset({"max_age", "max_size", "interval"})
_ALIAS = frozenset({"target", "fallbacks"})
_GATEWAY_KEY = frozenset({"name", "key", "key_sha256"})
_CORS = frozenset({"allowed_origins"})
_PLAYGROUND = frozenset({"enabled", "keep_upstream_requests"})
_TRACING = frozenset({"endpoint", "headers", "service_name", "sampling_ratio", "capture_content"})
_PLANO_TRACING = frozenset({"random_sampling", "trace_arch_internal", "opentracing_grpc_endpoint"})
_TIMEOUTS = frozenset({"connect", "first_byte", "idle"})
_RETRIES = frozenset({"attempts", "initial_delay", "max_delay"})

# Settings of Plano's format (its config schema) that plano-proxy does not implement.
_PLANO_TOP = frozenset(
    {
        "agents",
        "filters",
        "endpoints",
        "overrides",
        "system_prompt",
        "prompt_targets",
        "prompt_guards",
        "ratelimits",
        "mode",
        "routing",
    }
)
_PLANO_PROVIDER = frozenset({"name", "http_host", "routing_preferences"})
_PLANO_LISTENER = frozenset({"router"})


@dataclass(frozen=True, slots=True)
class KeyReport:
    unknown: tuple[str, ...]
    """One error each: the key's path and the known key it probably meant."""
    ignored: tuple[str, ...]
    """Paths of Plano settings plano-proxy does not implement."""
    meant: frozenset[str]
    """Known keys suggested for unknown ones (so a loader can skip saying that such a key is missing)."""


class _Walk:
    def __init__(self) -> None:
        self.unknown: list[str] = []
        self.ignored: list[str] = []
        self.meant: set[str] = set()

    def section(self, section: Any, known: frozenset[str], prefix: str, plano: frozenset[str] = frozenset()) -> None:
        if not isinstance(section, dict):
            return
        for key in section:
            name = str(key)
            if name in known or name.startswith(EXTENSION_PREFIX):
                continue
            if name in plano:
                self.ignored.append(f"{prefix}{name}")
                continue
            self.unknown.append(self._unknown(f"{prefix}{name}", name, known, prefix))

    def items(self, items: Any, known: frozenset[str], where: str, plano: frozenset[str] = frozenset()) -> None:
        if isinstance(items, list):
            for index, item in enumerate(items):
                self.section(item, known, f"{where}[{index}].", plano)

    def _unknown(self, path: str, name: str, known: frozenset[str], prefix: str) -> str:
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
        if close:
            self.meant.add(f"{prefix}{close[0]}")
            return f"{path}: unknown key, did you mean `{close[0]}`?"
        where = prefix.rstrip(".") or "the top level"
        return (
            f"{path}: unknown key; {where} takes {', '.join(sorted(known))} "
            f"(prefix a key with {EXTENSION_PREFIX} to keep it as an extension)"
        )


def check_keys(root: dict[str, Any]) -> KeyReport:
    """Every unknown key of the file (settings under an unknown key are not looked at)."""
    walk = _Walk()
    walk.section(root, _TOP, "", _PLANO_TOP)
    for section in ("model_providers", "llm_providers"):
        walk.items(root.get(section), _PROVIDER, section, _PLANO_PROVIDER)
        if isinstance(root.get(section), list):
            for index, item in enumerate(root[section]):
                if isinstance(item, dict):
                    walk.section(item.get("timeouts"), _TIMEOUTS, f"{section}[{index}].timeouts.")
                    walk.section(item.get("retries"), _RETRIES, f"{section}[{index}].retries.")
    walk.items(root.get("listeners"), _LISTENER, "listeners", _PLANO_LISTENER)
    walk.items(root.get("gateway_keys"), _GATEWAY_KEY, "gateway_keys")
    storage = root.get("state_storage")
    walk.section(storage, _STATE_STORAGE, "state_storage.")
    if isinstance(storage, dict):
        walk.section(storage.get("retention"), _RETENTION, "state_storage.retention.")
    walk.section(root.get("cors"), _CORS, "cors.")
    walk.section(root.get("playground"), _PLAYGROUND, "playground.")
    walk.section(root.get("tracing"), _TRACING, "tracing.", _PLANO_TRACING)
    aliases = root.get("model_aliases")
    if isinstance(aliases, dict):
        for name, alias in aliases.items():
            walk.section(alias, _ALIAS, f"model_aliases.{name}.")
    return KeyReport(tuple(walk.unknown), tuple(walk.ignored), frozenset(walk.meant))
