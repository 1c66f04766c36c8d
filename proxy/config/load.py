"""Loading ``plano_config.yaml``: each section read into the dataclasses of `model`, every error naming its key.

Every problem of a file is reported in one go (`ConfigError.problems`): each section, provider and setting is read
on its own, and a bad one is noted and skipped so that the rest is still checked.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from plano_proxy.proxy.config.keys import KeyReport, check_keys
from plano_proxy.proxy.config.model import (
    Config,
    ConfigError,
    GatewayKey,
    Listener,
    Playground,
    ProviderConfig,
    Retention,
    RetryPolicy,
    StateStorage,
    Timeouts,
)
from plano_proxy.proxy.config.tracing import read_tracing
from plano_proxy.proxy.config.values import (
    Env,
    Problems,
    boolean,
    duration,
    integer,
    list_of,
    mapping,
    size,
    string,
)
from plano_proxy.proxy.upstream.providers import ProviderKind, provider_kind

_STORAGE_TYPES = ("memory", "sqlite", "postgres")


def load_config(path: str | Path, environ: Mapping[str, str] | None = None, *, keys_required: bool = True) -> Config:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {str(path)!r}: {exc.strerror}") from exc
    return parse_config(text, os.environ if environ is None else environ, source=str(path), keys_required=keys_required)


def parse_config(
    text: str, environ: Mapping[str, str], *, source: str = "the config", keys_required: bool = True
) -> Config:
    """The config in ``text``; raises `ConfigError` with every problem found. ``keys_required=False`` (``check``)
    lists unset environment variables in `Config.unset_variables` instead of failing on them."""
    root = _yaml(text, source)
    keys = check_keys(root)
    problems = Problems(Env(environ), keys_required=keys_required)
    problems.errors.extend(keys.unknown)
    if "model_providers" in root and "llm_providers" in root:
        problems.errors.append("model_providers and llm_providers: give one of them (llm_providers is the legacy name)")
    providers_key = "llm_providers" if "llm_providers" in root else "model_providers"
    providers = _providers(root.get(providers_key), providers_key, problems, keys)
    aliases, alias_fallbacks = _aliases(root.get("model_aliases"), providers, problems)
    gateway_keys = _gateway_keys(root.get("gateway_keys"), problems)
    _check_passthrough(providers, providers_key, gateway_keys, problems)
    config = Config(
        listener=problems.read(_listener, root.get("listeners"), default=Listener()),
        providers=providers,
        aliases=aliases,
        state_storage=_state_storage(root.get("state_storage"), problems),
        version=None if root.get("version") is None else str(root["version"]),
        max_body_bytes=problems.read(
            integer, root.get("max_body_bytes", 32 * 1024 * 1024), "max_body_bytes", 1, default=1
        ),
        alias_fallbacks=alias_fallbacks,
        cors_origins=problems.read(_cors, root.get("cors"), default=()),
        playground=problems.read(_playground, root.get("playground"), default=Playground()),
        gateway_keys=gateway_keys,
        tracing=read_tracing(root.get("tracing"), problems),
        ignored_keys=keys.ignored,
        unset_variables=tuple(problems.unset),
    )
    if problems.errors:
        raise ConfigError(*problems.errors)
    return config


def _yaml(text: str, source: str) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}, line {mark.line + 1}, column {mark.column + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        detail = f"{problem} ({context})" if context else problem
        raise ConfigError(f"the config is not valid YAML: {where}: {detail}") from None
    return mapping(raw if raw is not None else {}, "(top level)")


def _check_passthrough(
    providers: tuple[ProviderConfig, ...], key: str, gateway_keys: tuple[GatewayKey, ...], problems: Problems
) -> None:
    """A caller has one key header: it cannot carry both a gateway key and the caller's own provider key."""
    for index, provider in enumerate(providers):
        if provider.passthrough_auth and gateway_keys:
            problems.errors.append(
                f"{key}[{index}].passthrough_auth: cannot be combined with gateway_keys (the caller's key header "
                "would have to hold both the gateway key and the provider key)"
            )


def _gateway_keys(raw: Any, problems: Problems) -> tuple[GatewayKey, ...]:
    keys = []
    entries: list[Any] = problems.read(list_of, raw if raw is not None else [], "gateway_keys", default=[])
    for index, item in enumerate(entries):
        where = f"gateway_keys[{index}]"
        entry = problems.read(mapping, item, where, default=None)
        name = None if entry is None else problems.read(string, entry.get("name"), f"{where}.name", default=None)
        if entry is None or name is None:
            continue
        if "key_sha256" in entry:
            digest = problems.read(string, entry["key_sha256"], f"{where}.key_sha256", default="")
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest.lower()):
                problems.errors.append(f"{where}.key_sha256: expected 64 hexadecimal characters")
                continue
            keys.append(GatewayKey(name, bytes.fromhex(digest)))
            continue
        key, unset = problems.substituted(entry.get("key"), f"{where}.key")
        if key:
            keys.append(GatewayKey(name, hashlib.sha256(key.encode()).digest()))
        elif not unset:
            problems.errors.append(f"{where}: give key (usually $VAR) or key_sha256")
    return tuple(keys)


def _cors(raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    origins = mapping(raw, "cors").get("allowed_origins", [])
    return tuple(
        string(origin, f"cors.allowed_origins[{i}]")
        for i, origin in enumerate(list_of(origins, "cors.allowed_origins"))
    )


def _playground(raw: Any) -> Playground:
    if raw is None:
        return Playground()
    item = mapping(raw, "playground")
    return Playground(
        enabled=boolean(item.get("enabled", True), "playground.enabled"),
        keep_upstream_requests=boolean(item.get("keep_upstream_requests", False), "playground.keep_upstream_requests"),
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


def _providers(raw: Any, key: str, problems: Problems, keys: KeyReport) -> tuple[ProviderConfig, ...]:
    items: list[Any] = problems.read(list_of, raw, key, default=[]) if raw is not None else []
    if not items:
        if raw is not None or not keys.meant & {"model_providers", "llm_providers"}:
            problems.errors.append(f"{key}: at least one provider is required")
        return ()
    providers = tuple(
        provider
        for index, item in enumerate(items)
        if (provider := _provider(item, f"{key}[{index}]", problems)) is not None
    )
    defaults = [p.qualified_name for p in providers if p.default]
    if len(defaults) > 1:
        problems.errors.append(f"{key}: only one provider may have default: true, found {', '.join(defaults)}")
    seen: set[str] = set()
    for index, provider in enumerate(providers):
        if provider.qualified_name in seen:
            problems.errors.append(f"{key}[{index}].model: {provider.qualified_name!r} is configured twice")
        seen.add(provider.qualified_name)
    return providers


def _kind(item: dict[str, Any], where: str, model_ref: str) -> tuple[str, str, ProviderKind]:
    provider_name, slash, model = model_ref.partition("/")
    if not slash or not provider_name or not model:
        raise ConfigError(f"{where}.model: {model_ref!r} is not of the form <provider>/<model-id>")
    interface = item.get("provider_interface")
    try:
        kind = provider_kind(provider_name, None if interface is None else string(interface, where))
    except ValueError as exc:
        key = "model" if interface is None else "provider_interface"
        raise ConfigError(f"{where}.{key}: {exc}") from exc
    return provider_name, model, kind


def _provider(raw: Any, where: str, problems: Problems) -> ProviderConfig | None:
    """One provider, or None (its problems noted) when its model or interface cannot be read."""
    item = problems.read(mapping, raw, where, default=None)
    model_ref = None if item is None else problems.read(string, item.get("model"), f"{where}.model", default=None)
    named = None if item is None or model_ref is None else problems.read(_kind, item, where, model_ref, default=None)
    if item is None or model_ref is None or named is None:
        return None
    provider_name, model, kind = named
    read = problems.read
    access_key, unset = problems.substituted(
        item.get("access_key"), f"{where}.access_key", f" (provider {model_ref!r} needs it)"
    )
    passthrough_auth = read(boolean, item.get("passthrough_auth", False), f"{where}.passthrough_auth", default=False)
    if not access_key and not unset and kind.needs_key and not passthrough_auth:
        problems.errors.append(
            f"{where}.access_key: provider {model_ref!r} needs an API key (for example $API_KEY), "
            "or passthrough_auth: true to use each caller's own key"
        )
    base_url, _ = problems.substituted(item.get("base_url"), f"{where}.base_url")
    try:
        api_root = kind.api_root(base_url)
    except ValueError as exc:
        problems.errors.append(f"{where}.base_url: {exc}")
        api_root = ""
    headers: dict[str, Any] = read(mapping, item.get("headers") or {}, f"{where}.headers", default={})
    return ProviderConfig(
        provider=provider_name,
        model=model,
        kind=kind,
        base_url=api_root,
        access_key=access_key or None,
        default=read(boolean, item.get("default", False), f"{where}.default", default=False),
        headers={str(k): problems.substituted(v, f"{where}.headers.{k}")[0] or "" for k, v in headers.items()},
        api_version=problems.substituted(item.get("api_version"), f"{where}.api_version")[0]
        or kind.default_api_version,
        max_tokens=_optional_int(item.get("max_tokens"), f"{where}.max_tokens", problems),
        context_window=_optional_int(item.get("context_window"), f"{where}.context_window", problems),
        responses_api=read(
            boolean, item.get("responses_api", kind.native_responses), f"{where}.responses_api", default=False
        ),
        timeouts=read(_timeouts, item.get("timeouts"), f"{where}.timeouts", default=Timeouts()),
        retries=read(_retries, item.get("retries"), f"{where}.retries", default=RetryPolicy()),
        fallbacks=read(_names, item.get("fallbacks"), f"{where}.fallbacks", default=()),
        passthrough_auth=passthrough_auth,
    )


def _optional_int(value: Any, where: str, problems: Problems) -> int | None:
    return None if value is None else problems.read(integer, value, where, 1, default=None)


def _names(raw: Any, where: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    return tuple(string(name, f"{where}[{i}]") for i, name in enumerate(list_of(raw, where)))


def _retries(raw: Any, where: str) -> RetryPolicy:
    """Unknown keys in here are reported by `check_keys`."""
    if raw is None:
        return RetryPolicy()
    item = mapping(raw, where)
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
    base = Timeouts()
    return Timeouts(
        connect=duration(item.get("connect", base.connect), f"{where}.connect"),
        first_byte=duration(item.get("first_byte", base.first_byte), f"{where}.first_byte"),
        idle=duration(item.get("idle", base.idle), f"{where}.idle"),
    )


def _aliases(
    raw: Any, providers: tuple[ProviderConfig, ...], problems: Problems
) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """Alias → target, and alias → fallbacks; every name must be configured."""
    known = {p.qualified_name for p in providers} | {p.model for p in providers}
    aliases: dict[str, str] = {}
    fallbacks: dict[str, tuple[str, ...]] = {}
    entries: dict[str, Any] = problems.read(mapping, raw or {}, "model_aliases", default={})
    for name, value in entries.items():
        where = f"model_aliases.{name}"
        entry: dict[str, Any] = problems.read(mapping, value, where, default={})
        target = problems.read(string, entry.get("target"), f"{where}.target", default=None)
        if target is None:
            continue
        if providers and target not in known:  # without providers, that is the problem already named
            problems.errors.append(f"{where}.target: {target!r} is not a configured model")
        aliases[str(name)] = target
        fallbacks[str(name)] = problems.read(_names, entry.get("fallbacks"), f"{where}.fallbacks", default=())
    for index, provider in enumerate(providers):
        _check_known(provider.fallbacks, known | set(aliases), f"model_providers[{index}].fallbacks", problems)
    for name, names in fallbacks.items():
        _check_known(names, known | set(aliases), f"model_aliases.{name}.fallbacks", problems)
    return aliases, {name: names for name, names in fallbacks.items() if names}


def _check_known(names: tuple[str, ...], known: set[str], where: str, problems: Problems) -> None:
    for index, name in enumerate(names):
        if name not in known:
            problems.errors.append(f"{where}[{index}]: {name!r} is not a configured model or alias")


def _state_storage(raw: Any, problems: Problems) -> StateStorage | None:
    if raw is None:
        return None
    item = problems.read(mapping, raw, "state_storage", default=None)
    kind = None if item is None else problems.read(string, item.get("type"), "state_storage.type", default=None)
    if item is None or kind is None:
        return None
    if kind not in _STORAGE_TYPES:
        problems.errors.append(f"state_storage.type: {kind!r} is not one of {', '.join(_STORAGE_TYPES)}")
    connection, unset = problems.substituted(item.get("connection_string"), "state_storage.connection_string")
    path, _ = problems.substituted(item.get("path"), "state_storage.path")
    if kind == "postgres" and not connection and not unset:
        problems.errors.append("state_storage.connection_string: required for type postgres")
    read = problems.read
    return StateStorage(
        type=kind,
        path=path or ("./plano_state.db" if kind == "sqlite" else None),
        connection_string=connection,
        schema=problems.substituted(item.get("schema"), "state_storage.schema")[0],
        max_responses=read(integer, item.get("max_responses", 10_000), "state_storage.max_responses", 1, default=1),
        store_chat_turns=read(
            boolean, item.get("store_chat_turns", True), "state_storage.store_chat_turns", default=True
        ),
        retention=read(_retention, item.get("retention"), default=None),
        instance_lease=read(duration, item.get("instance_lease", 10), "state_storage.instance_lease", default=10.0),
        event_log_ttl=read(duration, item.get("event_log_ttl", 300), "state_storage.event_log_ttl", default=300.0),
    )


def _retention(raw: Any) -> Retention | None:
    if raw is None:
        return None
    where = "state_storage.retention"
    item = mapping(raw, where)
    if "max_age" not in item:
        raise ConfigError(f"{where}.max_age: required (for example 30d)")
    max_size = item.get("max_size")
    return Retention(
        max_age=duration(item["max_age"], f"{where}.max_age"),
        max_size=None if max_size is None else size(max_size, f"{where}.max_size"),
        interval=duration(item.get("interval", "10m"), f"{where}.interval"),
    )
