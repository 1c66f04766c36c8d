"""OpenTelemetry traces exported to a real OTLP/HTTP receiver: span trees, GenAI attributes, propagation."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import anthropic
import openai
import pytest
import structlog
from mock_upstream import REQUESTS
from structlog.testing import capture_logs
from support import http
from support.otlp import SPANS, ReceivedSpan, create_receiver, render, trace_tree
from support.processes import GatewayProcess
from support.servers import ServerThread

from plano_proxy.proxy.app import create_app
from plano_proxy.proxy.config import parse_config
from plano_proxy.proxy.tracing import TRACE_ID_HEADER, TRACING

CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_PARENT = f"00-{CLIENT_TRACE}-00f067aa0ba902b7-01"
SHOWN = (
    "gen_ai.operation.name",
    "gen_ai.provider.name",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.response.finish_reasons",
    "plano.upstream.retry",
    "http.response.status_code",
)


def config_text(mock: ServerThread, receiver: ServerThread, capture: bool) -> str:
    return (
        "model_providers:\n"
        f"  - {{model: openai/gpt-4o-mini, access_key: k, base_url: '{mock.url}/v1', default: true,"
        " retries: {attempts: 1, initial_delay: 1ms}, fallbacks: [claude-sonnet-4-5]}\n"
        f"  - {{model: anthropic/claude-sonnet-4-5, access_key: k, base_url: '{mock.url}', retries: {{attempts: 0}}}}\n"
        "state_storage: {type: memory, store_chat_turns: false}\n"
        f"tracing: {{endpoint: '{receiver.url}', service_name: plano-test, capture_content: {str(capture).lower()}}}\n"
    )


@pytest.fixture
def receiver() -> Iterator[ServerThread]:
    server = ServerThread(create_receiver)
    yield server
    server.close()


def _gateway(mock: ServerThread, receiver: ServerThread, capture: bool = False) -> ServerThread:
    config = parse_config(config_text(mock, receiver, capture), {})
    return ServerThread(lambda: create_app(config))


@pytest.fixture
def gateway(mock_upstream: ServerThread, receiver: ServerThread) -> Iterator[ServerThread]:
    server = _gateway(mock_upstream, receiver)
    yield server
    server.close()


def _spans(gateway: ServerThread, receiver: ServerThread) -> list[ReceivedSpan]:
    assert gateway.app is not None and receiver.app is not None
    gateway.app[TRACING].flush()
    return list(receiver.app[SPANS])


def _one(spans: list[ReceivedSpan], name: str) -> ReceivedSpan:
    found = [span for span in spans if span.name == name]
    assert len(found) == 1, [span.name for span in spans]
    return found[0]


def test_streamed_stored_responses_turn_on_claude(
    gateway: ServerThread, receiver: ServerThread, mock_upstream: ServerThread
) -> None:
    """A streamed, stored turn continuing another: server span from the client's traceparent, route, history load,
    one client span for Claude carrying the traceparent upstream, the relay with its first token, and the commit."""
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
    first = client.responses.create(model="claude-sonnet-4-5", input="remember the word otter")
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        raw = client.responses.with_raw_response.create(
            model="claude-sonnet-4-5",
            input="what was the word?",
            previous_response_id=first.id,
            stream=True,
            extra_headers={"traceparent": CLIENT_PARENT},
        )
        events = list(raw.parse())
    assert raw.headers[TRACE_ID_HEADER] == CLIENT_TRACE
    assert events[-1].type == "response.completed"
    assert logs and all(entry.get("trace_id") == CLIENT_TRACE for entry in logs)
    sent = list(mock_upstream.app[REQUESTS])[-1]  # type: ignore[index]
    assert sent.headers["traceparent"].split("-")[1] == CLIENT_TRACE

    spans = _spans(gateway, receiver)
    (server,) = trace_tree(spans, CLIENT_TRACE)
    print("\n" + render([server], SHOWN))
    assert server.kind == "server" and server.parent_id == "00f067aa0ba902b7"
    assert [child.name for child in server.children] == ["route", "load_history", "chat claude-sonnet-4-5"]
    attempt = server.children[2]
    assert attempt.kind == "client"
    assert sent.headers["traceparent"].split("-")[2] == attempt.span_id
    assert attempt.attributes["gen_ai.provider.name"] == "anthropic"
    assert attempt.attributes["gen_ai.operation.name"] == "chat"
    assert attempt.attributes["gen_ai.request.model"] == "claude-sonnet-4-5"
    assert attempt.attributes["gen_ai.usage.output_tokens"] > 0
    assert attempt.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert "gen_ai.response.id" in attempt.attributes
    (relay,) = attempt.children
    assert relay.name == "relay" and relay.events == ["first_token"]
    assert [child.name for child in relay.children] == ["commit"]
    assert server.attributes["plano.client_api"] == "responses"
    assert server.attributes["gen_ai.request.model"] == "claude-sonnet-4-5"
    assert server.resource["service.name"] == "plano-test" and "service.instance.id" in server.resource
    assert server.children[1].attributes["plano.previous_response_id"] == first.id
    assert not any(key.startswith(("gen_ai.input", "gen_ai.output")) for s in spans for key in s.attributes)


def test_chat_relay(gateway: ServerThread, receiver: ServerThread) -> None:
    """A relayed chat stream without a client traceparent starts a trace of its own, named in the answer."""
    response = http.post(
        f"{gateway.url}/v1/chat/completions",
        {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    )
    assert response.status == 200
    trace_id = response.headers[TRACE_ID_HEADER]
    (server,) = trace_tree(_spans(gateway, receiver), trace_id)
    assert server.attributes["plano.client_api"] == "chat_completions"
    assert [child.name for child in server.children] == ["route", "chat gpt-4o-mini"]
    attempt = server.children[1]
    assert attempt.attributes["gen_ai.provider.name"] == "openai"
    assert attempt.attributes["gen_ai.usage.input_tokens"] > 0
    assert [child.name for child in attempt.children] == ["relay"]
    assert attempt.children[0].events == ["first_token"]


def test_retried_then_fallback(gateway: ServerThread, receiver: ServerThread) -> None:
    """Two failed tries on GPT (the second a retry) and the fallback to Claude are three attempt spans."""
    text = f"[[fault:500x2]] fall back {uuid.uuid4().hex}"
    client = anthropic.Anthropic(base_url=gateway.url, api_key="k", max_retries=0)
    raw = client.messages.with_raw_response.create(
        model="gpt-4o-mini", max_tokens=64, messages=[{"role": "user", "content": text}]
    )
    assert raw.headers["x-plano-fallback-from"] == "openai/gpt-4o-mini"
    (server,) = trace_tree(_spans(gateway, receiver), raw.headers[TRACE_ID_HEADER])
    attempts = [child for child in server.children if child.kind == "client"]
    assert [span.name for span in attempts] == ["chat gpt-4o-mini", "chat gpt-4o-mini", "chat claude-sonnet-4-5"]
    assert [span.attributes["plano.upstream.retry"] for span in attempts] == [0, 1, 0]
    assert [span.attributes.get("http.response.status_code") for span in attempts] == [500, 500, None]
    assert attempts[2].attributes["gen_ai.usage.output_tokens"] > 0


def test_background_response_is_linked(gateway: ServerThread, receiver: ServerThread) -> None:
    """The work of a background response is a trace of its own whose root links to the request that queued it."""
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
    raw = client.responses.with_raw_response.create(model="claude-sonnet-4-5", input="later", background=True)
    queued = raw.parse()
    for _ in range(200):
        if client.responses.retrieve(queued.id).status == "completed":
            break
        time.sleep(0.01)
    spans = _spans(gateway, receiver)
    request_trace = raw.headers[TRACE_ID_HEADER]
    (server,) = trace_tree(spans, request_trace)
    background = _one(spans, "background_response")
    assert background.trace_id != request_trace and background.parent_id == ""
    assert background.links == [(request_trace, server.span_id)]
    assert background.attributes["plano.response.id"] == queued.id
    names = [child.name for child in trace_tree(spans, background.trace_id)[0].children]
    assert "chat claude-sonnet-4-5" in names and "commit" in names


def test_content_captured_only_when_asked(mock_upstream: ServerThread, receiver: ServerThread) -> None:
    """capture_content puts the provider request and the stored answer on the spans."""
    server = _gateway(mock_upstream, receiver, capture=True)
    try:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="k", max_retries=0)
        raw = client.responses.with_raw_response.create(model="claude-sonnet-4-5", input="secret pelican")
        raw.parse()
        (root,) = trace_tree(_spans(server, receiver), raw.headers[TRACE_ID_HEADER])
    finally:
        server.close()
    attempt = _one(root.children, "chat claude-sonnet-4-5")
    assert "secret pelican" in attempt.attributes["gen_ai.input.messages"]
    commit = next(span for span in root.children if span.name == "commit")
    assert "heard" in commit.attributes["gen_ai.output.messages"]


def test_off_by_default(mock_upstream: ServerThread) -> None:
    """Without a tracing section there is no tracer, no trace header, and no traceparent sent upstream."""
    config = parse_config(config_text(mock_upstream, mock_upstream, False).split("tracing:")[0], {})
    app = create_app(config)
    assert TRACING not in app
    server = ServerThread(lambda: create_app(config))
    try:
        response = http.post(
            f"{server.url}/v1/chat/completions",
            {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]},
        )
    finally:
        server.close()
    assert TRACE_ID_HEADER not in response.headers
    assert "traceparent" not in list(mock_upstream.app[REQUESTS])[-1].headers  # type: ignore[index]


def test_a_gateway_process_exports_through_its_export_process(
    mock_upstream: ServerThread, receiver: ServerThread, tmp_path: Path
) -> None:
    """As a real process: each worker's spans go out through an export process of its own, which ends with the
    worker (what it holds is exported on a clean stop; after kill -9 its input ends and it exits too)."""
    config = tmp_path / "plano_config.yaml"
    config.write_text(config_text(mock_upstream, receiver, capture=False))
    for stop in ("sigterm", "kill"):
        gateway = GatewayProcess(config)
        exporters = _children(gateway.process.pid)
        assert len(exporters) == 1, exporters
        sent = http.post(f"{gateway.url}/v1/chat/completions", _chat(f"{stop} run"))
        trace_id = sent.headers[TRACE_ID_HEADER]
        if stop == "sigterm":
            assert gateway.stop() == 0
            assert any(span.trace_id == trace_id for span in receiver.app[SPANS])  # type: ignore[index]
        else:
            time.sleep(0.5)  # past the worker's send interval: the trace is with the export process
            gateway.kill()
            deadline = time.monotonic() + 10
            while not any(span.trace_id == trace_id for span in receiver.app[SPANS]):  # type: ignore[index]
                assert time.monotonic() < deadline, "the export process did not export what it held"
                time.sleep(0.1)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{exporters[0]}").exists() and _state(exporters[0]) != "Z":
            assert time.monotonic() < deadline, "the export process outlived its worker"
            time.sleep(0.1)


def _chat(text: str) -> dict[str, object]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"
