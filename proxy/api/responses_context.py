"""The conversation a Responses-shaped request stands for, read without answering it: its route, and its stored
history (``previous_response_id`` or ``conversation``) followed by its new input, as one canonical request.

Shared by ``POST /v1/responses/input_tokens`` and ``POST /v1/responses/compact``, which read a conversation the way
``POST /v1/responses`` would (the same parsing and state code) but store nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from plano_proxy.proxy.api.state import begin_turn
from plano_proxy.proxy.app_keys import resolve_route
from plano_proxy.proxy.errors import InvalidRequest, ModelNotFound
from plano_proxy.proxy.upstream.routing import Route
from plano_proxy.transformers.canonical import CanonicalRequest
from plano_proxy.transformers.responses_request import responses_request_to_canonical


@dataclasses.dataclass(frozen=True, slots=True)
class ResponsesContext:
    route: Route
    request: CanonicalRequest
    """The whole conversation: stored history, then the new input (item references resolved)."""


async def read_context(
    request: web.Request, body: dict[str, Any], fields: Iterable[str], *, model_required: bool
) -> ResponsesContext:
    """Read `fields` of `body` as ``POST /v1/responses`` would (any other field is ignored, as the endpoint's own
    parameters are the only ones it acts on); without a model the default one is used unless `model_required`."""
    read = {key: body[key] for key in fields if key in body}
    if model_required and not read.get("model"):
        raise InvalidRequest("Missing required parameter: 'model'.", param="model", code="missing_required_parameter")
    try:
        route = resolve_route(request, read.get("model"))
    except ModelNotFound as exc:
        raise InvalidRequest(exc.message, param="model", code="model_not_found") from exc
    canonical = responses_request_to_canonical(read)
    turn = await begin_turn(request, {**read, "store": False}, canonical)
    return ResponsesContext(route, turn.continued(canonical))
