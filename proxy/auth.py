"""Gateway keys: who is calling, checked in constant time against stored SHA-256 digests.

The caller's key name becomes the owner of what it stores, so one key never sees another's responses or
conversations. Health and metrics endpoints stay open for probes and scrapers, and so do the static home page
(clients such as Claude Code probe ``HEAD /`` before they send anything) and the playground's files.
"""

from __future__ import annotations

import hashlib
import hmac

from aiohttp import web

from plano_proxy.proxy.app_keys import CONFIG, OWNER
from plano_proxy.proxy.errors import Unauthorized

OPEN_PATHS = frozenset({"/", "/healthz", "/readyz", "/metrics"})
PAGE_FILES = "/playground/"
"""The playground's files, ``/playground/<file>``, are open like ``/``; its reads below ``/playground/api/`` are not."""


def presented_key(request: web.Request) -> str | None:
    authorization = request.headers.get("Authorization", "")
    if authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return request.headers.get("x-api-key")


def authenticate(request: web.Request) -> None:
    """Set the request's owner from its key, or raise `Unauthorized`; a no-op when no gateway keys are configured."""
    keys = request.app[CONFIG].gateway_keys
    if not keys or _is_open(request.path) or request.method == "OPTIONS":
        return
    presented = presented_key(request)
    if not presented:
        raise Unauthorized("You didn't provide an API key. Send it as 'Authorization: Bearer <key>' or 'x-api-key'.")
    digest = hashlib.sha256(presented.encode()).digest()
    owner = None
    for key in keys:  # compare with every key, so the time taken says nothing about which one matched
        if hmac.compare_digest(digest, key.sha256):
            owner = key.name
    if owner is None:
        raise Unauthorized("Incorrect API key provided.")
    request[OWNER] = owner


def _is_open(path: str) -> bool:
    return path in OPEN_PATHS or (path.startswith(PAGE_FILES) and "/" not in path[len(PAGE_FILES) :])
