"""Loading ``plano_config.yaml`` into frozen dataclasses.

This is the only module that reads the environment: ``$VAR``, ``${VAR}`` and ``${VAR:-default}`` in string values
are substituted here. Every error names the key path and the bad value::

    ConfigError: model_providers[1].port: 'abc' is not a valid integer
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from plano_proxy.proxy.config_keys import ignored_keys
from plano_proxy.proxy.providers import ProviderKind, provider_kind


class ConfigError(Exception):
    """The configuration cannot be used; the message names the key path and the value."""


@dataclass(frozen=True, slots=True)
class Listener:
    address: str = "127.0.0.1"
    port: int = 12000
    timeout: float = 300.0
    name: str = "model_listener"
    shutdown_grace: float = 30.0
    """On SIGTERM: how long open requests and streams may take to finish before the gateway stops."""
    upstream_connections: int = 4096
    """Open upstream connections per worker; a stream holds one for its whole length, so this caps open streams."""


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds: to open a connection, to the first byte of the answer, and between two chunks of it."""

    connect: float = 10.0
    first_byte: float = 300.0
    idle: float = 300.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries of a call that failed before its answer started (connect error, timeout, 408/409/429/5xx/529).

    The wait before retry *n* (from 0) is ``initial_delay * 2**n``, or the provider's ``Retry-After`` when it sends
    one, never more than ``max_delay``.
    """

    attempts: int = 2
    initial_delay: float = 0.25
    max_delay: float = 8.0

    def delay(self, retry: int, retry_after: str | None) -> float:
        """Seconds to wait; a ``Retry-After`` in seconds wins over the backoff (an HTTP date is not read)."""
        asked = _seconds(retry_after)
        wanted = self.initial_delay * 2**retry if asked is None else asked
        return min(wanted, self.max_delay)


def _seconds(text: str | None) -> float | None:
    if text is None or not text.strip().replace(".", "", 1).isdigit():
        return None
    return float(text)


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    provider: str
    """The provider's name, the part before the slash in ``model: openai/gpt-4o-mini``."""
    model: str
    """The model id the upstream knows, the part after the slash."""
    kind: ProviderKind
    base_url: str
    """The API root, ending where ``/chat/completions`` or ``/messages`` would begin (Azure: the resource URL)."""
    access_key: str | None = field(default=None, repr=False)
    default: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)
    api_version: str | None = None
    max_tokens: int | None = None
    """Output-token default for upstreams that require one (Anthropic) when the client sends none."""
    context_window: int | None = None
    """Tokens of input (with the requested output) the model takes, for ``truncation: "auto"``; None: a default."""
    responses_api: bool = False
    """Send Responses requests to the upstream's native ``/responses`` endpoint (stateless, ``store: false``)."""
    timeouts: Timeouts = Timeouts()
    retries: RetryPolicy = RetryPolicy()
    fallbacks: tuple[str, ...] = ()
    passthrough_auth: bool = False
    """Send the caller's own key (``Authorization: Bearer`` or ``x-api-key``) to this provider, ``access_key`` being
    used only when the caller sends none."""
    """Models tried in order when this one fails before its answer starts (after its retries)."""

    @property
    def qualified_name(self) -> str:
        return f"{self.provider}/{self.model}"

    @property
    def interface(self) -> str:
        return self.kind.interface


@dataclass(frozen=True, slots=True)
class StateStorage:
    type: str
    path: str | None = None
    connection_string: str | None = field(default=None, repr=False)
    schema: str | None = None
    """PostgreSQL schema holding the gateway's tables (default: the connection's search path)."""
    max_responses: int = 10_000
    store_chat_turns: bool = True
    """Store every chat completion so its id can be continued with ``metadata.response_id``; off, chat completions
    to OpenAI-compatible providers are relayed byte for byte and only continuations read state."""


@dataclass(frozen=True, slots=True)
class GatewayKey:
    """A key clients present to the gateway; only its SHA-256 is kept. `name` owns what its callers store."""

    name: str
    sha256: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Config:
    listener: Listener
    providers: tuple[ProviderConfig, ...]
    aliases: Mapping[str, str]
    state_storage: StateStorage | None
    version: str | None = None
    max_body_bytes: int = 32 * 1024 * 1024
    gateway_keys: tuple[GatewayKey, ...] = ()
    """When not empty, every API request must present one of these keys (Bearer or x-api-key)."""
    alias_fallbacks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    cors_origins: tuple[str, ...] = ()
    """Origins allowed to call the gateway from a browser (``"*"`` for any); empty turns CORS off."""
    ignored_keys: tuple[str, ...] = ()
    """Key paths in the file that no setting reads (a typo, or a Plano setting plano-proxy does not implement)."""


_VAR = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)
_DURATION = re.compile(r"^\s*(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|m|h)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_STORAGE_TYPES = ("memory", "sqlite", "postgres")


class _Env:
    """Substitutes variables and remembers which ones were missing, so the caller can say who needed them."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self.missing: list[str] = []

    def substitute(self, value: str) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group("braced") or match.group("bare")
            if name in self._environ:
                return self._environ[name]
            if match.group("default") is not None:
                return match.group("default")
            self.missing.append(name)
            return ""

        return _VAR.sub(replace, value)


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> Config:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {str(path)!r}: {exc.strerror}") from exc
    return parse_config(text, os.environ if environ is None else environ)


def parse_config(text: str, environ: Mapping[str, str]) -> Config:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"the config is not valid YAML: {exc}") from exc
    root = _mapping(raw if raw is not None else {}, "(top level)")
    if "model_providers" in root and "llm_providers" in root:
        raise ConfigError("model_providers and llm_providers: give one of them (llm_providers is the legacy name)")
    providers_key = "llm_providers" if "llm_providers" in root else "model_providers"
    env = _Env(environ)
    providers = _providers(root.get(providers_key), providers_key, env)
    aliases, alias_fallbacks = _aliases(root.get("model_aliases"), providers)
    gateway_keys = _gateway_keys(root.get("gateway_keys"), env)
    _check_passthrough(providers, providers_key, gateway_keys)
    return Config(
        listener=_listener(root.get("listeners")),
        providers=providers,
        aliases=aliases,
        state_storage=_state_storage(root.get("state_storage"), env),
        version=None if root.get("version") is None else str(root["version"]),
        max_body_bytes=_int(root.get("max_body_bytes", 32 * 1024 * 1024), "max_body_bytes", minimum=1),
        alias_fallbacks=alias_fallbacks,
        cors_origins=_cors(root.get("cors")),
        gateway_keys=gateway_keys,
        ignored_keys=ignored_keys(root),
    )


def _check_passthrough(providers: tuple[ProviderConfig, ...], key: str, gateway_keys: tuple[GatewayKey, ...]) -> None:
    """A caller has one key header: it cannot carry both a gateway key and the caller's own provider key."""
    for index, provider in enumerate(providers):
        if provider.passthrough_auth and gateway_keys:
            raise ConfigError(
                f"{key}[{index}].passthrough_auth: cannot be combined with gateway_keys (the caller's key header "
                "would have to hold both the gateway key and the provider key)"
            )


def _gateway_keys(raw: Any, env: _Env) -> tuple[GatewayKey, ...]:
    if raw is None:
        return ()
    keys = []
    for index, item in enumerate(_list(raw, "gateway_keys")):
        where = f"gateway_keys[{index}]"
        entry = _mapping(item, where)
        name = _str(entry.get("name"), f"{where}.name")
        if "key_sha256" in entry:
            digest = _str(entry["key_sha256"], f"{where}.key_sha256")
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest.lower()):
                raise ConfigError(f"{where}.key_sha256: expected 64 hexadecimal characters")
            keys.append(GatewayKey(name, bytes.fromhex(digest)))
            continue
        env.missing.clear()
        key = _optional_str(entry.get("key"), f"{where}.key", env)
        if env.missing:
            raise ConfigError(f"{where}.key: environment variable {env.missing[0]} is not set")
        if not key:
            raise ConfigError(f"{where}: give key (usually $VAR) or key_sha256")
        keys.append(GatewayKey(name, hashlib.sha256(key.encode()).digest()))
    return tuple(keys)


def _cors(raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    origins = _mapping(raw, "cors").get("allowed_origins", [])
    return tuple(
        _str(origin, f"cors.allowed_origins[{i}]") for i, origin in enumerate(_list(origins, "cors.allowed_origins"))
    )


def _listener(raw: Any) -> Listener:
    if raw is None:
        return Listener()
    listeners = _list(raw, "listeners")
    chosen = next(
        (
            (index, item)
            for index, item in enumerate(listeners)
            if _mapping(item, f"listeners[{index}]").get("type", "model") == "model"
        ),
        None,
    )
    if chosen is None:
        return Listener()
    index, item = chosen
    where = f"listeners[{index}]"
    return Listener(
        address=_str(item.get("address", "127.0.0.1"), f"{where}.address"),
        port=_int(item.get("port", 12000), f"{where}.port", minimum=0, maximum=65535),
        timeout=_duration(item.get("timeout", "300s"), f"{where}.timeout"),
        name=_str(item.get("name", "model_listener"), f"{where}.name"),
        shutdown_grace=_duration(item.get("shutdown_grace", "30s"), f"{where}.shutdown_grace"),
        upstream_connections=_int(
            item.get("upstream_connections", 4096), f"{where}.upstream_connections", minimum=1, maximum=1_000_000
        ),
    )


def _providers(raw: Any, key: str, env: _Env) -> tuple[ProviderConfig, ...]:
    if raw is None:
        raise ConfigError(f"{key}: at least one provider is required")
    items = _list(raw, key)
    if not items:
        raise ConfigError(f"{key}: at least one provider is required")
    providers = tuple(_provider(item, f"{key}[{index}]", env) for index, item in enumerate(items))
    defaults = [p.qualified_name for p in providers if p.default]
    if len(defaults) > 1:
        raise ConfigError(f"{key}: only one provider may have default: true, found {', '.join(defaults)}")
    seen: set[str] = set()
    for index, provider in enumerate(providers):
        if provider.qualified_name in seen:
            raise ConfigError(f"{key}[{index}].model: {provider.qualified_name!r} is configured twice")
        seen.add(provider.qualified_name)
    return providers


def _provider(raw: Any, where: str, env: _Env) -> ProviderConfig:
    item = _mapping(raw, where)
    model_ref = _str(item.get("model"), f"{where}.model")
    provider_name, slash, model = model_ref.partition("/")
    if not slash or not provider_name or not model:
        raise ConfigError(f"{where}.model: {model_ref!r} is not of the form <provider>/<model-id>")
    interface = item.get("provider_interface")
    try:
        kind = provider_kind(provider_name, None if interface is None else _str(interface, where))
    except ValueError as exc:
        key = "model" if interface is None else "provider_interface"
        raise ConfigError(f"{where}.{key}: {exc}") from exc

    env.missing.clear()
    access_key = _optional_str(item.get("access_key"), f"{where}.access_key", env)
    if env.missing:
        raise ConfigError(
            f"{where}.access_key: environment variable {env.missing[0]} is not set (provider {model_ref!r} needs it)"
        )
    if access_key == "":
        access_key = None
    passthrough_auth = _bool(item.get("passthrough_auth", False), f"{where}.passthrough_auth")
    if access_key is None and kind.needs_key and not passthrough_auth:
        raise ConfigError(
            f"{where}.access_key: provider {model_ref!r} needs an API key (for example $API_KEY), "
            "or passthrough_auth: true to use each caller's own key"
        )
    base_url = _optional_str(item.get("base_url"), f"{where}.base_url", env)
    if env.missing:
        raise ConfigError(f"{where}.base_url: environment variable {env.missing[0]} is not set")
    try:
        api_root = kind.api_root(base_url)
    except ValueError as exc:
        raise ConfigError(f"{where}.base_url: {exc}") from exc
    headers = _mapping(item.get("headers") or {}, f"{where}.headers")
    return ProviderConfig(
        provider=provider_name,
        model=model,
        kind=kind,
        base_url=api_root,
        access_key=access_key,
        default=_bool(item.get("default", False), f"{where}.default"),
        headers={str(k): env.substitute(_str(v, f"{where}.headers.{k}")) for k, v in headers.items()},
        api_version=_optional_str(item.get("api_version"), f"{where}.api_version", env) or (kind.default_api_version),
        max_tokens=None
        if item.get("max_tokens") is None
        else _int(item["max_tokens"], f"{where}.max_tokens", minimum=1),
        context_window=None
        if item.get("context_window") is None
        else _int(item["context_window"], f"{where}.context_window", minimum=1),
        responses_api=_bool(item.get("responses_api", kind.native_responses), f"{where}.responses_api"),
        timeouts=_timeouts(item.get("timeouts"), f"{where}.timeouts"),
        retries=_retries(item.get("retries"), f"{where}.retries"),
        fallbacks=_names(item.get("fallbacks"), f"{where}.fallbacks"),
        passthrough_auth=passthrough_auth,
    )


def _names(raw: Any, where: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    return tuple(_str(name, f"{where}[{i}]") for i, name in enumerate(_list(raw, where)))


def _retries(raw: Any, where: str) -> RetryPolicy:
    if raw is None:
        return RetryPolicy()
    item = _mapping(raw, where)
    unknown = set(item) - {"attempts", "initial_delay", "max_delay"}
    if unknown:
        raise ConfigError(f"{where}.{sorted(unknown)[0]}: unknown setting (use attempts, initial_delay, max_delay)")
    base = RetryPolicy()
    return RetryPolicy(
        attempts=_int(item.get("attempts", base.attempts), f"{where}.attempts", minimum=0, maximum=10),
        initial_delay=_duration(item.get("initial_delay", base.initial_delay), f"{where}.initial_delay"),
        max_delay=_duration(item.get("max_delay", base.max_delay), f"{where}.max_delay"),
    )


def _timeouts(raw: Any, where: str) -> Timeouts:
    if raw is None:
        return Timeouts()
    item = _mapping(raw, where)
    unknown = set(item) - {"connect", "first_byte", "idle"}
    if unknown:
        raise ConfigError(f"{where}.{sorted(unknown)[0]}: unknown timeout (use connect, first_byte, idle)")
    base = Timeouts()
    return Timeouts(
        connect=_duration(item.get("connect", base.connect), f"{where}.connect"),
        first_byte=_duration(item.get("first_byte", base.first_byte), f"{where}.first_byte"),
        idle=_duration(item.get("idle", base.idle), f"{where}.idle"),
    )


def _aliases(raw: Any, providers: tuple[ProviderConfig, ...]) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """Alias → target, and alias → fallbacks; every name must be configured."""
    known = {p.qualified_name for p in providers} | {p.model for p in providers}
    aliases: dict[str, str] = {}
    fallbacks: dict[str, tuple[str, ...]] = {}
    for name, value in _mapping(raw or {}, "model_aliases").items():
        where = f"model_aliases.{name}"
        entry = _mapping(value, where)
        target = _str(entry.get("target"), f"{where}.target")
        if target not in known:
            raise ConfigError(f"{where}.target: {target!r} is not a configured model")
        aliases[str(name)] = target
        fallbacks[str(name)] = _names(entry.get("fallbacks"), f"{where}.fallbacks")
    for index, provider in enumerate(providers):
        _check_known(provider.fallbacks, known | set(aliases), f"model_providers[{index}].fallbacks")
    for name, names in fallbacks.items():
        _check_known(names, known | set(aliases), f"model_aliases.{name}.fallbacks")
    return aliases, {name: names for name, names in fallbacks.items() if names}


def _check_known(names: tuple[str, ...], known: set[str], where: str) -> None:
    for index, name in enumerate(names):
        if name not in known:
            raise ConfigError(f"{where}[{index}]: {name!r} is not a configured model or alias")


def _state_storage(raw: Any, env: _Env) -> StateStorage | None:
    if raw is None:
        return None
    item = _mapping(raw, "state_storage")
    kind = _str(item.get("type"), "state_storage.type")
    if kind not in _STORAGE_TYPES:
        raise ConfigError(f"state_storage.type: {kind!r} is not one of {', '.join(_STORAGE_TYPES)}")
    env.missing.clear()
    connection = _optional_str(item.get("connection_string"), "state_storage.connection_string", env)
    path = _optional_str(item.get("path"), "state_storage.path", env)
    if env.missing:
        raise ConfigError(f"state_storage: environment variable {env.missing[0]} is not set")
    if kind == "postgres" and not connection:
        raise ConfigError("state_storage.connection_string: required for type postgres")
    return StateStorage(
        type=kind,
        path=path or ("./plano_state.db" if kind == "sqlite" else None),
        connection_string=connection,
        schema=_optional_str(item.get("schema"), "state_storage.schema", env),
        max_responses=_int(item.get("max_responses", 10_000), "state_storage.max_responses", minimum=1),
        store_chat_turns=_bool(item.get("store_chat_turns", True), "state_storage.store_chat_turns"),
    )


# Typed accessors: each raises ConfigError naming the key and the value.


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping, got {value!r}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ConfigError(f"{where}: expected a list, got {value!r}")
    return value


def _str(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float) or value == "":
        raise ConfigError(f"{where}: expected a non-empty string, got {value!r}")
    return str(value)


def _optional_str(value: Any, where: str, env: _Env) -> str | None:
    return None if value is None else env.substitute(_str(value, where))


def _int(value: Any, where: str, minimum: int | None = None, maximum: int | None = None) -> int:
    try:
        number = int(value) if not isinstance(value, bool | float) else None
    except (TypeError, ValueError):
        number = None
    if number is None:
        raise ConfigError(f"{where}: {value!r} is not a valid integer")
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise ConfigError(f"{where}: {value!r} is out of range")
    return number


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: {value!r} is not true or false")
    return value


def _duration(value: Any, where: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    match = _DURATION.match(str(value)) if isinstance(value, str) else None
    if match is None or float(match.group("number")) <= 0:
        raise ConfigError(f"{where}: {value!r} is not a valid duration (for example 30s, 500ms, 5m)")
    return float(match.group("number")) * _DURATION_UNITS[match.group("unit")]
