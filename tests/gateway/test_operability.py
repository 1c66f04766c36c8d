"""Metrics, health, request ids, access log fields, CORS and the migrate command."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import subprocess
import time
from pathlib import Path

import aiohttp
import openai
import orjson
import pytest
from structlog.testing import capture_logs
from support import http
from support.gateway import gateway_config_text
from support.processes import PLANO_PROXY
from support.prometheus import metric
from support.servers import ServerThread


def test_metrics_change_as_requests_flow(gateway: ServerThread) -> None:
    """Scrape, send requests, scrape again: request, latency, TTFT, token and commit metrics move."""
    before = http.get(f"{gateway.url}/metrics").body.decode()
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
    client.chat.completions.create(model="claude-sonnet-4-5", messages=[{"role": "user", "content": "hi"}])
    list(client.chat.completions.create(model="gpt-4o-mini", stream=True, messages=[{"role": "user", "content": "hi"}]))
    client.responses.create(model="gpt-4o-mini", input="hello")
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(
            model="claude-sonnet-4-5", messages=[{"role": "user", "content": "[[fault:429]] x"}]
        )
    after = http.get(f"{gateway.url}/metrics").body.decode()
    labels = {"endpoint": "/v1/chat/completions", "model": "claude-sonnet-4-5", "status": "200"}
    assert metric(after, "plano_requests_total", **labels) == metric(before, "plano_requests_total", **labels) + 1
    assert metric(after, "plano_time_to_first_token_seconds_count", endpoint="/v1/chat/completions") >= 1
    assert metric(after, "plano_tokens_total", direction="out", model="claude-sonnet-4-5") > 0
    assert metric(after, "plano_state_commit_seconds_count") >= metric(before, "plano_state_commit_seconds_count") + 2
    assert metric(after, "plano_request_duration_seconds_count", endpoint="/v1/responses", stream="false") == 1
    assert metric(after, "plano_upstream_errors_total", provider="anthropic/claude-sonnet-4-5", status="429") == 1
    assert "plano_open_streams 0.0" in after and "plano_writer_queue_depth 0.0" in after


def test_readyz_reports_storage(make_gateway, tmp_path: Path) -> None:
    """readyz is 200 with a reachable store and 503 naming the storage when the database is unreachable."""
    ready = http.get(f"{make_gateway('sqlite').url}/readyz")
    assert ready.status == 200 and ready.json()["checks"]["storage"] == "ok"
    assert http.get(f"{make_gateway(None).url}/healthz").json() == {"status": "ok"}
    from storage_fixtures import require_postgres

    asyncio.run(require_postgres())
    from faults_postgres import Forwarder

    forwarder = Forwarder(5432)
    dsn = f"postgresql://postgres@127.0.0.1:{forwarder.port}/test"
    gateway = make_gateway(
        None, extra_yaml=f"state_storage: {{type: postgres, connection_string: '{dsn}', schema: plano_gw_ready}}\n"
    )
    assert http.get(f"{gateway.url}/readyz").status == 200
    forwarder.cut()
    down = http.get(f"{gateway.url}/readyz")
    assert down.status == 503 and down.json()["checks"]["storage"].startswith("unavailable")
    gateway.close()
    from storage_fixtures import drop_schema

    asyncio.run(drop_schema("plano_gw_ready"))


def test_relayed_answers_count_their_tokens(make_gateway) -> None:
    """Answers the gateway relays byte for byte (no state storage: chat to GPT, messages to Claude), streamed or not,
    still report their tokens on the access line and in plano_tokens_total."""
    gateway = make_gateway(None)
    chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "count my tokens please"}]}
    messages = {"model": "claude-sonnet-4-5", "max_tokens": 50, "messages": chat["messages"]}
    anthropic_headers = {"anthropic-version": "2023-06-01"}
    calls = [
        ("/v1/chat/completions", chat, {}),
        ("/v1/chat/completions", {**chat, "stream": True, "stream_options": {"include_usage": True}}, {}),
        ("/v1/messages", messages, anthropic_headers),
        ("/v1/messages", {**messages, "stream": True}, anthropic_headers),
    ]
    with capture_logs() as logs:
        for index, (path, body, headers) in enumerate(calls):
            answer = http.post(f"{gateway.url}{path}", body, headers={**headers, "x-request-id": f"relay-{index}"})
            assert answer.status == 200
        deadline = time.monotonic() + 5
        while sum(entry.get("event") == "request" for entry in logs) < len(calls) and time.monotonic() < deadline:
            time.sleep(0.01)
    lines = {entry["request_id"]: entry for entry in logs if entry["event"] == "request"}
    for index in range(len(calls)):
        line = lines[f"relay-{index}"]
        assert line["input_tokens"] == 4 and line["output_tokens"] > 0, line
    scrape = http.get(f"{gateway.url}/metrics").body.decode()
    assert metric(scrape, "plano_tokens_total", direction="in", provider="openai/gpt-4o-mini") == 8
    assert metric(scrape, "plano_tokens_total", direction="in", provider="anthropic/claude-sonnet-4-5") == 8


def test_request_id_and_access_log_fields(make_gateway) -> None:
    """A client's x-request-id is returned on JSON and streamed answers and logged with model, provider, status,
    latency, TTFT and tokens."""
    gateway = make_gateway(None)
    with capture_logs() as logs:
        plain = http.post(
            f"{gateway.url}/v1/chat/completions",
            {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]},
            headers={"x-request-id": "req-from-client-1"},
        )
        streamed = http.post(
            f"{gateway.url}/v1/messages",
            {"model": "gpt-4o-mini", "max_tokens": 50, "stream": True, "messages": [{"role": "user", "content": "hi"}]},
            headers={"x-request-id": "req-from-client-2", "anthropic-version": "2023-06-01"},
        )
        # A stream's access line is written once the handler returns, which can be just after the client has read
        # the last byte; wait for it (bounded) while the logs are still being captured.
        deadline = time.monotonic() + 5
        while not any(entry.get("request_id") == "req-from-client-2" for entry in logs) and time.monotonic() < deadline:
            time.sleep(0.01)
    assert plain.headers["x-request-id"] == "req-from-client-1"
    assert streamed.headers["x-request-id"] == "req-from-client-2"
    lines = {entry["request_id"]: entry for entry in logs if entry["event"] == "request"}
    first, second = lines["req-from-client-1"], lines["req-from-client-2"]
    assert (first["model"], first["provider"], first["status"], first["stream"]) == (
        "claude-sonnet-4-5",
        "anthropic/claude-sonnet-4-5",
        200,
        False,
    )
    assert first["input_tokens"] > 0 and first["output_tokens"] > 0 and first["latency_ms"] > 0
    assert second["stream"] is True and second["ttft_ms"] is not None and second["ttft_ms"] <= second["latency_ms"]


def test_cors_off_by_default_and_configurable(make_gateway) -> None:
    """Without config no CORS headers; with allowed origins, preflight is answered and answers carry the header."""
    plain = make_gateway(None)
    assert (
        "access-control-allow-origin"
        not in http.get(f"{plain.url}/v1/models", headers={"Origin": "http://ui.test"}).headers
    )
    gateway = make_gateway(None, extra_yaml="cors: {allowed_origins: ['http://ui.test']}\n")
    preflight = http.request(
        "OPTIONS",
        f"{gateway.url}/v1/chat/completions",
        headers={
            "Origin": "http://ui.test",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status == 204 and preflight.headers["access-control-allow-origin"] == "http://ui.test"
    answer = http.get(f"{gateway.url}/v1/models", headers={"Origin": "http://ui.test"})
    assert answer.headers["access-control-allow-origin"] == "http://ui.test"
    other = http.get(f"{gateway.url}/v1/models", headers={"Origin": "http://evil.test"})
    assert "access-control-allow-origin" not in other.headers


def test_migrate_command(tmp_path: Path, mock_upstream: ServerThread) -> None:
    """plano-proxy migrate applies the schema to the configured store and exits 0."""
    config = tmp_path / "plano_config.yaml"
    config.write_text(
        gateway_config_text(mock_upstream.url, f"state_storage: {{type: sqlite, path: '{tmp_path / 'm.db'}'}}\n")
    )
    result = subprocess.run(
        [PLANO_PROXY, "migrate", "--config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / "m.db") as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"responses", "items", "conversations"} <= tables


@pytest.mark.parametrize("flag", ["--version"])
def test_version(flag: str) -> None:
    """--version prints the package version."""
    result = subprocess.run([PLANO_PROXY, flag], capture_output=True, text=True, timeout=30)
    assert re.match(r"plano-proxy \d+\.\d+\.\d+", result.stdout)


@pytest.mark.parametrize(("connections", "b_finishes_first"), [(1, False), (4096, True)])
def test_upstream_connections_caps_open_streams(make_gateway, connections: int, b_finishes_first: bool) -> None:
    """A stream holds its upstream connection to the end: with one connection a second stream waits for the first,
    with the default pool it does not."""
    gateway = make_gateway(None, extra_yaml=f"listeners: [{{type: model, upstream_connections: {connections}}}]\n")
    url = f"{gateway.url}/v1/chat/completions"

    def body(text: str) -> bytes:
        return orjson.dumps({"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": text}]})

    async def scenario() -> list[str]:
        finished: list[str] = []
        async with aiohttp.ClientSession() as session:
            slow = await session.post(url, data=body("[[events:8]] [[delay:100]] slow"))
            await slow.content.readany()  # A is streaming, and holds its upstream connection

            async def read(name: str, response: aiohttp.ClientResponse) -> None:
                await response.read()
                finished.append(name)

            async def quick() -> None:
                await read("B", await session.post(url, data=body("quick")))

            await asyncio.gather(read("A", slow), quick())
        return finished

    order = asyncio.run(scenario())
    assert order == (["B", "A"] if b_finishes_first else ["A", "B"])
