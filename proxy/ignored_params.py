"""Saying what a translated provider did not receive: a response header, a counter and one log line per new name.

The names come from `transformers.foreign.ignored_names`: top-level fields no converter reads, and tools with no
equivalent on the provider. Names are the client's own strings, so only plain ones reach a header or a metric label;
the counter keeps at most `MAX_LABELS` distinct names per process, the rest count as ``other``.
"""

from __future__ import annotations

import re

import structlog
from aiohttp import web

from plano_proxy.proxy.app_keys import ACCESS, IGNORED_SEEN
from plano_proxy.proxy.metrics import METRICS

IGNORED_HEADER = "x-plano-ignored-params"
MAX_LABELS = 200
_PLAIN = re.compile(r"[A-Za-z0-9_.:\-\[\]]{1,64}")
log = structlog.get_logger("plano_proxy.translation")


def note_ignored(request: web.Request, names: tuple[str, ...]) -> None:
    """Record `names` for the response header, count them and log the ones this process has not logged before."""
    if not names:
        return
    plain = tuple(name if _PLAIN.fullmatch(name) else "other" for name in names)
    record = request[ACCESS]
    record.ignored_params = plain
    seen: set[str] = request.app[IGNORED_SEEN]
    counter = request.app[METRICS].ignored_params
    for name in plain:
        new = name not in seen and len(seen) < MAX_LABELS
        if new:
            seen.add(name)
            log.info("param_ignored", param=name, endpoint=request.path, provider=record.provider)
        counter.labels(request.path, record.provider or "", name if name in seen else "other").inc()
