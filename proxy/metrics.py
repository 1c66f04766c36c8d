"""Prometheus metrics and ``GET /metrics``.

Each application owns its own `CollectorRegistry`, so several apps in one process (tests) never share counters.
With several worker processes (``serve --workers N``) the CLI gives prometheus-client a shared directory
(``PROMETHEUS_MULTIPROC_DIR``) before the workers start, and a scrape of any worker aggregates them all.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from plano_proxy.proxy.app_keys import ACCESS, WRITER

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
_Labelled = TypeVar("_Labelled", Counter, Histogram)
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


@dataclass(frozen=True, slots=True)
class Metrics:
    registry: CollectorRegistry
    multiprocess: bool
    requests: Counter
    latency: Histogram
    time_to_first_token: Histogram
    tokens: Counter
    upstream_errors: Counter
    open_streams: Gauge
    writer_queue: Gauge
    commit_latency: Histogram
    ignored_params: Counter
    internal_errors: Counter
    state_rows: Gauge
    state_bytes: Gauge
    state_pruned: Counter
    instance_events: Counter
    _children: dict[tuple[object, tuple[str, ...]], Any] = field(default_factory=dict)

    def labelled(self, metric: _Labelled, *values: str) -> _Labelled:
        """``metric.labels(*values)``, kept: every request labels the same few series, and prometheus-client checks
        and locks on each call."""
        child = self._children.get((metric, values))
        if child is None:
            child = self._children[metric, values] = metric.labels(*values)
        return child


def create_metrics(multiprocess: bool) -> Metrics:
    registry = CollectorRegistry()
    # In multiprocess mode values live in files; the registry only serves scrapes, metrics register nowhere.
    target = None if multiprocess else registry
    return Metrics(
        registry=registry,
        multiprocess=multiprocess,
        requests=Counter(
            "plano_requests",
            "Requests answered, by endpoint, model, provider and HTTP status.",
            ("endpoint", "model", "provider", "status"),
            registry=target,
        ),
        latency=Histogram(
            "plano_request_duration_seconds",
            "Time from request to the end of the answer.",
            ("endpoint", "stream"),
            buckets=_LATENCY_BUCKETS,
            registry=target,
        ),
        time_to_first_token=Histogram(
            "plano_time_to_first_token_seconds",
            "Time from request to the first byte of a streamed answer.",
            ("endpoint", "provider"),
            buckets=_LATENCY_BUCKETS,
            registry=target,
        ),
        tokens=Counter(
            "plano_tokens", "Tokens reported by providers.", ("direction", "model", "provider"), registry=target
        ),
        upstream_errors=Counter(
            "plano_upstream_errors",
            "Provider failures, by provider and status.",
            ("provider", "status"),
            registry=target,
        ),
        open_streams=Gauge(
            "plano_open_streams", "Streams being relayed now.", registry=target, multiprocess_mode="livesum"
        ),
        writer_queue=Gauge(
            "plano_writer_queue_depth",
            "Turns waiting for the state writer.",
            registry=target,
            multiprocess_mode="livesum",
        ),
        commit_latency=Histogram(
            "plano_state_commit_seconds",
            "Time a turn waits until the state store has committed it.",
            buckets=_LATENCY_BUCKETS,
            registry=target,
        ),
        internal_errors=Counter(
            "plano_internal_errors",
            "Requests that failed inside the gateway (a bug, answered with a 500 and logged), by endpoint.",
            ("endpoint",),
            registry=target,
        ),
        ignored_params=Counter(
            "plano_ignored_params",
            "Request fields and tools a translated provider did not receive, by endpoint, provider and name.",
            ("endpoint", "provider", "param"),
            registry=target,
        ),
        state_rows=Gauge(
            "plano_state_rows",
            "Rows in the state store, by table, as of the last retention sweep.",
            ("table",),
            registry=target,
            multiprocess_mode="max",
        ),
        state_bytes=Gauge(
            "plano_state_bytes",
            "Bytes of JSON in the state store (what state_storage.retention.max_size limits), as of the last sweep.",
            registry=target,
            multiprocess_mode="max",
        ),
        state_pruned=Counter(
            "plano_state_pruned",
            "Responses and conversations removed by retention, by kind.",
            ("kind",),
            registry=target,
        ),
        instance_events=Counter(
            "plano_instance_events",
            "What instances sharing PostgreSQL did for one another: responses taken over from an instance that died "
            "(taken_over) and responses stopped here for a cancel received by another instance (cancelled_elsewhere).",
            ("event",),
            registry=target,
        ),
    )


METRICS = web.AppKey("metrics", Metrics)


async def metrics_endpoint(request: web.Request) -> web.Response:
    metrics = request.app[METRICS]
    writer = request.app.get(WRITER)
    if writer is not None:
        metrics.writer_queue.set(writer.queued)
    registry = metrics.registry
    if metrics.multiprocess:
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # prometheus-client leaves it unannotated
    return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


def observe_request(request: web.Request, status: int) -> None:
    metrics = request.app[METRICS]
    record = request[ACCESS]
    endpoint = route_template(request)
    metrics.labelled(metrics.requests, endpoint, record.model or "", record.provider or "", str(status)).inc()
    latency = metrics.labelled(metrics.latency, endpoint, "true" if record.stream else "false")
    latency.observe(time.perf_counter() - record.started)


def route_template(request: web.Request) -> str:
    """The route's pattern (``/v1/responses/{response_id}``), so ids never become label values."""
    route = request.match_info.route
    resource = route.resource
    return resource.canonical if resource is not None else "unmatched"
