"""Background responses: queued at once, produced by the gateway, polled, cancelled, on every store."""

from __future__ import annotations

import time
from pathlib import Path

import openai
import pytest
from support import http
from support.gateway import GatewayFactory
from support.servers import ServerThread

SLOW = "[[fault:slow-first-byte:3000]]"


@pytest.fixture
def gateway(make_gateway: GatewayFactory, store_kind: str) -> ServerThread:
    return make_gateway(store_kind)


def client_for(gateway: ServerThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="test-key", max_retries=0)


def poll(client: openai.OpenAI, response_id: str, timeout: float = 10.0) -> openai.types.responses.Response:
    deadline = time.monotonic() + timeout
    while True:
        response = client.responses.retrieve(response_id)
        if response.status not in ("queued", "in_progress") or time.monotonic() > deadline:
            return response
        time.sleep(0.05)


@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude-sonnet-4-5"])
def test_background_is_queued_then_completed(gateway: ServerThread, model: str) -> None:
    """The create call returns before the provider answers; polling sees the finished answer, which can be continued."""
    client = client_for(gateway)
    started = time.monotonic()
    queued = client.responses.create(model=model, input=f"My name is Alice {SLOW}", background=True)
    assert time.monotonic() - started < 2.0
    assert queued.status == "queued" and queued.background is True and queued.output == []
    assert client.responses.retrieve(queued.id).status in ("queued", "in_progress")
    done = poll(client, queued.id)
    assert done.status == "completed" and done.background is True
    assert "My name is Alice" in done.output_text
    follow_up = client.responses.create(model=model, input="What is my name?", previous_response_id=done.id)
    assert "My name is Alice" in follow_up.output_text


def test_cancel_stops_a_running_response(gateway: ServerThread) -> None:
    """Cancel answers with the cancelled response; it stays cancelled, and cancelling again changes nothing."""
    client = client_for(gateway)
    queued = client.responses.create(model="gpt-4o-mini", input=f"long job {SLOW}", background=True)
    cancelled = client.responses.cancel(queued.id)
    assert cancelled.id == queued.id and cancelled.status == "cancelled"
    time.sleep(0.2)
    assert client.responses.retrieve(queued.id).status == "cancelled"
    assert client.responses.cancel(queued.id).status == "cancelled"
    assert [item.content[0].text for item in client.responses.input_items.list(queued.id).data] == [f"long job {SLOW}"]


def test_cancel_of_a_finished_background_response_returns_it_unchanged(gateway: ServerThread) -> None:
    client = client_for(gateway)
    done = poll(client, client.responses.create(model="gpt-4o-mini", input="quick", background=True).id)
    assert done.status == "completed"
    again = client.responses.cancel(done.id)
    assert again.status == "completed" and again.output_text == done.output_text


def test_cancel_refuses_foreground_and_unknown_responses(gateway: ServerThread) -> None:
    client = client_for(gateway)
    foreground = client.responses.create(model="gpt-4o-mini", input="hello")
    with pytest.raises(openai.BadRequestError, match="background: true"):
        client.responses.cancel(foreground.id)
    with pytest.raises(openai.NotFoundError, match="resp_unknown"):
        client.responses.cancel("resp_unknown")


def test_background_needs_storage(gateway: ServerThread, make_gateway: GatewayFactory) -> None:
    """Clear 400s instead of silently answering in the foreground."""
    answer = http.post(
        f"{gateway.url}/v1/responses", {"model": "gpt-4o-mini", "input": "x", "background": True, "store": False}
    )
    assert answer.status == 400 and answer.json()["error"]["param"] == "background"
    stateless = make_gateway(None)
    answer = http.post(f"{stateless.url}/v1/responses", {"model": "gpt-4o-mini", "input": "x", "background": True})
    assert answer.status == 400 and "state_storage" in answer.json()["error"]["message"]


PACED = "[[events:30]] [[delay:40]] count for me"
"""About 1.2 s of text deltas, so a client can leave or join in the middle."""


@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude-sonnet-4-5"])
def test_streamed_background_response_streams_and_is_stored(gateway: ServerThread, model: str) -> None:
    client = client_for(gateway)
    events = list(client.responses.create(model=model, input="[[events:5]] go", background=True, stream=True))
    assert [event.sequence_number for event in events] == list(range(len(events)))
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    assert events[-1].response.background is True
    stored = client.responses.retrieve(events[-1].response.id)
    assert stored.status == "completed" and stored.output_text == "w0 w1 w2 w3 w4"
    replay = list(client.responses.retrieve(stored.id, stream=True))
    assert [event.model_dump() for event in replay] == [event.model_dump() for event in events]


def test_streamed_background_response_survives_its_client_and_resumes(gateway: ServerThread) -> None:
    """The client leaves after a few events; the answer is still produced, and the stream picks up where it was."""
    client = client_for(gateway)
    stream = client.responses.create(model="gpt-4o-mini", input=PACED, background=True, stream=True)
    seen = []
    for event in stream:
        seen.append(event)
        if len(seen) == 6:
            break
    stream.close()
    response_id = seen[0].response.id
    rest = list(client.responses.retrieve(response_id, stream=True, starting_after=seen[-1].sequence_number))
    assert rest[0].sequence_number == seen[-1].sequence_number + 1 and rest[-1].type == "response.completed"
    text = "".join(event.delta for event in [*seen, *rest] if event.type == "response.output_text.delta")
    assert text == " ".join(f"w{i}" for i in range(30))
    assert client.responses.retrieve(response_id).status == "completed"


def test_cancel_ends_a_streamed_background_response(gateway: ServerThread) -> None:
    client = client_for(gateway)
    stream = client.responses.create(model="claude-sonnet-4-5", input=PACED, background=True, stream=True)
    first = next(iter(stream))
    assert client.responses.cancel(first.response.id).status == "cancelled"
    remaining = list(stream)  # the live stream ends, without a terminal event
    assert all(event.type != "response.completed" for event in remaining)
    assert client.responses.retrieve(first.response.id).status == "cancelled"


def test_streamed_background_provider_failure_is_an_error_and_stored(gateway: ServerThread) -> None:
    client = client_for(gateway)
    with pytest.raises(openai.InternalServerError):
        list(client.responses.create(model="gpt-4o-mini", input="[[fault:500]] x", background=True, stream=True))


def test_provider_failure_is_stored_as_failed(gateway: ServerThread) -> None:
    client = client_for(gateway)
    queued = client.responses.create(model="gpt-4o-mini", input="[[fault:500]] x", background=True)
    failed = poll(client, queued.id)
    assert failed.status == "failed" and failed.error is not None and failed.error.message


def test_cancel_through_another_instance(make_gateway: GatewayFactory, tmp_path: Path) -> None:
    """Two gateways on one SQLite file: the one that did not start the response marks it cancelled, and the one
    producing it keeps that mark instead of storing its answer."""
    producer, other = make_gateway("sqlite", path=tmp_path), make_gateway("sqlite", path=tmp_path)
    queued = client_for(producer).responses.create(model="gpt-4o-mini", input=f"job {SLOW}", background=True)
    assert client_for(other).responses.cancel(queued.id).status == "cancelled"
    time.sleep(3.5)  # the producer's upstream answers after 3 s
    assert client_for(producer).responses.retrieve(queued.id).status == "cancelled"
