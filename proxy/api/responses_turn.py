"""One Responses turn as an object: what it continues, how it is sent, how each attempt is kept.

`ResponsesTurn` owns the canonical request as the client sent it, the same request with its stored history, the
echoed parameters and the response id, and makes what each attempt on a route needs: the upstream call and an
`Attempt`. An attempt owns its encoder (and the stamped events of its stream, when it streams) and is the keeper the
stream pump calls: `commit` before the terminal event, `abort` when the client leaves. Foreground, streamed and
background turns all go through it; nothing below calls back into the handler.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from plano_proxy.proxy.api.state import TurnState
from plano_proxy.proxy.upstream.calls import UpstreamCall, call_as_sent
from plano_proxy.proxy.upstream.context_window import as_sent_to
from plano_proxy.proxy.upstream.routing import Route
from plano_proxy.proxy.web_json import unix_time
from plano_proxy.transformers.canonical import CanonicalRequest
from plano_proxy.transformers.framers import ResponsesFramer
from plano_proxy.transformers.ids import IdFactory
from plano_proxy.transformers.responses_encoder import ResponsesEncoder


@dataclass(frozen=True, slots=True)
class ResponsesTurn:
    state: TurnState
    request: CanonicalRequest
    """As the client sent it: the encoder echoes its tools and maps namespaced calls back with it."""
    full: CanonicalRequest
    """With the stored history before the new input: what providers are sent."""
    echo: dict[str, Any]
    ids: IdFactory
    """Yields the one response id every attempt shares, then fresh item ids."""
    truncation: Any = None

    def call_for(self, route: Route) -> UpstreamCall:
        return call_as_sent(as_sent_to(self.full, route.provider, self.truncation), route.provider)

    def attempt(self, route: Route, framer: ResponsesFramer | None = None) -> Attempt:
        """A fresh attempt on `route`; `framer` records the stream's events for replay, when it streams."""
        encoder = ResponsesEncoder(request=self.request, echo=self.echo, ids=self.ids, clock=unix_time)
        return Attempt(self.state, route, encoder, framer)


@dataclass(slots=True)
class Attempt:
    """One try of a turn on one route, and the keeper of its answer."""

    state: TurnState
    route: Route
    encoder: ResponsesEncoder
    framer: ResponsesFramer | None = None
    keep_partial: bool = True
    """Whether an answer the client left in the middle is stored (as ``incomplete``)."""
    committed: bool = False

    async def commit(self) -> None:
        events = self.framer.sent if self.framer is not None else None
        await self.state.commit(self.route, self.encoder.response(), self.encoder.output_items(), events)
        self.committed = True

    async def abort(self) -> None:
        if self.keep_partial:
            self.encoder.interrupt("client_disconnected")
            await self.commit()
