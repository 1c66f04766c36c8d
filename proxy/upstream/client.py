"""Calling providers: one shared `ClientSession`, per-provider URLs, headers and timeouts, and the single place
where upstream failures become `UpstreamError`s.

The gateway only ever calls a configured provider's own API root; nothing in a client request can change the host.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Literal

import aiohttp
import orjson
import structlog

from plano_proxy.proxy.config import ProviderConfig, Timeouts
from plano_proxy.proxy.errors import UpstreamError, UpstreamTimeout, UpstreamUnreachable
from plano_proxy.proxy.tracing import RequestTrace
from plano_proxy.proxy.upstream.capture import note_sent

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


def create_session(pool_size: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=pool_size, limit_per_host=pool_size, keepalive_timeout=60)
    return aiohttp.ClientSession(
        connector=connector,
        # One session serves every client: a cookie a provider sets for one caller must never ride along on another
        # caller's request (and not keeping any spares a jar lookup on every call).
        cookie_jar=aiohttp.DummyCookieJar(),
        json_serialize=lambda value: orjson.dumps(value).decode(),
        auto_decompress=True,
        skip_auto_headers=("User-Agent",),
    )


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
    session: aiohttp.ClientSession,
    provider: ProviderConfig,
    operation: Operation,
    body: bytes,
    forwarded: Mapping[str, str] | None = None,
    trace: RequestTrace | None = None,
) -> AsyncIterator[aiohttp.ClientResponse]:
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
            response = await _post(session, provider, operation, body, headers)
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
    session: aiohttp.ClientSession,
    provider: ProviderConfig,
    operation: Operation,
    body: bytes,
    headers: dict[str, str],
) -> aiohttp.ClientResponse:
    timeouts = provider.timeouts
    send = session.post(
        upstream_url(provider, operation),
        data=body,
        headers=headers,
        timeout=_client_timeout(timeouts),
    )
    try:
        # aiohttp's sock_read (the idle timeout) also bounds the wait for the first bytes of the answer, so only a
        # shorter first_byte needs a timer of its own.
        if timeouts.first_byte >= timeouts.idle:
            return await send
        async with asyncio.timeout(timeouts.first_byte):
            return await send
    except TimeoutError as exc:
        raise UpstreamTimeout(f"The provider {provider.qualified_name!r} did not answer in time.") from exc
    except aiohttp.ClientError as exc:
        raise UpstreamUnreachable(
            f"Could not reach the provider {provider.qualified_name!r}: {type(exc).__name__}."
        ) from exc


@functools.lru_cache(maxsize=64)
def _client_timeout(timeouts: Timeouts) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=None, sock_connect=timeouts.connect, sock_read=timeouts.idle)


async def _error_from(response: aiohttp.ClientResponse, provider: ProviderConfig) -> UpstreamError:
    try:
        raw = await response.read()
    except (aiohttp.ClientError, TimeoutError):
        raw = b""
    message, type_, code = parse_error_body(raw)
    if provider.access_key:
        message = message.replace(provider.access_key, "[redacted]")
    message = message or f"The provider {provider.qualified_name!r} answered with HTTP {response.status}."
    return UpstreamError(response.status, message, type=type_, code=code, headers=rate_limit_headers(response))


_RATE_LIMIT_PREFIXES = ("x-ratelimit-", "anthropic-ratelimit-")


def rate_limit_headers(response: aiohttp.ClientResponse) -> dict[str, str]:
    """``Retry-After`` (seconds or milliseconds) and the provider's rate-limit state, for the client's own backoff."""
    return {
        name: value
        for name, value in response.headers.items()
        if name.lower() in ("retry-after", "retry-after-ms") or name.lower().startswith(_RATE_LIMIT_PREFIXES)
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
