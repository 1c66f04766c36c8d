"""What the gateway sent upstream for a request, kept for the playground's inspector when the config asks for it
(``playground.keep_upstream_requests``).

The request being served opens a sink (`UpstreamLog.open`), held in a context variable: every `open_upstream` in
that request's task, and in the tasks it starts (a background response, which copies the context when it is
created), notes the call it makes. When nothing was opened, noting costs one context-variable read. Only the
provider, the operation and the body are kept, never headers (they carry provider keys).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from contextvars import ContextVar
from dataclasses import dataclass

from plano_proxy.proxy.config import ProviderConfig


@dataclass(frozen=True, slots=True)
class SentUpstream:
    provider: str
    """The provider's qualified name (``anthropic/claude-sonnet-4-5``)."""
    operation: str
    """What was called (``chat``, ``messages``, ``responses`` …), from which the URL follows."""
    body: bytes
    sent_at: float
    """Unix time, in seconds."""


_SINK: ContextVar[list[SentUpstream] | None] = ContextVar("plano_upstream_sink", default=None)


def note_sent(provider: ProviderConfig, operation: str, body: bytes) -> None:
    """Keep the call in the current request's sink, if it has one."""
    sink = _SINK.get()
    if sink is not None:
        sink.append(SentUpstream(provider.qualified_name, operation, body, time.time()))


class UpstreamLog:
    """The calls of the last `size` requests that opened a sink, by request id, each with its owner."""

    def __init__(self, size: int = 200) -> None:
        self._size = size
        self._kept: OrderedDict[str, tuple[str | None, list[SentUpstream]]] = OrderedDict()

    def open(self, request_id: str, owner: str | None) -> None:
        """Start keeping what the current task (and the tasks it starts) sends upstream under `request_id`."""
        sink: list[SentUpstream] = []
        self._kept[request_id] = (owner, sink)
        self._kept.move_to_end(request_id)
        while len(self._kept) > self._size:
            self._kept.popitem(last=False)
        _SINK.set(sink)

    def sent(self, request_id: str, owner: str | None) -> list[SentUpstream] | None:
        """What was sent for that request, if it is still kept and was the owner's."""
        kept = self._kept.get(request_id)
        if kept is None or kept[0] != owner:
            return None
        return list(kept[1])
