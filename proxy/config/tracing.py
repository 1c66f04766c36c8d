"""The ``tracing`` section: where OpenTelemetry spans are exported (OTLP over HTTP), and how many."""

from __future__ import annotations

from typing import Any

from plano_proxy.proxy.config.model import ConfigError, TracingSettings
from plano_proxy.proxy.config.values import Problems, boolean, mapping, string

_TRACES_PATH = "/v1/traces"


def read_tracing(raw: Any, problems: Problems) -> TracingSettings | None:
    """None (tracing off) without the section, or with only Plano's own tracing keys in it."""
    if raw is None:
        return None
    section = problems.read(mapping, raw, "tracing", default=None)
    if section is None or "endpoint" not in section:
        if section is not None and not (section.keys() - {"random_sampling", "trace_arch_internal"}):
            return None  # Plano's tracing settings alone: named as ignored by the key check
        problems.errors.append("tracing.endpoint: required (the collector's OTLP/HTTP URL, e.g. http://otel:4318)")
        return None
    endpoint, unset = problems.substituted(section["endpoint"], "tracing.endpoint")
    headers: dict[str, Any] = problems.read(mapping, section.get("headers") or {}, "tracing.headers", default={})
    settings = TracingSettings(
        endpoint=_traces_url(endpoint or ""),
        headers={str(k): problems.substituted(v, f"tracing.headers.{k}")[0] or "" for k, v in headers.items()},
        service_name=problems.read(
            string, section.get("service_name", "plano-proxy"), "tracing.service_name", default="plano-proxy"
        ),
        sampling_ratio=problems.read(_ratio, section.get("sampling_ratio", 1.0), default=1.0),
        capture_content=problems.read(
            boolean, section.get("capture_content", False), "tracing.capture_content", default=False
        ),
    )
    if not unset and not settings.endpoint.startswith(("http://", "https://")):
        problems.errors.append(f"tracing.endpoint: {endpoint!r} is not an http:// or https:// URL")
    return settings


def _ratio(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise ConfigError(f"tracing.sampling_ratio: {value!r} is not a number from 0 to 1")
    return float(value)


def _traces_url(endpoint: str) -> str:
    """The collector root (``http://otel:4318``) or the full traces URL, as OpenTelemetry's own variables take."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith(_TRACES_PATH) else endpoint + _TRACES_PATH
