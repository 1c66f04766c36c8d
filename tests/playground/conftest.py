"""Browser tests of the playground: headless Chromium from the system's packages, driven by Playwright for Python,
against a real gateway and the mock upstream.

Playwright's own browser download cannot be used here, so the browser is the system's (``/usr/bin/chromium``, or
``PLANO_CHROMIUM``). Without Playwright or Chromium the tests are skipped with the reason, unless
``PLANO_REQUIRE_BROWSER=1`` (CI sets it) makes that a failure. Every page collects its console errors and
uncaught exceptions, and a test fails if there is any.

Screenshots go to the test's temporary folder; with ``PLANO_UPDATE_SCREENSHOTS=1`` they replace the ones in
docs/playground/ that docs/playground.md shows.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.gateway import GatewayFactory
from support.servers import ServerThread

CHROMIUM = os.environ.get("PLANO_CHROMIUM", "/usr/bin/chromium")
REQUIRE_ENV = "PLANO_REQUIRE_BROWSER"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "playground"
# As root, without a sandbox; and nothing of Chromium's own reaches the network (Playwright gives each launch a
# fresh profile folder).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
PLAYGROUND_YAML = "playground: {keep_upstream_requests: true}\n"


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (it comes with the test extra: pip install '.[test]')"
    if not os.access(CHROMIUM, os.X_OK):
        return f"Chromium is not at {CHROMIUM} (scripts/test installs Debian's chromium with apt-get)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium per test module. Not one per session: while Playwright's synchronous API is open, its event loop
    counts as running in this thread, so the asyncio tests of other modules could not run theirs."""
    problem = _missing()
    if problem is not None:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{problem}, and {REQUIRE_ENV}=1", pytrace=False)
        pytest.skip(f"{problem}; the browser tests need both ({REQUIRE_ENV}=1 makes this a failure)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class Console:
    """Console errors and uncaught exceptions of the pages of one test."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def watch(self, page: Any) -> None:
        page.on("console", lambda message: self.errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))


@pytest.fixture
def console() -> Iterator[Console]:
    watched = Console()
    yield watched
    assert watched.errors == [], "the page wrote errors to its console"


@pytest.fixture
def new_page(browser: Any, console: Console) -> Iterator[Any]:
    """Opens pages, each in a browser context of its own (its own session storage), watched for console errors."""
    contexts: list[Any] = []

    def open_page(viewport: dict[str, int] | None = None) -> Any:
        context = browser.new_context(viewport=viewport or DESKTOP)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        console.watch(page)
        return page

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def playground(make_gateway: GatewayFactory) -> ServerThread:
    """A gateway with SQLite state that keeps what each request sent upstream, for the inspector."""
    return make_gateway("sqlite", extra_yaml=PLAYGROUND_YAML)


@pytest.fixture
def screenshot(tmp_path: Path) -> Any:
    """Saves a page's screenshot under a name: to docs/playground/ with PLANO_UPDATE_SCREENSHOTS=1."""

    def take(page: Any, name: str, **options: Any) -> Path:
        folder = SCREENSHOTS if os.environ.get("PLANO_UPDATE_SCREENSHOTS") == "1" else tmp_path
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), **options)
        assert path.stat().st_size > 10_000
        return path

    return take
