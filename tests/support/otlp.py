"""A real OTLP/HTTP trace receiver for tests: an aiohttp server decoding the protobuf payloads the gateway exports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

SPANS = web.AppKey("spans", list)
_KINDS = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}


@dataclass(slots=True)
class ReceivedSpan:
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    kind: str
    attributes: dict[str, Any]
    events: list[str]
    links: list[tuple[str, str]]
    resource: dict[str, Any]
    start: int
    end: int
    children: list[ReceivedSpan] = field(default_factory=list)


def _value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which == "array_value":
        return tuple(_value(item) for item in value.array_value.values)
    return getattr(value, which) if which else None


def _attributes(items: Any) -> dict[str, Any]:
    return {item.key: _value(item.value) for item in items}


async def _traces(request: web.Request) -> web.Response:
    payload = ExportTraceServiceRequest()
    payload.ParseFromString(await request.read())
    for resource_spans in payload.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope in resource_spans.scope_spans:
            for span in scope.spans:
                request.app[SPANS].append(
                    ReceivedSpan(
                        name=span.name,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_id=span.parent_span_id.hex(),
                        kind=_KINDS.get(span.kind, str(span.kind)),
                        attributes=_attributes(span.attributes),
                        events=[event.name for event in span.events],
                        links=[(link.trace_id.hex(), link.span_id.hex()) for link in span.links],
                        resource=resource,
                        start=span.start_time_unix_nano,
                        end=span.end_time_unix_nano,
                    )
                )
    return web.Response(body=ExportTraceServiceResponse().SerializeToString(), content_type="application/x-protobuf")


def create_receiver() -> web.Application:
    app = web.Application()
    app[SPANS] = []
    app.router.add_post("/v1/traces", _traces)
    return app


def trace_tree(spans: list[ReceivedSpan], trace_id: str) -> list[ReceivedSpan]:
    """The roots of one trace, each span's children in start order."""
    mine = sorted((span for span in spans if span.trace_id == trace_id), key=lambda span: span.start)
    by_id = {span.span_id: span for span in mine}
    for span in mine:
        span.children = [child for child in mine if child.parent_id == span.span_id]
    return [span for span in mine if span.parent_id not in by_id]


def render(roots: list[ReceivedSpan], keys: tuple[str, ...] = ()) -> str:
    """The tree as text, one span a line with its kind, duration, events and the chosen attributes."""
    lines: list[str] = []

    def walk(span: ReceivedSpan, prefix: str, last: bool, top: bool) -> None:
        shown = {key: span.attributes[key] for key in keys if key in span.attributes}
        events = f" events={span.events}" if span.events else ""
        ms = (span.end - span.start) / 1e6
        branch = "" if top else ("└── " if last else "├── ")
        lines.append(f"{prefix}{branch}{span.name} [{span.kind}, {ms:.2f} ms]{events} {shown if shown else ''}")
        inner = prefix if top else prefix + ("    " if last else "│   ")
        for index, child in enumerate(span.children):
            walk(child, inner, index == len(span.children) - 1, False)

    for root in roots:
        walk(root, "", True, True)
    return "\n".join(lines)
