"""Typed keys for what `create_app` puts on the application and on each request."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from plano_proxy.proxy.config import Config
from plano_proxy.proxy.scale_out.member import Member
from plano_proxy.proxy.tracing import TRACE
from plano_proxy.proxy.upstream.http1 import UpstreamPool
from plano_proxy.proxy.upstream.routing import ModelTable, Route
from plano_proxy.storage import Store
from plano_proxy.storage.writer import BackgroundWriter

CONFIG = web.AppKey("config", Config)
STORE = web.AppKey("store", Store)
WRITER = web.AppKey("writer", BackgroundWriter)
MODELS = web.AppKey("models", ModelTable)
UPSTREAM_POOL = web.AppKey("upstream_pool", UpstreamPool)
BACKGROUND_TASKS = web.AppKey("background_tasks", set)
"""Work that outlives its request (storing the partial answer of a stream whose client left); awaited at shutdown."""
RUNNING = web.AppKey("background_responses", dict)
"""Background responses being produced by this process, by response id (their tasks)."""
LIVE = web.AppKey("live_streams", dict)
"""Streamed background responses being produced by this process, by response id (their `LiveStream`)."""
MEMBER = web.AppKey("member", Member)
"""This instance's part in a deployment sharing one PostgreSQL; absent with any other store."""


@dataclass(slots=True)
class Shutdown:
    deadline: float | None = None
    """`time.monotonic()` by which work still running must end; set when shutdown begins."""


SHUTDOWN = web.AppKey("shutdown", Shutdown)
IGNORED_SEEN = web.AppKey("ignored_params_seen", set)
"""Names of ignored request fields this process has logged, so each is logged once."""


@dataclass(slots=True)
class AccessRecord:
    """What the access log line says about one request; handlers fill it in as they learn it."""

    request_id: str
    started: float
    """`time.perf_counter()` when the request arrived."""
    model: str | None = None
    provider: str | None = None
    stream: bool = False
    fallback_from: str | None = None
    """The provider that failed first when a fallback model answered."""
    input_tokens: int | None = None
    output_tokens: int | None = None
    first_byte: float | None = None
    """`time.perf_counter()` when the first byte of a streamed answer left, for time to first token."""
    ignored_params: tuple[str, ...] = ()
    """What the client sent that the provider, speaking another format, did not receive."""


ACCESS = web.RequestKey("access", AccessRecord)


def resolve_route(request: web.Request, model: object) -> Route:
    """Resolve the requested model and note it, with its provider, for the access log."""
    trace = request.get(TRACE)
    if trace is None:
        route = request.app[MODELS].resolve(model)
    else:
        with trace.child("route", {"plano.requested_model": str(model)}):
            route = request.app[MODELS].resolve(model)
        trace.note_route(route.requested, route.provider)
    record: AccessRecord = request[ACCESS]
    record.model, record.provider = route.requested, route.provider.qualified_name
    return route


def owner_of(request: web.Request) -> str | None:
    """The owner of objects this request stores or reads: its gateway key's identity, None without gateway keys."""
    owner: str | None = request.get(OWNER)
    return owner


OWNER = web.RequestKey("owner", str)
