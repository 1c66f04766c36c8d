"""Threads that run blocking calls for the event loop: one hop there, one hop back, nothing else.

``loop.run_in_executor`` on a `ThreadPoolExecutor` goes through a concurrent future, a work item, the executor's
locks and idle semaphore, and an asyncio future chained to the concurrent one. On the SQLite store's hot path (a
commit for every stored turn, a read for every continued one) that bookkeeping took more of the event loop than the
hop itself. A `ThreadRunner`'s threads take calls from one `queue.SimpleQueue`, and each result goes back through
``loop.call_soon_threadsafe`` straight into the asyncio future its caller awaits.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_Call = tuple[Callable[[], Any], asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


class ThreadRunner:
    """``threads`` threads named ``name_<n>``, started at once; `shutdown` stops them after the calls queued before."""

    def __init__(self, threads: int, name: str) -> None:
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._serve, name=f"{name}_{n}", daemon=True) for n in range(threads)]
        for thread in self._threads:
            thread.start()

    async def run(self, fn: Callable[[], T]) -> T:
        """``fn()`` on one of the threads. A caller cancelled meanwhile leaves the call to finish on its own."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._calls.put((fn, loop, future))
        return await future

    def shutdown(self) -> None:
        """Blocks until every call queued so far has run and the threads have ended."""
        for _ in self._threads:
            self._calls.put(None)
        for thread in self._threads:
            thread.join()

    def _serve(self) -> None:
        while (call := self._calls.get()) is not None:
            fn, loop, future = call
            try:
                result, error = fn(), None
            except BaseException as exc:  # handed to the caller, whatever it is
                result, error = None, exc
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting any more
                loop.call_soon_threadsafe(_settle, future, result, error)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)
