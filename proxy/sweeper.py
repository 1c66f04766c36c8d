"""The retention sweeper: a task of the gateway that applies ``state_storage.retention`` at start and then every
``interval``, and refreshes the store's size and row gauges each time (every 10 minutes without retention).

Several workers or instances may sweep one database at once: a prune is one transaction and removes only what is
idle past the cutoff, so a second sweep finds nothing left to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from plano_proxy.proxy.app_keys import CONFIG, STORE
from plano_proxy.proxy.config import Retention
from plano_proxy.proxy.metrics import METRICS, Metrics
from plano_proxy.storage import StorageUnavailable, Store
from plano_proxy.storage.retention import PruneResult, StoreStats

log = structlog.get_logger("plano_proxy.retention")

STATS_INTERVAL = 600.0
"""Seconds between two readings of the store's size when no retention is configured."""


async def apply_retention(store: Store, retention: Retention, now: float | None = None) -> PruneResult:
    """One prune by the policy: what is idle for longer than ``max_age``, then the oldest while over ``max_size``."""
    clock = time.time() if now is None else now
    return await store.prune(idle_before=int(clock - retention.max_age), max_bytes=retention.max_size)


async def state_sweeper(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: runs after the state store is open, stops before it closes."""
    settings = app[CONFIG].state_storage
    store = app.get(STORE)
    if settings is None or store is None:
        yield
        return
    task = asyncio.create_task(_sweep_forever(store, settings.retention, app[METRICS]))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _sweep_forever(store: Store, retention: Retention | None, metrics: Metrics) -> None:
    interval = retention.interval if retention is not None else STATS_INTERVAL
    while True:
        try:
            await sweep(store, retention, metrics)
        except StorageUnavailable as exc:
            log.warning("retention_sweep_failed", error=str(exc), retry_in=interval)
        await asyncio.sleep(interval)


async def sweep(store: Store, retention: Retention | None, metrics: Metrics) -> StoreStats:
    """Prune by the policy (if any), then export what the store holds."""
    if retention is not None:
        pruned = await apply_retention(store, retention)
        if pruned.responses or pruned.conversations:
            metrics.state_pruned.labels("response").inc(pruned.responses)
            metrics.state_pruned.labels("conversation").inc(pruned.conversations)
            log.info("state_pruned", responses=pruned.responses, conversations=pruned.conversations)
    stats = await store.stats()
    for table in ("responses", "items", "conversations", "conversation_items"):
        metrics.state_rows.labels(table).set(getattr(stats, table))
    metrics.state_bytes.set(stats.bytes)
    return stats
