"""The gateway as a real process: SIGTERM lets open streams finish; kill -9 loses no acknowledged response."""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import openai
from support.gateway import gateway_config_text
from support.processes import GatewayProcess
from support.servers import ServerThread


def write_config(tmp_path: Path, mock: ServerThread) -> Path:
    config = tmp_path / "plano_config.yaml"
    storage = f"state_storage: {{type: sqlite, path: '{tmp_path / 'state.db'}'}}\n"
    config.write_text(gateway_config_text(mock.url, storage))
    return config


def test_sigterm_lets_an_open_stream_finish(tmp_path: Path, mock_upstream: ServerThread) -> None:
    """A stream running when SIGTERM arrives completes (and is stored); the process then exits 0."""
    gateway = GatewayProcess(write_config(tmp_path, mock_upstream))
    body = json.dumps({"model": "gpt-4o-mini", "input": "[[events:40]] [[delay:25]] slow", "stream": True}).encode()
    request = urllib.request.Request(
        f"{gateway.url}/v1/responses", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        first = response.readline()
        gateway.process.terminate()
        rest = response.read().decode()
    assert first.startswith(b"event: response.created")
    assert "event: response.completed" in rest
    gateway.process.wait(timeout=30)  # a second SIGTERM would cut the graceful shutdown short
    code = gateway.stop()
    assert code == 0, gateway.log()[-3000:]
    response_id = rest.split('"type":"response.completed"', 1)[1].split('"id":"', 1)[1].split('"', 1)[0]
    restarted = GatewayProcess(write_config(tmp_path, mock_upstream))
    try:
        client = openai.OpenAI(base_url=f"{restarted.url}/v1", api_key="k", max_retries=0)
        assert client.responses.retrieve(response_id).status == "completed"
    finally:
        restarted.stop()


def test_kill_9_loses_no_acknowledged_response(tmp_path: Path, mock_upstream: ServerThread) -> None:
    """Under load, kill -9; after a restart every response that was acknowledged is retrievable and continuable."""
    config = write_config(tmp_path, mock_upstream)
    gateway = GatewayProcess(config)
    acknowledged: list[str] = []
    stop = threading.Event()

    def load() -> None:
        client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
        previous = None
        while not stop.is_set():
            try:
                response = client.responses.create(model="gpt-4o-mini", input="durable?", previous_response_id=previous)
            except openai.APIError:
                return
            acknowledged.append(response.id)
            previous = response.id

    kill_under_load(gateway, [threading.Thread(target=load) for _ in range(4)], stop)
    print(f"{len(acknowledged)} responses acknowledged before kill -9")
    assert len(acknowledged) > 20
    restarted = GatewayProcess(config)
    try:
        client = openai.OpenAI(base_url=f"{restarted.url}/v1", api_key="k", max_retries=0)
        assert not_found(client, acknowledged) == []
        follow = client.responses.create(
            model="gpt-4o-mini", input="after the crash", previous_response_id=acknowledged[-1]
        )
        assert "after the crash" in follow.output_text
    finally:
        restarted.stop()


def test_kill_9_loses_no_acknowledged_chat_turn(tmp_path: Path, mock_upstream: ServerThread) -> None:
    """Stored chat turns, whole and streamed, under load; kill -9; after a restart every turn whose answer ended
    (the whole body, or the stream through [DONE]) reads back and can be continued."""
    config = write_config(tmp_path, mock_upstream)
    gateway = GatewayProcess(config)
    acknowledged: list[str] = []
    committers: list[int] = []
    stop = threading.Event()

    def load(stream: bool) -> None:
        body = json.dumps(
            {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "durable?"}], "stream": stream}
        )
        while not stop.is_set():
            request = urllib.request.Request(
                f"{gateway.url}/v1/chat/completions", data=body.encode(), headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    answer = response.read()
            except (OSError, http.client.HTTPException):
                return
            if stream and not answer.endswith(b"data: [DONE]\n\n"):
                return
            first = answer.split(b"\n", 1)[0].removeprefix(b"data: ") if stream else answer
            acknowledged.append(json.loads(first)["id"])

    workers = [threading.Thread(target=load, args=(stream,)) for stream in (False, True, False, True)]
    kill_under_load(gateway, workers, stop, then=lambda: committers.extend(committer_pids(tmp_path / "state.db")))
    print(f"{len(acknowledged)} chat turns acknowledged before kill -9")
    assert len(acknowledged) > 20
    assert len(committers) == 1  # the worker's SQLite committer, which commits the chat turns
    assert ended(committers[0])  # it does not outlive the worker
    restarted = GatewayProcess(config)
    try:
        client = openai.OpenAI(base_url=f"{restarted.url}/v1", api_key="k", max_retries=0)
        assert not_found(client, acknowledged) == []
        follow = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "after the crash"}],
            metadata={"response_id": acknowledged[-1]},
        )
        assert 'earlier user texts: ["durable?"]' in (follow.choices[0].message.content or "")
    finally:
        restarted.stop()


def kill_under_load(
    gateway: GatewayProcess,
    workers: list[threading.Thread],
    stop: threading.Event,
    then: Callable[[], object] = lambda: None,
) -> None:
    """Let the workers load the gateway for a second, call ``then``, kill -9 it under that load, then stop them."""
    for worker in workers:
        worker.start()
    time.sleep(1.0)
    then()
    gateway.kill()
    stop.set()
    for worker in workers:
        worker.join(timeout=10)


def committer_pids(database: Path) -> list[int]:
    """The SQLite committer processes writing to ``database``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"plano_proxy.storage.sqlite_committer" in command and str(database).encode() in command:
            found.append(int(entry.name))
    return found


def ended(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1]
        except OSError:
            return True
        if state.startswith("Z"):  # exited; its parent, killed, leaves the reaping to init
            return True
        time.sleep(0.05)
    return False


def not_found(client: openai.OpenAI, response_ids: list[str]) -> list[str]:
    """The ids a restarted gateway no longer knows."""
    missing = []
    for response_id in response_ids:
        try:
            client.responses.retrieve(response_id)
        except openai.NotFoundError:
            missing.append(response_id)
    return missing
