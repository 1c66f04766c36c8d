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
line of a request carries its ``trace_id`` (bound in structlog's context variables).
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import structlog
from aiohttp import web
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from plano_proxy.proxy.config import ProviderConfig
from plano_proxy.proxy.config.model import TracingSettings
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
    """The tracer of one worker process, from `TracingSettings`; its exporter runs in a thread of its own."""

    def __init__(self, settings: TracingSettings) -> None:
        self.instance = f"{socket.gethostname()}-{os.getpid()}"
        resource = Resource.create({"service.name": settings.service_name, "service.instance.id": self.instance})
        sampler = ParentBased(TraceIdRatioBased(settings.sampling_ratio))
        self.provider = TracerProvider(resource=resource, sampler=sampler)
        exporter = OTLPSpanExporter(endpoint=settings.endpoint, headers=dict(settings.headers))
        self.provider.add_span_processor(BatchSpanProcessor(exporter))
        self.tracer = self.provider.get_tracer("plano_proxy")
        self.capture_content = settings.capture_content

    def flush(self) -> None:
        self.provider.force_flush()

    def shutdown(self) -> None:
        self.provider.shutdown()

    @contextmanager
    def span(self, name: str, attributes: dict[str, Any] | None = None) -> Iterator[Span]:
        """A child of the current span (the request's, or one of its children)."""
        with self.tracer.start_as_current_span(name, attributes=attributes) as span:
            yield span

    @contextmanager
    def serve(self, request: web.Request) -> Iterator[RequestTrace]:
        """The request's server span, continuing the client's ``traceparent``; log lines inside carry its trace id."""
        parent = _PROPAGATOR.extract(request.headers)
        attributes = {"http.request.method": request.method, "url.path": request.path, "plano.instance": self.instance}
        api = next((name for prefix, name in _CLIENT_APIS if request.path.startswith(prefix)), None)
        if api is not None:
            attributes["plano.client_api"] = api
        name = f"{request.method} {request.path}"
        with self.tracer.start_as_current_span(name, parent, SpanKind.SERVER, attributes) as span:
            yield RequestTrace(self, span)

    @contextmanager
    def linked(self, origin: RequestTrace, name: str) -> Iterator[RequestTrace]:
        """Work that outlives its request, as the root of a trace of its own linked to that request's span."""
        link = Link(origin.span.get_span_context())
        with self.tracer.start_as_current_span(name, Context(), SpanKind.INTERNAL, links=[link]) as span:
            span.set_attribute("plano.instance", self.instance)
            own = RequestTrace(self, span)
            with structlog.contextvars.bound_contextvars(trace_id=own.trace_id):
                yield own


class RequestTrace:
    """The spans of one request (or of one background response) that later stages annotate."""

    __slots__ = ("attempt_span", "first_token_seen", "relay_span", "span", "tracing")

    def __init__(self, tracing: Tracing, span: Span) -> None:
        self.tracing = tracing
        self.span = span
        self.attempt_span: Span | None = None
        self.relay_span: Span | None = None
        self.first_token_seen = False

    @property
    def trace_id(self) -> str:
        return trace.format_trace_id(self.span.get_span_context().trace_id)

    def note_route(self, requested: str, provider: ProviderConfig) -> None:
        self.span.set_attributes({"gen_ai.request.model": requested, "gen_ai.provider.name": provider_name(provider)})

    def start_attempt(self, provider: ProviderConfig, operation: str, retry: int, body: bytes) -> Span:
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
        span = self.tracing.tracer.start_span(f"chat {provider.model}", None, SpanKind.CLIENT, attributes)
        self.attempt_span = span
        return span

    @staticmethod
    def inject(span: Span, headers: dict[str, str]) -> None:
        _PROPAGATOR.inject(headers, trace.set_span_in_context(span))

    @staticmethod
    def end_attempt(span: Span, status: int | None) -> None:
        if status is not None:
            span.set_attribute("http.response.status_code", status)
            span.set_attribute("error.type", str(status))
            span.set_status(Status(StatusCode.ERROR))
        span.end()

    @contextmanager
    def relay(self) -> Iterator[None]:
        """Relaying the answer, under the attempt that produced it."""
        parent = self.attempt_span
        context = trace.set_span_in_context(parent) if parent is not None else None
        with self.tracing.tracer.start_as_current_span("relay", context) as span:
            self.relay_span = span
            yield

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
        if attempt is not None and attempt.is_recording():
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
            own.span.set_status(Status(StatusCode.ERROR))
        return response


async def add_trace_header(request: web.Request, response: web.StreamResponse) -> None:
    own = request.get(TRACE)
    if own is not None:
        response.headers[TRACE_ID_HEADER] = own.trace_id


def tracer_provider(settings: TracingSettings) -> Callable[[web.Application], AsyncIterator[None]]:
    """For `app.cleanup_ctx`: the tracer lives as long as the app; what is still buffered is exported on the way
    out."""

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        tracing = Tracing(settings)
        app[TRACING] = tracing
        try:
            yield
        finally:
            tracing.shutdown()

    return lifetime
