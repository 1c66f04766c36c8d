"""Calling providers: one shared `UpstreamPool` (`http1`), per-provider URLs, headers and timeouts, and the single place
where upstream failures become `UpstreamError`s.

The gateway only ever calls a configured provider's own API root; nothing in a client request can change the host.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Literal

import orjson
import structlog

from plano_proxy.proxy.config import ProviderConfig
from plano_proxy.proxy.errors import UpstreamError, UpstreamTimeout, UpstreamUnreachable
from plano_proxy.proxy.tracing import RequestTrace
from plano_proxy.proxy.upstream.capture import note_sent
from plano_proxy.proxy.upstream.http1 import UpstreamPool
from plano_proxy.proxy.upstream.http1_answer import UpstreamAnswer, UpstreamCut

log = structlog.get_logger("plano_proxy.upstream")

Operation = Literal["chat", "messages", "count_tokens", "responses", "input_tokens"]

ANTHROPIC_VERSION = "2023-06-01"
# Client headers worth forwarding to an Anthropic upstream; everything else is the gateway's to set.
ANTHROPIC_FORWARDED = frozenset({"anthropic-beta"})
_PATHS: dict[Operation, str] = {
    "chat": "/chat/completions",
    "messages": "/messages",
    "count_tokens": "/messages/count_tokens",
    "responses": "/responses",
    "input_tokens": "/responses/input_tokens",
}


def create_pool(limit: int) -> UpstreamPool:
    """The connections to every provider. One pool serves every client, and keeps no cookies: one a provider set for
    one caller must never ride along on another caller's request."""
    return UpstreamPool(limit, keepalive=60)


def upstream_url(provider: ProviderConfig, operation: Operation) -> str:
    if provider.interface == "azure_openai":
        return (
            f"{provider.base_url}/openai/deployments/{provider.model}{_PATHS[operation]}"
            f"?api-version={provider.api_version}"
        )
    return provider.base_url + _PATHS[operation]


def upstream_headers(provider: ProviderConfig, forwarded: Mapping[str, str] | None = None) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "User-Agent": "plano-proxy"}
    key = provider.access_key
    if provider.interface == "anthropic":
        headers["anthropic-version"] = ANTHROPIC_VERSION
        if key:
            headers["x-api-key"] = key
        for name, value in (forwarded or {}).items():
            if name.lower() in ANTHROPIC_FORWARDED:
                headers[name.lower()] = value
    elif provider.interface == "azure_openai":
        if key:
            headers["api-key"] = key
    elif key:
        headers["Authorization"] = f"Bearer {key}"
    headers.update(provider.headers)
    return headers


RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


@asynccontextmanager
async def open_upstream(
    pool: UpstreamPool,
    provider: ProviderConfig,
    operation: Operation,
    body: bytes,
    forwarded: Mapping[str, str] | None = None,
    trace: RequestTrace | None = None,
) -> AsyncIterator[UpstreamAnswer]:
    """POST to the provider and yield its successful response, still unread; any failure is an UpstreamError.

    Failures before the answer starts are retried as the provider's `RetryPolicy` says; once a response is yielded
    nothing is retried, since part of the answer may already be with the client. With `trace`, each try is a client
    span, which the request carries as its ``traceparent``.
    """
    note_sent(provider, operation, body)
    headers = upstream_headers(provider, forwarded)
    retry = 0
    while True:
        failure: UpstreamError
        retry_after = None
        span = None
        if trace is not None:
            span = trace.start_attempt(provider, operation, retry, body)
            trace.inject(span, headers)
        try:
            response = await _post(pool, provider, operation, body, headers)
        except UpstreamError as error:
            failure = error
        else:
            if response.status < 400:
                break
            failure = await _error_from(response, provider)
            retry_after = response.headers.get("retry-after")
            response.release()
        if span is not None:
            RequestTrace.end_attempt(span, failure.status)
        # A connection failure or timeout is a 502 or 504: retryable.
        if failure.status not in RETRYABLE_STATUSES or retry >= provider.retries.attempts:
            raise failure
        delay = provider.retries.delay(retry, retry_after)
        log.warning(
            "upstream_retry", provider=provider.qualified_name, status=failure.status, retry=retry + 1, delay_s=delay
        )
        retry += 1
        await asyncio.sleep(delay)
    try:
        yield response
    finally:
        response.release()
        if span is not None:
            RequestTrace.end_attempt(span, None)


async def _post(
    pool: UpstreamPool, provider: ProviderConfig, operation: Operation, body: bytes, headers: dict[str, str]
) -> UpstreamAnswer:
    try:
        return await pool.post(upstream_url(provider, operation), headers, body, provider.timeouts)
    except TimeoutError as exc:
        raise UpstreamTimeout(f"The provider {provider.qualified_name!r} did not answer in time.") from exc
    except (OSError, UpstreamCut) as exc:
        raise UpstreamUnreachable(
            f"Could not reach the provider {provider.qualified_name!r}: {_failure_name(exc)}."
        ) from exc


def _failure_name(exc: BaseException) -> str:
    if isinstance(exc, UpstreamCut):
        return "it closed the connection without answering"
    return type(exc).__name__


async def _error_from(response: UpstreamAnswer, provider: ProviderConfig) -> UpstreamError:
    try:
        raw = await response.read()
    except (UpstreamCut, TimeoutError):
        raw = b""
    message, type_, code = parse_error_body(raw)
    if provider.access_key:
        message = message.replace(provider.access_key, "[redacted]")
    message = message or f"The provider {provider.qualified_name!r} answered with HTTP {response.status}."
    return UpstreamError(response.status, message, type=type_, code=code, headers=rate_limit_headers(response))


_RATE_LIMIT_PREFIXES = ("x-ratelimit-", "anthropic-ratelimit-")


def rate_limit_headers(response: UpstreamAnswer) -> dict[str, str]:
    """``Retry-After`` (seconds or milliseconds) and the provider's rate-limit state, for the client's own backoff."""
    return {
        name: value
        for name, value in response.headers.items()
        if name in ("retry-after", "retry-after-ms") or name.startswith(_RATE_LIMIT_PREFIXES)
    }


def parse_error_body(raw: bytes) -> tuple[str, str | None, str | None]:
    """Message, type and code from an OpenAI-style or Anthropic-style error body (or plain text)."""
    try:
        body: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", "replace")[:1000].strip(), None, None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        message = str(error.get("message") or "")
        type_ = error.get("type")
        code = error.get("code")
        return message, type_ if isinstance(type_, str) else None, code if isinstance(code, str) else None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"], None, None
    return raw.decode("utf-8", "replace")[:1000], None, None
