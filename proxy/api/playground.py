"""The playground at ``/``: a static page (HTML, CSS and JavaScript modules) served from package data.

Nothing is built and nothing is fetched from elsewhere, so it works offline. The page talks to the gateway's public
API with the caller's key, and reads what the public API cannot list through `playground_state`
(``/playground/api/…``). The files are read once when the app is created; ``/playground/<file>`` serves only those
files, and, like ``/``, without a key (they hold no state). Every answer of the page carries a content security
policy that allows scripts, styles and connections to this origin only, and no inline script or style.

``playground.enabled: false`` leaves ``/`` to the small page naming the endpoints (`home`).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from aiohttp import web

from plano_proxy.proxy.api import playground_state
from plano_proxy.proxy.app_keys import ACCESS, CONFIG, owner_of
from plano_proxy.proxy.auth import PAGE_FILES
from plano_proxy.proxy.config import Config
from plano_proxy.proxy.errors import NotFound
from plano_proxy.proxy.middleware import Handler
from plano_proxy.proxy.upstream.capture import UpstreamLog

ASSET_PREFIX = PAGE_FILES
API_PREFIX = "/playground/api/"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

_CONTENT_TYPES = {
    ".html": "text/html",
    ".css": "text/css",
    ".js": "text/javascript",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str


ASSETS = web.AppKey("playground_assets", dict)
"""File name → `Asset`, the page's files as read at start."""


def load_assets(config: Config) -> dict[str, Asset]:
    """The page's files; the page learns from its ``<html>`` element whether it must ask for a key."""
    folder = resources.files("plano_proxy.proxy") / "playground"
    assets = {}
    for entry in folder.iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and suffix in _CONTENT_TYPES:
            assets[entry.name] = Asset(entry.read_bytes(), _CONTENT_TYPES[suffix])
    index = assets["index.html"]
    keys = b'data-gateway-keys="on"' if config.gateway_keys else b'data-gateway-keys="off"'
    assets["index.html"] = Asset(index.body.replace(b'data-gateway-keys="off"', keys), index.content_type)
    return assets


def add_playground(app: web.Application) -> None:
    """Serve the page at ``/`` and its files and reads below ``/playground/``; with
    ``playground.keep_upstream_requests``, also keep what each request sent upstream for the inspector."""
    config = app[CONFIG]
    app[ASSETS] = load_assets(config)
    if config.playground.keep_upstream_requests:
        app[playground_state.UPSTREAM_LOG] = UpstreamLog()
        app.middlewares.append(_keep_upstream_requests)
    router = app.router
    router.add_get(ASSET_PREFIX + "{name}", _asset)
    playground_state.add_routes(router, API_PREFIX)


def page(request: web.Request) -> web.Response | None:
    """The page for ``GET /``, or None when the playground is off."""
    assets = request.app.get(ASSETS)
    return None if assets is None else _answer(assets["index.html"])


async def _asset(request: web.Request) -> web.Response:
    asset = request.app[ASSETS].get(request.match_info["name"])
    if asset is None:
        raise NotFound(f"Unknown request URL: {request.method} {request.path}.")
    return _answer(asset)


def _answer(asset: Asset) -> web.Response:
    return web.Response(body=asset.body, content_type=asset.content_type, headers=SECURITY_HEADERS)


@web.middleware
async def _keep_upstream_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Open a sink for the model calls of this request (the middleware runs in the handler's task)."""
    if request.method == "POST" and request.path.startswith("/v1/"):
        request.app[playground_state.UPSTREAM_LOG].open(request[ACCESS].request_id, owner_of(request))
    return await handler(request)
