"""Real servers for tests: an aiohttp application on a real loopback port, run by its own event loop in a thread,
so that synchronous SDK clients can call it from the test."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future

from aiohttp import web


class ServerThread:
    """Starts `make_app()` on 127.0.0.1 (a free port unless given) and stops it on `close()`."""

    def __init__(self, make_app: Callable[[], web.Application], port: int = 0) -> None:
        self._make_app = make_app
        self._requested_port = port
        self._loop = asyncio.new_event_loop()
        self._started: Future[int] = Future()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._runner: web.AppRunner | None = None
        self.app: web.Application | None = None
        self._thread.start()
        self.port = self._started.result(timeout=30)
        self.url = f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._start())
        except BaseException as exc:  # reported to the test thread, which re-raises it
            self._started.set_exception(exc)
            return
        self._loop.run_forever()
        self._loop.run_until_complete(self._stop())
        self._loop.close()

    async def _start(self) -> None:
        self.app = self._make_app()
        self._runner = web.AppRunner(self.app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._requested_port)
        await site.start()
        self._started.set_result(self._runner.addresses[0][1])

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def call(self, coro_factory: Callable[[], object]) -> object:
        """Run a coroutine on the server's loop (to inspect or change its state) and wait for the result."""
        return asyncio.run_coroutine_threadsafe(coro_factory(), self._loop).result(timeout=30)  # type: ignore[arg-type]

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
