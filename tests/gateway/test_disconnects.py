"""A client leaving mid-stream: the upstream request is closed at once and the partial answer is stored, marked."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import openai
from mock_upstream import ABORTED
from support.servers import ServerThread

SLOW = "[[events:200]] [[delay:40]] tell me a long story"


async def read_then_leave(url: str, body: dict, events_wanted: int) -> tuple[str, float]:
    """Read the first events of a stream, then drop the connection; returns the response id and when it left."""
    async with aiohttp.ClientSession() as session:
        response = await session.post(url, json=body)
        response_id, seen = "", 0
        async for line in response.content:
            if line.startswith(b"data:") and b'"response.created"' in line:
                response_id = line.split(b'"id":"', 1)[1].split(b'"', 1)[0].decode()
            seen += line.startswith(b"data:")
            if seen >= events_wanted:
                break
        left = time.monotonic()
        response.close()
    return response_id, left


def test_disconnect_closes_upstream_and_keeps_partial_answer(make_gateway, mock_upstream: ServerThread) -> None:
    """The upstream stream ends right after the client leaves, and GET shows the partial, incomplete response."""
    gateway = make_gateway("sqlite")
    assert mock_upstream.app is not None
    aborted_before = len(mock_upstream.app[ABORTED])
    body = {"model": "claude-sonnet-4-5", "input": SLOW, "stream": True}
    response_id, left = asyncio.run(read_then_leave(f"{gateway.url}/v1/responses", body, events_wanted=8))
    deadline = time.monotonic() + 5
    while len(mock_upstream.app[ABORTED]) == aborted_before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(mock_upstream.app[ABORTED]) == aborted_before + 1
    print(f"upstream closed {1000 * (mock_upstream.app[ABORTED][-1] - left):.1f} ms after the client left")
    assert mock_upstream.app[ABORTED][-1] - left < 0.5  # the stream would otherwise run for 8 s more
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
    stored = None
    while time.monotonic() < deadline:
        try:
            stored = client.responses.retrieve(response_id)
            break
        except openai.NotFoundError:
            time.sleep(0.02)
    assert stored is not None and stored.status == "incomplete"
    assert stored.incomplete_details is not None and stored.incomplete_details.reason == "client_disconnected"
    assert stored.output_text.startswith("w0 w1")


def test_many_aborted_streams_leave_nothing_open(make_gateway, mock_upstream: ServerThread) -> None:
    """After 50 aborted streams the gateway has no open streams and no leftover tasks."""
    gateway = make_gateway(None)

    async def run() -> None:
        for _ in range(50):
            await read_then_leave(
                f"{gateway.url}/v1/responses", {"model": "gpt-4o-mini", "input": SLOW, "stream": True}, 3
            )

    asyncio.run(run())
    time.sleep(0.3)
    metrics = aiohttp_get(f"{gateway.url}/metrics")
    assert "plano_open_streams 0.0" in metrics

    async def pending() -> int:
        return len([t for t in asyncio.all_tasks() if not t.done()])

    assert gateway.call(pending) <= 2  # the server's own serving task and this probe


def aiohttp_get(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()
