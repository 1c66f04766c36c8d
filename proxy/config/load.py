"""Loading ``plano_config.yaml``: each section read into the dataclasses of `model`, every error naming its key."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from plano_proxy.proxy.config.keys import ignored_keys
from plano_proxy.proxy.config.model import (
    Config,
    ConfigError,
    GatewayKey,
    Listener,
    ProviderConfig,
    RetryPolicy,
    StateStorage,
    Timeouts,
)
from plano_proxy.proxy.config.values import Env, boolean, duration, integer, list_of, mapping, optional_string, string
from plano_proxy.proxy.upstream.providers import provider_kind

_STORAGE_TYPES = ("memory", "sqlite", "postgres")


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
    root = mapping(raw if raw is not None else {}, "(top level)")
    if "model_providers" in root and "llm_providers" in root:
        raise ConfigError("model_providers and llm_providers: give one of them (llm_providers is the legacy name)")
    providers_key = "llm_providers" if "llm_providers" in root else "model_providers"
    env = Env(environ)
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
        max_body_bytes=integer(root.get("max_body_bytes", 32 * 1024 * 1024), "max_body_bytes", minimum=1),
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


def _gateway_keys(raw: Any, env: Env) -> tuple[GatewayKey, ...]:
    if raw is None:
        return ()
    keys = []
    for index, item in enumerate(list_of(raw, "gateway_keys")):
        where = f"gateway_keys[{index}]"
        entry = mapping(item, where)
        name = string(entry.get("name"), f"{where}.name")
        if "key_sha256" in entry:
            digest = string(entry["key_sha256"], f"{where}.key_sha256")
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest.lower()):
                raise ConfigError(f"{where}.key_sha256: expected 64 hexadecimal characters")
            keys.append(GatewayKey(name, bytes.fromhex(digest)))
            continue
        env.missing.clear()
        key = optional_string(entry.get("key"), f"{where}.key", env)
        if env.missing:
            raise ConfigError(f"{where}.key: environment variable {env.missing[0]} is not set")
        if not key:
            raise ConfigError(f"{where}: give key (usually $VAR) or key_sha256")
        keys.append(GatewayKey(name, hashlib.sha256(key.encode()).digest()))
    return tuple(keys)


def _cors(raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    origins = mapping(raw, "cors").get("allowed_origins", [])
    return tuple(
        string(origin, f"cors.allowed_origins[{i}]")
        for i, origin in enumerate(list_of(origins, "cors.allowed_origins"))
    )


def _listener(raw: Any) -> Listener:
    if raw is None:
        return Listener()
    listeners = list_of(raw, "listeners")
    chosen = next(
        (
            (index, item)
            for index, item in enumerate(listeners)
            if mapping(item, f"listeners[{index}]").get("type", "model") == "model"
        ),
        None,
    )
    if chosen is None:
        return Listener()
    index, item = chosen
    where = f"listeners[{index}]"
    return Listener(
        address=string(item.get("address", "127.0.0.1"), f"{where}.address"),
        port=integer(item.get("port", 12000), f"{where}.port", minimum=0, maximum=65535),
        timeout=duration(item.get("timeout", "300s"), f"{where}.timeout"),
        name=string(item.get("name", "model_listener"), f"{where}.name"),
        shutdown_grace=duration(item.get("shutdown_grace", "30s"), f"{where}.shutdown_grace"),
        upstream_connections=integer(
            item.get("upstream_connections", 4096), f"{where}.upstream_connections", minimum=1, maximum=1_000_000
        ),
    )


def _providers(raw: Any, key: str, env: Env) -> tuple[ProviderConfig, ...]:
    if raw is None:
        raise ConfigError(f"{key}: at least one provider is required")
    items = list_of(raw, key)
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


def _provider(raw: Any, where: str, env: Env) -> ProviderConfig:
    item = mapping(raw, where)
    model_ref = string(item.get("model"), f"{where}.model")
    provider_name, slash, model = model_ref.partition("/")
    if not slash or not provider_name or not model:
        raise ConfigError(f"{where}.model: {model_ref!r} is not of the form <provider>/<model-id>")
    interface = item.get("provider_interface")
    try:
        kind = provider_kind(provider_name, None if interface is None else string(interface, where))
    except ValueError as exc:
        key = "model" if interface is None else "provider_interface"
        raise ConfigError(f"{where}.{key}: {exc}") from exc

    env.missing.clear()
    access_key = optional_string(item.get("access_key"), f"{where}.access_key", env)
    if env.missing:
        raise ConfigError(
            f"{where}.access_key: environment variable {env.missing[0]} is not set (provider {model_ref!r} needs it)"
        )
    if access_key == "":
        access_key = None
    passthrough_auth = boolean(item.get("passthrough_auth", False), f"{where}.passthrough_auth")
    if access_key is None and kind.needs_key and not passthrough_auth:
        raise ConfigError(
            f"{where}.access_key: provider {model_ref!r} needs an API key (for example $API_KEY), "
            "or passthrough_auth: true to use each caller's own key"
        )
    base_url = optional_string(item.get("base_url"), f"{where}.base_url", env)
    if env.missing:
        raise ConfigError(f"{where}.base_url: environment variable {env.missing[0]} is not set")
    try:
        api_root = kind.api_root(base_url)
    except ValueError as exc:
        raise ConfigError(f"{where}.base_url: {exc}") from exc
    headers = mapping(item.get("headers") or {}, f"{where}.headers")
    return ProviderConfig(
        provider=provider_name,
        model=model,
        kind=kind,
        base_url=api_root,
        access_key=access_key,
        default=boolean(item.get("default", False), f"{where}.default"),
        headers={str(k): env.substitute(string(v, f"{where}.headers.{k}")) for k, v in headers.items()},
        api_version=optional_string(item.get("api_version"), f"{where}.api_version", env) or (kind.default_api_version),
        max_tokens=None
        if item.get("max_tokens") is None
        else integer(item["max_tokens"], f"{where}.max_tokens", minimum=1),
        context_window=None
        if item.get("context_window") is None
        else integer(item["context_window"], f"{where}.context_window", minimum=1),
        responses_api=boolean(item.get("responses_api", kind.native_responses), f"{where}.responses_api"),
        timeouts=_timeouts(item.get("timeouts"), f"{where}.timeouts"),
        retries=_retries(item.get("retries"), f"{where}.retries"),
        fallbacks=_names(item.get("fallbacks"), f"{where}.fallbacks"),
        passthrough_auth=passthrough_auth,
    )


def _names(raw: Any, where: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    return tuple(string(name, f"{where}[{i}]") for i, name in enumerate(list_of(raw, where)))


def _retries(raw: Any, where: str) -> RetryPolicy:
    if raw is None:
        return RetryPolicy()
    item = mapping(raw, where)
    unknown = set(item) - {"attempts", "initial_delay", "max_delay"}
    if unknown:
        raise ConfigError(f"{where}.{sorted(unknown)[0]}: unknown setting (use attempts, initial_delay, max_delay)")
    base = RetryPolicy()
    return RetryPolicy(
        attempts=integer(item.get("attempts", base.attempts), f"{where}.attempts", minimum=0, maximum=10),
        initial_delay=duration(item.get("initial_delay", base.initial_delay), f"{where}.initial_delay"),
        max_delay=duration(item.get("max_delay", base.max_delay), f"{where}.max_delay"),
    )


def _timeouts(raw: Any, where: str) -> Timeouts:
    if raw is None:
        return Timeouts()
    item = mapping(raw, where)
    unknown = set(item) - {"connect", "first_byte", "idle"}
    if unknown:
        raise ConfigError(f"{where}.{sorted(unknown)[0]}: unknown timeout (use connect, first_byte, idle)")
    base = Timeouts()
    return Timeouts(
        connect=duration(item.get("connect", base.connect), f"{where}.connect"),
        first_byte=duration(item.get("first_byte", base.first_byte), f"{where}.first_byte"),
        idle=duration(item.get("idle", base.idle), f"{where}.idle"),
    )


def _aliases(raw: Any, providers: tuple[ProviderConfig, ...]) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """Alias → target, and alias → fallbacks; every name must be configured."""
    known = {p.qualified_name for p in providers} | {p.model for p in providers}
    aliases: dict[str, str] = {}
    fallbacks: dict[str, tuple[str, ...]] = {}
    for name, value in mapping(raw or {}, "model_aliases").items():
        where = f"model_aliases.{name}"
        entry = mapping(value, where)
        target = string(entry.get("target"), f"{where}.target")
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


def _state_storage(raw: Any, env: Env) -> StateStorage | None:
    if raw is None:
        return None
    item = mapping(raw, "state_storage")
    kind = string(item.get("type"), "state_storage.type")
    if kind not in _STORAGE_TYPES:
        raise ConfigError(f"state_storage.type: {kind!r} is not one of {', '.join(_STORAGE_TYPES)}")
    env.missing.clear()
    connection = optional_string(item.get("connection_string"), "state_storage.connection_string", env)
    path = optional_string(item.get("path"), "state_storage.path", env)
    if env.missing:
        raise ConfigError(f"state_storage: environment variable {env.missing[0]} is not set")
    if kind == "postgres" and not connection:
        raise ConfigError("state_storage.connection_string: required for type postgres")
    return StateStorage(
        type=kind,
        path=path or ("./plano_state.db" if kind == "sqlite" else None),
        connection_string=connection,
        schema=optional_string(item.get("schema"), "state_storage.schema", env),
        max_responses=integer(item.get("max_responses", 10_000), "state_storage.max_responses", minimum=1),
        store_chat_turns=boolean(item.get("store_chat_turns", True), "state_storage.store_chat_turns"),
    )
