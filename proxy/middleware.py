"""The error renderer and the access log, as one middleware around every handler."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from plano_proxy import storage
from plano_proxy.proxy.app_keys import ACCESS, AccessRecord
from plano_proxy.proxy.auth import authenticate
from plano_proxy.proxy.errors import (
    GatewayError,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    StateStoreUnavailable,
    UpstreamError,
    anthropic_body,
    openai_body,
)
from plano_proxy.proxy.exchange import Exchange
from plano_proxy.proxy.ignored_params import IGNORED_HEADER
from plano_proxy.proxy.metrics import METRICS, observe_request, route_template
from plano_proxy.proxy.web_json import json_response
from plano_proxy.transformers.errors import RequestError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = structlog.get_logger("plano_proxy.access")

CLIENT_CLOSED = 499
"""Logged status of a request whose client went away before the answer was complete (nginx's convention)."""


def speaks_anthropic(request: web.Request) -> bool:
    """Anthropic's routes, and the model endpoints when an Anthropic client asks (its SDK always sends the
    version header; OpenAI's never does)."""
    path = request.path
    return path.startswith("/v1/messages") or (path.startswith("/v1/models") and "anthropic-version" in request.headers)


def render_error(request: web.Request, error: GatewayError) -> web.Response:
    headers = error.headers or None
    if speaks_anthropic(request):
        return json_response(anthropic_body(error, request[ACCESS].request_id), error.status, headers)
    return json_response(openai_body(error), error.status, headers)


@web.middleware
async def gateway_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    record = AccessRecord(
        request_id=request.headers.get("x-request-id") or f"req_{secrets.token_hex(16)}", started=started
    )
    request[ACCESS] = record
    status = 500
    try:
        response = await _handle(request, handler)
        status = response.status
        return response
    except (ConnectionResetError, asyncio.CancelledError):
        status = CLIENT_CLOSED
        raise
    finally:
        observe_request(request, status)
        log.info(
            "request",
            request_id=record.request_id,
            method=request.method,
            endpoint=request.path,
            model=record.model,
            provider=record.provider,
            stream=record.stream,
            fallback_from=record.fallback_from,
            status=status,
            latency_ms=round((time.perf_counter() - started) * 1000, 2),
            ttft_ms=None if record.first_byte is None else round((record.first_byte - started) * 1000, 2),
            input_tokens=record.input_tokens,
            output_tokens=record.output_tokens,
        )


async def _handle(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        authenticate(request)
        return await handler(request)
    except GatewayError as error:
        if isinstance(error, UpstreamError):
            Exchange.of(request).note_upstream_error(error.status)
        return render_error(request, error)
    except RequestError as error:
        return render_error(request, InvalidRequest(error.message, param=error.param))
    except storage.StorageUnavailable as error:
        return render_error(
            request, StateStoreUnavailable(f"The state store is unavailable, try again shortly ({error}).")
        )
    except web.HTTPNotFound:
        return render_error(request, NotFound(f"Unknown request URL: {request.method} {request.path}."))
    except web.HTTPMethodNotAllowed:
        return render_error(request, MethodNotAllowed(f"Method {request.method} is not allowed for {request.path}."))
    except Exception:
        # A bug, not a client error: bad input is refused by the parsers' checks (RequestError) before any of it is
        # used, so whatever escapes is the gateway's own fault and is never passed off as the client's. It is logged
        # with its traceback and request id, counted, and answered in the client's format.
        log.exception("unhandled_error", request_id=request[ACCESS].request_id, endpoint=request.path)
        request.app[METRICS].internal_errors.labels(route_template(request)).inc()
        return render_error(request, GatewayError("The gateway failed to handle this request."))


async def add_gateway_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer, streamed or not, carries the request id the access line logs (the client's, if it sent one),
    names the provider that failed when a fallback model answered, and what a translated provider did not receive."""
    record = request.get(ACCESS)
    if record is None:
        return
    response.headers["x-request-id"] = record.request_id
    if record.fallback_from is not None:
        response.headers["x-plano-fallback-from"] = record.fallback_from
    if record.ignored_params:
        response.headers[IGNORED_HEADER] = ", ".join(record.ignored_params)
