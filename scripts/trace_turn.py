"""Trace one streamed ``/v1/responses`` turn on an Anthropic model through the gateway's own code.

Starts the mock upstream and a gateway (memory state) in this process, sends one streamed Responses request to
``claude-sonnet-4-5`` and prints, for the gateway's own modules only:

- the modules the turn passes through, in the order they are first entered, with their call counts;
- the calls back up the stack: a function defined inside another function (a closure) that is called from another
  module, which is how a handler's state used to be handed down into the pump and back.

Run: ``.venv/bin/python scripts/trace_turn.py``.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mock_upstream import create_mock_app

from plano_proxy.proxy.app import create_app
from plano_proxy.proxy.config import parse_config

PACKAGES = ("proxy", "transformers", "storage")


def _module_of(frame: FrameType) -> str | None:
    name = frame.f_globals.get("__name__", "")
    parts = name.split(".")
    if len(parts) >= 3 and parts[0] == "plano_proxy" and parts[1] in PACKAGES:
        return ".".join(parts[1:])
    return None


class Tracer:
    def __init__(self) -> None:
        self.first_seen: list[str] = []
        self.calls: Counter[str] = Counter()
        self.callbacks: Counter[str] = Counter()
        self._entered: list[FrameType] = []
        """Frames seen, held so that their ids stay unique: a coroutine's frame is entered again on every resume."""
        self._entered_ids: set[int] = set()

    def __call__(self, frame: FrameType, event: str, arg: Any) -> None:
        if event != "call" or id(frame) in self._entered_ids:
            return
        module = _module_of(frame)
        if module is None:
            return
        self._entered.append(frame)
        self._entered_ids.add(id(frame))
        if module not in self.calls:
            self.first_seen.append(module)
        self.calls[module] += 1
        qualname = frame.f_code.co_qualname
        caller = frame.f_back
        caller_module = _module_of(caller) if caller is not None else None
        generated = "__create_fn__" in qualname  # dataclass-made __init__, not the project's own closure
        if "<locals>" in qualname and not generated and caller_module is not None and caller_module != module:
            self.callbacks[f"{caller_module} -> {module}.{qualname}"] += 1


async def main() -> None:
    mock = web.AppRunner(create_mock_app())
    await mock.setup()
    mock_site = web.TCPSite(mock, "127.0.0.1", 0)
    await mock_site.start()
    mock_port = mock.addresses[0][1]
    config = parse_config(
        f"""
model_providers:
  - model: anthropic/claude-sonnet-4-5
    access_key: test-key
    base_url: http://127.0.0.1:{mock_port}
state_storage: {{type: memory}}
""",
        {},
    )
    gateway = web.AppRunner(create_app(config))
    await gateway.setup()
    site = web.TCPSite(gateway, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{gateway.addresses[0][1]}/v1/responses"
    body = {"model": "claude-sonnet-4-5", "input": "Hello there", "stream": True}
    tracer = Tracer()
    async with aiohttp.ClientSession() as client:
        async with client.post(url, json=body) as warm:
            await warm.read()
        sys.setprofile(tracer)
        try:
            async with client.post(url, json=body) as response:
                events = (await response.read()).count(b"\nevent: ") + 1
        finally:
            sys.setprofile(None)
    await gateway.cleanup()
    await mock.cleanup()
    print(f"one streamed /v1/responses turn on claude-sonnet-4-5: {events} events, HTTP {response.status}")
    print(f"\nmodules entered ({len(tracer.first_seen)}), in order, with their calls:")
    for module in tracer.first_seen:
        print(f"  {module:40} {tracer.calls[module]:6}")
    total = sum(tracer.callbacks.values())
    print(f"\ncalls back up the stack (closures called from another module): {total}")
    for site_name, count in tracer.callbacks.most_common():
        print(f"  {count:4}  {site_name}")


if __name__ == "__main__":
    asyncio.run(main())
