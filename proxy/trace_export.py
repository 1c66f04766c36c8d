"""The spans of a request as it runs, kept as plain records, and their export, done off the event loop.

The OpenTelemetry SDK's live spans cost about 30 µs each on the event loop (a sampler call, a lock, attribute
validation, context attach and detach, and a copy at the end), which is most of what tracing cost a request. A
request's spans are all known to this gateway, so they are recorded here as `SpanRecord`s: a name, two clock readings
and the attributes as given. When a trace's root span ends, its records go, in one put on a queue, to a thread of
the worker's own. There each is made into the SDK's `ReadableSpan` and handed to its `BatchSpanProcessor`, whose
OTLP/HTTP exporter sends them: the wire format and batching are the SDK's, and none of it runs on the event loop.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

_SCOPE = InstrumentationScope("plano_proxy")
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_ERROR = Status(StatusCode.ERROR)
_UNSET = Status(StatusCode.UNSET)
_STOP = object()


def new_span_id() -> int:
    return random.getrandbits(64) or 1


class SpanRecord:
    """One span while it runs: what the SDK's `Span` API offers that the gateway uses, and no more."""

    __slots__ = ("attributes", "end_time", "error", "events", "kind", "links", "name", "parent_id", "span_id", "start")

    def __init__(
        self,
        name: str,
        parent_id: int | None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: dict[str, Any] | None = None,
        links: tuple[SpanContext, ...] = (),
    ) -> None:
        self.name = name
        self.parent_id = parent_id
        self.span_id = new_span_id()
        self.kind = kind
        self.attributes: dict[str, Any] = {} if attributes is None else dict(attributes)
        self.events: list[tuple[str, int]] = []
        self.links = links
        self.error = False
        self.start = time.time_ns()
        self.end_time: int | None = None

    def set_attribute(self, key: str, value: Any) -> None:
        self.attributes[key] = value

    def set_attributes(self, attributes: dict[str, Any]) -> None:
        self.attributes.update(attributes)

    def add_event(self, name: str) -> None:
        self.events.append((name, time.time_ns()))

    def set_error(self) -> None:
        self.error = True

    def end(self) -> None:
        if self.end_time is None:
            self.end_time = time.time_ns()


class TraceRecord:
    """The spans of one trace this worker records: its id, the remote parent it continues, its records."""

    __slots__ = ("parent", "spans", "trace_id", "trace_state")

    def __init__(self, trace_id: int, parent: SpanContext | None) -> None:
        self.trace_id = trace_id
        self.parent = parent
        self.trace_state = parent.trace_state if parent is not None else TraceState()
        self.spans: list[SpanRecord] = []


class SpanExport:
    """The worker's export thread: finished traces in, the SDK's readable spans out to its span processor."""

    def __init__(self, processor: SpanProcessor, resource: Resource) -> None:
        self._processor = processor
        self._resource = resource
        self._queue: queue.SimpleQueue[TraceRecord | object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="plano-trace-export", daemon=True)
        self._thread.start()

    def submit(self, trace: TraceRecord) -> None:
        self._queue.put(trace)

    def shutdown(self) -> None:
        """Export what was submitted, then stop."""
        self._queue.put(_STOP)
        self._thread.join(timeout=30)
        self._processor.shutdown()

    def flush(self) -> None:
        done = threading.Event()
        self._queue.put(done)
        done.wait(timeout=30)
        self._processor.force_flush()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if isinstance(item, threading.Event):
                item.set()
            elif isinstance(item, TraceRecord):
                for span in item.spans:
                    self._processor.on_end(self._readable(item, span))

    def _readable(self, trace: TraceRecord, span: SpanRecord) -> ReadableSpan:
        context = SpanContext(trace.trace_id, span.span_id, False, _SAMPLED, trace.trace_state)
        if span.parent_id is None:
            parent = trace.parent
        else:
            parent = SpanContext(trace.trace_id, span.parent_id, False, _SAMPLED, trace.trace_state)
        return ReadableSpan(
            span.name,
            context=context,
            parent=parent,
            resource=self._resource,
            attributes=BoundedAttributes(attributes=span.attributes),  # checked here, off the loop
            events=[Event(name, timestamp=at) for name, at in span.events],
            links=[Link(linked) for linked in span.links],
            kind=span.kind,
            status=_ERROR if span.error else _UNSET,
            start_time=span.start,
            end_time=span.end_time if span.end_time is not None else time.time_ns(),
            instrumentation_scope=_SCOPE,
        )
