"""OpenTelemetry traces of each request, exported over OTLP/HTTP, with the GenAI semantic conventions.

Off unless the config has a ``tracing`` section: then `create_app` adds `tracing_middleware` and a response header
hook, and nothing else on the hot path changes but one ``is None`` check where a span could start. On, each request
is one server span (continuing the client's W3C ``traceparent``) with children::

    POST /v1/responses (server)
    ├── route
    ├── load_history
    ├── chat <model> (client: one per upstream attempt, retries and fallbacks included; carries the traceparent)
    │   └── relay (event first_token)
    │       └── commit
    ...

A background response's work is a trace of its own whose root span links to the request that created it. Every log
line of a request carries its ``trace_id`` (bound in structlog's context variables). The spans are recorded as plain
records and exported by a process of the worker's own (`plano_proxy.proxy.trace_export`), so the worker pays little
for them.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import structlog
from aiohttp import web
from opentelemetry import trace
from opentelemetry.sdk.trace.sampling import TraceIdRatioBased
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from plano_proxy.proxy.config import ProviderConfig
from plano_proxy.proxy.config.model import TracingSettings
from plano_proxy.proxy.trace_export import SpanExport, SpanRecord, TraceRecord
from plano_proxy.transformers.canonical import Event, Finish, ResponseStart, Usage

TRACE_ID_HEADER = "x-plano-trace-id"
_PROPAGATOR = TraceContextTextMapPropagator()
# gen_ai.provider.name of the semantic conventions, by the provider's wire interface (other names are passed on).
_PROVIDER_NAMES = {"anthropic": "anthropic", "azure_openai": "azure.ai.openai"}
_CLIENT_APIS = (
    ("/v1/chat/completions", "chat_completions"),
    ("/v1/messages", "messages"),
    ("/v1/responses", "responses"),
    ("/v1/conversations", "conversations"),
    ("/v1/models", "models"),
)


class Tracing:
    """The tracer of one worker process, from `TracingSettings`: it starts the traces of requests (sampling each new
    one) and hands the finished ones to its export process (`plano_proxy.proxy.trace_export`)."""

    def __init__(self, settings: TracingSettings, export: SpanExport, instance: str) -> None:
        self.instance = instance
        self.export = export
        self._bound = TraceIdRatioBased.get_bound_for_rate(settings.sampling_ratio)
        self.capture_content = settings.capture_content

    @classmethod
    async def start(cls, settings: TracingSettings) -> Tracing:
        instance = f"{socket.gethostname()}-{os.getpid()}"
        export = await SpanExport.start(
            {
                "endpoint": settings.endpoint,
                "headers": dict(settings.headers),
                "resource": {"service.name": settings.service_name, "service.instance.id": instance},
            }
        )
        return cls(settings, export, instance)

    def flush(self, timeout: float = 30.0) -> None:
        """From a thread other than the app's (a test's): return once every finished trace has been exported."""
        asyncio.run_coroutine_threadsafe(self.export.flush(), self.export.loop).result(timeout)

    @contextmanager
    def serve(self, request: web.Request) -> Iterator[RequestTrace]:
        """The request's server span, continuing the client's ``traceparent``."""
        parent = trace.get_current_span(_PROPAGATOR.extract(request.headers)).get_span_context()
        remote = parent if parent.is_valid else None
        attributes = {"http.request.method": request.method, "url.path": request.path, "plano.instance": self.instance}
        api = next((name for prefix, name in _CLIENT_APIS if request.path.startswith(prefix)), None)
        if api is not None:
            attributes["plano.client_api"] = api
        own = self._start(f"{request.method} {request.path}", remote, SpanKind.SERVER, attributes)
        try:
            yield own
        finally:
            own.finish()

    @contextmanager
    def linked(self, origin: RequestTrace, name: str) -> Iterator[RequestTrace]:
        """Work that outlives its request, as the root of a trace of its own linked to that request's span; log lines
        inside carry its trace id."""
        own = self._start(name, None, SpanKind.INTERNAL, {"plano.instance": self.instance}, (origin.context,))
        try:
            with structlog.contextvars.bound_contextvars(trace_id=own.trace_id):
                yield own
        finally:
            own.finish()

    def _start(
        self,
        name: str,
        parent: SpanContext | None,
        kind: SpanKind,
        attributes: dict[str, Any],
        links: tuple[SpanContext, ...] = (),
    ) -> RequestTrace:
        """A trace's root span: a remote parent's decision to sample is kept, a new trace is sampled by its id (as
        the SDK's ``ParentBased(TraceIdRatioBased)`` does)."""
        if parent is not None:
            record, sampled = TraceRecord(parent.trace_id, parent), parent.trace_flags.sampled
        else:
            trace_id = random.getrandbits(128) or 1
            record, sampled = TraceRecord(trace_id, None), trace_id & TraceIdRatioBased.TRACE_ID_LIMIT < self._bound
        root = SpanRecord(name, None, kind, attributes, links)
        record.spans.append(root)
        return RequestTrace(self, record, root, sampled)


class RequestTrace:
    """The spans of one request (or of one background response): the root, the span new children go under, and
    the ones later stages annotate."""

    __slots__ = ("attempt_span", "current", "first_token_seen", "record", "relay_span", "sampled", "span", "tracing")

    def __init__(self, tracing: Tracing, record: TraceRecord, root: SpanRecord, sampled: bool) -> None:
        self.tracing = tracing
        self.record = record
        self.span = root
        self.current = root
        self.sampled = sampled
        self.attempt_span: SpanRecord | None = None
        self.relay_span: SpanRecord | None = None
        self.first_token_seen = False

    @property
    def trace_id(self) -> str:
        return f"{self.record.trace_id:032x}"

    @property
    def context(self) -> SpanContext:
        flags = TraceFlags(TraceFlags.SAMPLED if self.sampled else TraceFlags.DEFAULT)
        return SpanContext(self.record.trace_id, self.span.span_id, False, flags, self.record.trace_state)

    @contextmanager
    def child(self, name: str, attributes: dict[str, Any] | None = None) -> Iterator[SpanRecord]:
        """A span under the current one, current itself while the block runs."""
        span = self._new(name, self.current, SpanKind.INTERNAL, attributes)
        outer, self.current = self.current, span
        try:
            yield span
        finally:
            self.current = outer
            span.end()

    def _new(self, name: str, parent: SpanRecord, kind: SpanKind, attributes: dict[str, Any] | None) -> SpanRecord:
        span = SpanRecord(name, parent.span_id, kind, attributes)
        self.record.spans.append(span)
        return span

    def finish(self) -> None:
        self.span.end()
        if self.sampled:
            self.tracing.export.submit(self.record)

    def note_route(self, requested: str, provider: ProviderConfig) -> None:
        self.span.set_attributes({"gen_ai.request.model": requested, "gen_ai.provider.name": provider_name(provider)})

    def start_attempt(self, provider: ProviderConfig, operation: str, retry: int, body: bytes) -> SpanRecord:
        """A client span for one HTTP call to a provider; `inject` puts its ``traceparent`` on the call."""
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": provider_name(provider),
            "gen_ai.request.model": provider.model,
            "plano.upstream.operation": operation,
            "plano.upstream.retry": retry,
            "plano.upstream.provider": provider.qualified_name,
        }
        if self.tracing.capture_content:
            attributes["gen_ai.input.messages"] = body.decode("utf-8", "replace")
        span = self._new(f"chat {provider.model}", self.current, SpanKind.CLIENT, attributes)
        self.attempt_span = span
        return span

    def inject(self, span: SpanRecord, headers: dict[str, str]) -> None:
        """The W3C trace context of `span`, for the provider."""
        flags = "01" if self.sampled else "00"
        headers["traceparent"] = f"00-{self.record.trace_id:032x}-{span.span_id:016x}-{flags}"
        if self.record.trace_state:
            headers["tracestate"] = self.record.trace_state.to_header()

    @staticmethod
    def end_attempt(span: SpanRecord, status: int | None) -> None:
        if status is not None:
            span.set_attributes({"http.response.status_code": status, "error.type": str(status)})
            span.set_error()
        span.end()

    @contextmanager
    def relay(self) -> Iterator[None]:
        """Relaying the answer, under the attempt that produced it."""
        parent = self.attempt_span or self.current
        span = self._new("relay", parent, SpanKind.INTERNAL, None)
        self.relay_span = span
        outer, self.current = self.current, span
        try:
            yield
        finally:
            self.current = outer
            span.end()

    def first_token(self) -> None:
        if not self.first_token_seen:
            self.first_token_seen = True
            (self.relay_span or self.span).add_event("first_token")

    def note_events(self, events: list[Event]) -> None:
        """What the response attributes say, from the canonical events of a translated answer."""
        for event in events:
            if isinstance(event, ResponseStart):
                self._annotate({"gen_ai.response.id": event.id, "gen_ai.response.model": event.model})
            elif isinstance(event, Finish):
                self._annotate({"gen_ai.response.finish_reasons": (event.reason,)})

    def note_usage(self, usage: Usage) -> None:
        self._annotate(
            {
                "gen_ai.usage.input_tokens": usage.input_tokens,
                "gen_ai.usage.output_tokens": usage.output_tokens,
                "gen_ai.usage.cache_read.input_tokens": usage.cached_tokens,
                "gen_ai.usage.cache_creation.input_tokens": usage.cache_creation_tokens,
                "gen_ai.usage.reasoning.output_tokens": usage.reasoning_tokens,
            }
        )

    def _annotate(self, attributes: dict[str, Any]) -> None:
        attempt = self.attempt_span
        if attempt is not None and attempt.end_time is None:
            attempt.set_attributes(attributes)
        self.span.set_attributes(attributes)


def provider_name(provider: ProviderConfig) -> str:
    return _PROVIDER_NAMES.get(provider.interface, provider.provider)


def content_attribute(value: Any) -> str:
    return orjson.dumps(value).decode()


TRACE = web.RequestKey("trace", RequestTrace)
TRACING = web.AppKey("tracing", Tracing)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def tracing_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outside the gateway's own middleware, so that its access line is inside the span and carries the trace id."""
    with request.app[TRACING].serve(request) as own:
        request[TRACE] = own
        with structlog.contextvars.bound_contextvars(trace_id=own.trace_id):
            response = await handler(request)
        own.span.set_attribute("http.response.status_code", response.status)
        if response.status >= 500:
            own.span.set_error()
        return response


async def add_trace_header(request: web.Request, response: web.StreamResponse) -> None:
    own = request.get(TRACE)
    if own is not None:
        response.headers[TRACE_ID_HEADER] = own.trace_id


def tracer_provider(settings: TracingSettings) -> Callable[[web.Application], AsyncIterator[None]]:
    """For `app.cleanup_ctx`: the tracer lives as long as the app; what is still buffered is exported on the way
    out."""

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        tracing = await Tracing.start(settings)
        app[TRACING] = tracing
        try:
            yield
        finally:
            await tracing.export.shutdown()

    return lifetime
