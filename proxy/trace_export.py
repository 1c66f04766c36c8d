"""The spans of a request as it runs, kept as plain records, and their export, done outside the worker.

The OpenTelemetry SDK's live spans cost about 30 µs each on the event loop (a sampler call, a lock, attribute
validation, context attach and detach, and a copy at the end), which was most of what tracing cost a request. A
request's spans are all known to this gateway, so they are recorded here as `SpanRecord`s: a name, two clock readings
and the attributes as given. When a trace's root span ends, its records go, in one put on a queue, to `SpanExport`,
which hands them to the export process; there they become the SDK's spans, exported by its OTLP exporter.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
import time
from typing import Any

import orjson
import structlog
from opentelemetry.trace import SpanContext, SpanKind, TraceState

log = structlog.get_logger("plano_proxy.tracing")


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
    """The worker's side of the export: finished traces are sent, a line of JSON each, to a process of its own
    (`plano_proxy.proxy.trace_export_process`), which makes them the SDK's spans and exports them with the SDK's
    batching and OTLP/HTTP exporter. Their protobuf encoding and the HTTP calls cost about 30 µs a span: in the
    worker, even in a thread, that time would be taken from the event loop (one GIL, and a hand-over at every wake).

    A request's share is one append: every `SEND_INTERVAL` the traces gathered are written to the process's pipe in
    one write, which never blocks the loop (asyncio buffers what the pipe cannot take yet, up to `MAX_BUFFERED`
    bytes; past that, traces are dropped and said so). The process reads its settings from its first line, so the
    collector's headers never show in a process list, and exports what it has when its input ends, be it a clean
    stop or the death of the worker.
    """

    SEND_INTERVAL = 0.1
    MAX_BUFFERED = 16 * 1024 * 1024

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        self.loop = asyncio.get_running_loop()
        self._pending: list[TraceRecord] = []
        self._sending: asyncio.TimerHandle | None = None
        self._dropped = 0

    @classmethod
    async def start(cls, settings: dict[str, Any]) -> SpanExport:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "plano_proxy.proxy.trace_export_process",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        export = cls(process)
        export._write(orjson.dumps(settings) + b"\n")
        return export

    def submit(self, trace: TraceRecord) -> None:
        self._pending.append(trace)
        if self._sending is None:
            self._sending = self.loop.call_later(self.SEND_INTERVAL, self._send)

    def _send(self) -> None:
        self._sending = None
        pending, self._pending = self._pending, []
        if pending:
            self._write(b"".join(orjson.dumps(encode(trace)) + b"\n" for trace in pending), len(pending))

    def _write(self, data: bytes, traces: int = 0) -> None:
        pipe = self._process.stdin
        assert pipe is not None
        if pipe.is_closing():
            return
        if pipe.transport.get_write_buffer_size() > self.MAX_BUFFERED:
            self._dropped += traces
            log.warning("traces_dropped", traces=traces, dropped=self._dropped, reason="the export process lags")
            return
        pipe.write(data)

    async def flush(self) -> None:
        """Return once everything submitted so far has been exported."""
        self._send()
        pipe, answers = self._process.stdin, self._process.stdout
        assert pipe is not None and answers is not None
        if pipe.is_closing():
            return
        pipe.write(b'{"flush":true}\n')
        await pipe.drain()
        await answers.readline()

    async def shutdown(self, timeout: float = 10.0) -> None:
        """Export what was submitted, then let the process end: it has `timeout` seconds (its exporter's own
        deadline) to send what it holds, so a collector that does not answer cannot hold the worker's stop up."""
        if self._sending is not None:
            self._sending.cancel()
        self._send()
        pipe = self._process.stdin
        assert pipe is not None
        with contextlib.suppress(ConnectionError):
            await pipe.drain()
        pipe.close()
        try:
            await asyncio.wait_for(self._process.wait(), timeout)
        except TimeoutError:
            log.warning("traces_dropped", reason=f"the collector did not take them within {timeout:g}s of the stop")
            self._process.kill()


def encode(trace: TraceRecord) -> dict[str, Any]:
    """A trace as its line to the export process (ids in hex: JSON numbers stop at 64 bits)."""
    parent = trace.parent
    return {
        "trace_id": f"{trace.trace_id:032x}",
        "trace_state": trace.trace_state.to_header(),
        "parent": None if parent is None else f"{parent.span_id:016x}",
        "spans": [
            [
                span.name,
                f"{span.span_id:016x}",
                None if span.parent_id is None else f"{span.parent_id:016x}",
                span.kind.value,
                span.start,
                span.end_time,
                {key: value for key, value in span.attributes.items() if value is not None},
                span.events,
                [[f"{link.trace_id:032x}", f"{link.span_id:016x}"] for link in span.links],
                span.error,
            ]
            for span in trace.spans
        ],
    }
