"""A plain HTTP client for tests that need raw status codes, headers and bodies (stdlib only)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None, raw: bytes | None = None
) -> RawResponse:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    req = urllib.request.Request(url, data=data, headers=all_headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return RawResponse(response.status, {k.lower(): v for k, v in response.headers.items()}, response.read())
    except urllib.error.HTTPError as error:
        return RawResponse(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())


def post(url: str, body: Any = None, headers: dict[str, str] | None = None, raw: bytes | None = None) -> RawResponse:
    return request("POST", url, body, headers, raw)


def get(url: str, headers: dict[str, str] | None = None) -> RawResponse:
    return request("GET", url, None, headers)
