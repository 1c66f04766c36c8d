"""Fallback models: when a model's provider fails before its answer starts (after its own retries), the next
configured model is tried. The switch is logged and named in the ``x-plano-fallback-from`` answer header."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog

from plano_proxy.proxy.errors import UpstreamError
from plano_proxy.proxy.exchange import Exchange
from plano_proxy.proxy.upstream.caller_keys import with_caller_key
from plano_proxy.proxy.upstream.routing import Route

T = TypeVar("T")
log = structlog.get_logger("plano_proxy.fallback")


async def with_fallbacks(exchange: Exchange, route: Route, attempt: Callable[[Route], Awaitable[T]]) -> T:
    """`attempt` on the route, then on each fallback in turn while the provider fails before answering."""
    *earlier, last = route.candidates()
    for candidate, following in zip(earlier, route.candidates()[1:], strict=True):
        try:
            return await attempt(with_caller_key(exchange.caller_key, candidate, route))
        except UpstreamError as error:
            log.warning(
                "fallback",
                model=route.requested,
                failed=candidate.provider.qualified_name,
                status=error.status,
                next=following.provider.qualified_name,
            )
            record = exchange.record
            record.fallback_from = record.fallback_from or candidate.provider.qualified_name
            record.provider = following.provider.qualified_name
    return await attempt(with_caller_key(exchange.caller_key, last, route))
