"""What relaying one answer needs of the gateway, without the `web.Request`.

A handler builds one `Exchange` per request (`Exchange.of`) and hands it to the stream pump, the fallbacks and any
background work: the upstream connections, the metrics, the access record the request's log line is written from, the
caller's own key (for ``passthrough_auth`` providers) and the set of tasks that outlive their request. Nothing below
the handler touches the request, which ends with it; background work gets an exchange of its own
(`Exchange.for_background`), so it never writes into an access record that has already been logged.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from plano_proxy.proxy.app_keys import ACCESS, BACKGROUND_TASKS, IGNORED_SEEN, UPSTREAM_POOL, AccessRecord
from plano_proxy.proxy.auth import presented_key
from plano_proxy.proxy.ignored_params import count_ignored, plain_names
from plano_proxy.proxy.metrics import METRICS, Metrics
from plano_proxy.proxy.tracing import TRACE, RequestTrace
from plano_proxy.proxy.upstream.http1 import UpstreamPool
from plano_proxy.transformers.canonical import Usage


@dataclass(frozen=True, slots=True)
class Exchange:
    upstream_pool: UpstreamPool
    metrics: Metrics
    record: AccessRecord
    endpoint: str
    """The request's path, for metric labels."""
    caller_key: str | None
    tasks: set[asyncio.Task[None]]
    ignored_seen: set[str]
    trace: RequestTrace | None = None
    """The request's spans, when tracing is on."""

    @classmethod
    def of(cls, request: web.Request) -> Exchange:
        app = request.app
        return cls(
            upstream_pool=app[UPSTREAM_POOL],
            metrics=app[METRICS],
            record=request[ACCESS],
            endpoint=request.path,
            caller_key=presented_key(request),
            tasks=app[BACKGROUND_TASKS],
            ignored_seen=app[IGNORED_SEEN],
            trace=request.get(TRACE),
        )

    def for_background(self) -> Exchange:
        """The same exchange with an access record of its own, for work that goes on after the request is logged."""
        record = dataclasses.replace(self.record, started=time.perf_counter(), first_byte=None)
        return dataclasses.replace(self, record=record)

    # -- what the access line and the metrics learn while an answer is relayed ------------------------------------

    def note_usage(self, usage: Usage) -> None:
        record = self.record
        record.input_tokens, record.output_tokens = usage.input_tokens, usage.output_tokens
        metrics, tokens = self.metrics, self.metrics.tokens
        metrics.labelled(tokens, "in", record.model or "", record.provider or "").inc(usage.input_tokens)
        metrics.labelled(tokens, "out", record.model or "", record.provider or "").inc(usage.output_tokens)
        if self.trace is not None:
            self.trace.note_usage(usage)

    def note_first_byte(self) -> None:
        """Record time to first token the first time a streamed answer writes."""
        record = self.record
        if record.first_byte is not None:
            return
        record.first_byte = time.perf_counter()
        if self.trace is not None:
            self.trace.first_token()
        metrics = self.metrics
        ttft = metrics.labelled(metrics.time_to_first_token, self.endpoint, record.provider or "")
        ttft.observe(record.first_byte - record.started)

    def note_upstream_error(self, status: int) -> None:
        self.metrics.upstream_errors.labels(self.record.provider or "", str(status)).inc()

    def note_ignored(self, names: tuple[str, ...]) -> None:
        """Name what a translated provider did not receive (see `ignored_params`)."""
        if names:
            self.record.ignored_params = plain_names(names)
            count_ignored(self.metrics, self.ignored_seen, self.endpoint, self.record)

    @contextmanager
    def open_stream(self) -> Iterator[None]:
        gauge = self.metrics.open_streams
        gauge.inc()
        try:
            yield
        finally:
            gauge.dec()

    def keep_running(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run `work` in a task of its own that shutdown waits for, even if the caller is being cancelled."""
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task
