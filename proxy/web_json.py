"""Reading JSON request bodies and writing JSON answers, with errors that name the problem."""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiohttp import web

from plano_proxy.proxy.errors import InvalidRequest, PayloadTooLarge


async def read_json_object(request: web.Request) -> dict[str, Any]:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise PayloadTooLarge(
            f"The request body is larger than the configured limit of {request.app._client_max_size} bytes."
        ) from exc
    if not raw:
        raise InvalidRequest("The request body is empty; a JSON object is expected.")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"We could not parse the JSON body of your request: {exc}.") from exc
    if not isinstance(body, dict):
        raise InvalidRequest(f"The request body must be a JSON object, not {_json_kind(body)}.")
    return body


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json", headers=headers)


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return "a number" if isinstance(value, int | float) and not isinstance(value, bool) else "a boolean"


def unix_time() -> int:
    return int(time.time())
