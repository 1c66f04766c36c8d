"""The export process of one gateway worker: traces in on standard input, OTLP/HTTP out, through the SDK.

Its first input line is the settings (`SpanExport` writes it): the collector's endpoint and headers and the resource's
attributes. Every further line is one trace (`plano_proxy.proxy.trace_export.encode`), made into the SDK's
`ReadableSpan`s and handed to its `BatchSpanProcessor` with the OTLP/HTTP exporter; ``{"flush": true}`` exports what
is buffered and answers ``ok`` on standard output. At the end of its input (the worker stopped, or died) it exports
what it still has and exits. SIGINT and SIGTERM are ignored: they are the gateway's to act on.

    python -m plano_proxy.proxy.trace_export_process
"""

from __future__ import annotations

import signal
import sys
from typing import Any

import orjson
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

_SCOPE = InstrumentationScope("plano_proxy")
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_ERROR = Status(StatusCode.ERROR)
_UNSET = Status(StatusCode.UNSET)


def readable_spans(trace: dict[str, Any], resource: Resource) -> list[ReadableSpan]:
    trace_id = int(trace["trace_id"], 16)
    state = TraceState.from_header([trace["trace_state"]]) if trace["trace_state"] else TraceState()

    def context(span_id: str, remote: bool = False) -> SpanContext:
        return SpanContext(trace_id, int(span_id, 16), remote, _SAMPLED, state)

    remote_parent = context(trace["parent"], remote=True) if trace["parent"] else None
    spans = []
    for name, span_id, parent_id, kind, start, end, attributes, events, links, error in trace["spans"]:
        spans.append(
            ReadableSpan(
                name,
                context=context(span_id),
                parent=context(parent_id) if parent_id else remote_parent,
                resource=resource,
                attributes={
                    key: tuple(value) if isinstance(value, list) else value for key, value in attributes.items()
                },
                events=[Event(event, timestamp=at) for event, at in events],
                links=[Link(SpanContext(int(linked, 16), int(span, 16), False, _SAMPLED)) for linked, span in links],
                kind=SpanKind(kind),
                status=_ERROR if error else _UNSET,
                start_time=start,
                end_time=end if end is not None else start,
                instrumentation_scope=_SCOPE,
            )
        )
    return spans


def _value(value: Any) -> Any:
    """JSON has no tuples: a list was a tuple (finish reasons), as the SDK takes sequences."""
    return tuple(value) if isinstance(value, list) else value


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    source = sys.stdin.buffer
    settings = orjson.loads(source.readline() or b"null")
    if settings is None:
        return 0
    resource = Resource.create(settings["resource"])
    exporter = OTLPSpanExporter(endpoint=settings["endpoint"], headers=settings["headers"])
    processor: SpanProcessor = BatchSpanProcessor(exporter)
    for line in source:
        message = orjson.loads(line)
        if "flush" in message:
            processor.force_flush()
            sys.stdout.write("ok\n")
            sys.stdout.flush()
            continue
        for span in readable_spans(message, resource):
            processor.on_end(span)
    processor.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
