"""Query parameters and body of OpenAI's cursor-paged list objects."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from plano_proxy.proxy.errors import InvalidRequest
from plano_proxy.storage import ItemPage

MAX_LIMIT = 100


def page_params(request: web.Request) -> dict[str, Any]:
    """``after``, ``before``, ``limit`` (1–100, default 20) and ``order`` (asc|desc, default desc), validated."""
    query = request.query
    raw_limit = query.get("limit", "20")
    try:
        limit = int(raw_limit)
    except ValueError:
        raise InvalidRequest(f"Invalid 'limit': expected an integer, but got {raw_limit!r}.", param="limit") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(
            f"Invalid 'limit': expected a value between 1 and {MAX_LIMIT}, but got {limit} instead.", param="limit"
        )
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise InvalidRequest(f"Invalid value: '{order}'. Supported values are: 'asc' and 'desc'.", param="order")
    return {"after": query.get("after"), "before": query.get("before"), "limit": limit, "order": order}


def list_object(page: ItemPage) -> dict[str, Any]:
    return {
        "object": "list",
        "data": page.items,
        "first_id": page.first_id,
        "last_id": page.last_id,
        "has_more": page.has_more,
    }
