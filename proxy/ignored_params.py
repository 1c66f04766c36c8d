"""Saying what a translated provider did not receive: a response header, a counter and one log line per new name.

The names come from `transformers.foreign.ignored_names`: top-level fields no converter reads, and tools with no
equivalent on the provider. Names are the client's own strings, so only plain ones reach a header or a metric label;
the counter keeps at most `MAX_LABELS` distinct names per process, the rest count as ``other``.
"""

from __future__ import annotations

import re

import structlog

from plano_proxy.proxy.app_keys import AccessRecord
from plano_proxy.proxy.metrics import Metrics

IGNORED_HEADER = "x-plano-ignored-params"
MAX_LABELS = 200
_PLAIN = re.compile(r"[A-Za-z0-9_.:\-\[\]]{1,64}")
log = structlog.get_logger("plano_proxy.translation")


def plain_names(names: tuple[str, ...]) -> tuple[str, ...]:
    """The names fit for a header and a label: a name of other characters or length becomes ``other``."""
    return tuple(name if _PLAIN.fullmatch(name) else "other" for name in names)


def count_ignored(metrics: Metrics, seen: set[str], endpoint: str, record: AccessRecord) -> None:
    """Count the record's ignored names and log the ones this process has not logged before."""
    for name in record.ignored_params:
        if name not in seen and len(seen) < MAX_LABELS:
            seen.add(name)
            log.info("param_ignored", param=name, endpoint=endpoint, provider=record.provider)
        label = name if name in seen else "other"
        metrics.ignored_params.labels(endpoint, record.provider or "", label).inc()
