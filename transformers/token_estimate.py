"""The gateway's own token estimate, for where no provider counts: about four characters of JSON text per token.

One rule everywhere (``/v1/messages/count_tokens``, ``/v1/responses/input_tokens``, ``truncation: "auto"``), so a
count the gateway reports and a truncation it performs never disagree about the size of the same input.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from plano_proxy.transformers.canonical import CanonicalRequest

CHARS_PER_TOKEN = 4


def json_chars(value: Any) -> int:
    """Characters of `value` as compact JSON (canonical tool dataclasses included)."""
    return len(orjson.dumps(value))


def tokens_for_chars(chars: int) -> int:
    return max(1, math.ceil(chars / CHARS_PER_TOKEN))


def estimate_json_tokens(value: Any) -> int:
    return tokens_for_chars(json_chars(value))


def estimate_request_tokens(request: CanonicalRequest) -> int:
    """What the model reads of a canonical request: its instructions, items and tools."""
    return estimate_json_tokens(request_reading(request))


def request_reading(request: CanonicalRequest) -> dict[str, Any]:
    """The parts of a canonical request the estimate counts, as one JSON-ready value."""
    return {"instructions": request.instructions, "input": request.items, "tools": request.tools}
