"""What a new user meets first, through the real `plano-proxy` command: each startup failure is one line naming the
cause and the remedy, with its documented exit status, and retention prunes idle chains by hand and inside a
running gateway."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from support.gateway import gateway_config_text
from support.processes import PLANO_PROXY, GatewayProcess, free_port
from support.servers import ServerThread

from plano_proxy.storage import Store, StoredResponse, open_store

DAY = 86_400


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PLANO_PROXY, *args], capture_output=True, text=True, timeout=60)


def write_config(tmp_path: Path, mock: ServerThread, storage: str) -> Path:
    config = tmp_path / "plano_config.yaml"
    config.write_text(gateway_config_text(mock.url, storage))
    return config


def test_postgres_unreachable_is_one_line(tmp_path: Path, mock_upstream: ServerThread) -> None:
    """serve and migrate with PostgreSQL down: one line naming host, port and database, exit 3; --debug adds the
    traceback before it."""
    port = free_port()
    dsn = f"postgresql://plano@127.0.0.1:{port}/plano"
    config = write_config(tmp_path, mock_upstream, f"state_storage: {{type: postgres, connection_string: '{dsn}'}}\n")
    line = (
        f"plano-proxy: cannot reach PostgreSQL at 127.0.0.1:{port} (database plano): connection refused; "
        "start the server, or fix state_storage.connection_string\n"
    )
    for command in ("serve", "migrate"):
        result = run_cli(command, "--config", str(config), "--port", str(free_port())) if command == "serve" else None
        result = result or run_cli(command, "--config", str(config))
        assert (result.returncode, result.stderr) == (3, line), command
    debug = run_cli("migrate", "--debug", "--config", str(config))
    assert debug.returncode == 3
    assert debug.stderr.startswith("Traceback") and debug.stderr.endswith(line)


def test_unwritable_sqlite_path_is_one_line(tmp_path: Path, mock_upstream: ServerThread) -> None:
    """A SQLite path in a folder that does not exist: one line naming the path and why, exit 4."""
    path = tmp_path / "no-such-folder" / "state.db"
    config = write_config(tmp_path, mock_upstream, f"state_storage: {{type: sqlite, path: '{path}'}}\n")
    result = run_cli("serve", "--config", str(config), "--port", str(free_port()))
    assert result.returncode == 4
    assert result.stderr == (
        f"plano-proxy: cannot open the SQLite state file {path} for writing: its folder {path.parent} does not "
        "exist; set state_storage.path to a file in a writable folder\n"
    )


def test_port_in_use_is_one_line(tmp_path: Path, mock_upstream: ServerThread) -> None:
    """A port something else holds: one line naming the port and how to pick another, exit 5."""
    config = write_config(tmp_path, mock_upstream, "")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = run_cli("serve", "--config", str(config), "--port", str(port))
    assert result.returncode == 5
    assert result.stderr == (
        f"plano-proxy: port {port} on 127.0.0.1 is already in use; stop what holds it, or pick another port with "
        "--port N (or listeners[0].port in the config)\n"
    )


async def seed(store: Store, now: int) -> None:
    """An old chain (three turns, its newest 31 days old) and a newer one (its first turn 40 days old)."""
    chains = {"resp_old": (40, 35, 31), "resp_new": (40, 2)}
    for prefix, ages in chains.items():
        previous = None
        for number, age in enumerate(ages):
            response = StoredResponse(
                f"{prefix}_{number}", None, now - age * DAY, "completed", "gpt-4o-mini", previous_response_id=previous
            )
            await store.save_turn(response, [{"type": "message", "role": "user", "content": f"turn {number}"}], [])
            previous = response.id
    await store.close()


def test_prune_command(tmp_path: Path, mock_upstream: ServerThread) -> None:
    """plano-proxy prune removes the chain idle for longer than max_age and keeps the newer one whole."""
    path = tmp_path / "state.db"
    asyncio.run(seed(asyncio.run(open_store("sqlite", path=str(path))), int(time.time())))
    config = write_config(
        tmp_path, mock_upstream, f"state_storage: {{type: sqlite, path: '{path}', retention: {{max_age: 30d}}}}\n"
    )
    result = run_cli("prune", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(
        "plano-proxy: pruned 3 responses and 0 conversations idle for more than 30d; the store holds 2 responses, "
        "0 conversations, "
    )

    async def survivors() -> tuple[list[bool], list[str] | None]:
        store = await open_store("sqlite", path=str(path))
        try:
            found = [await store.get_response(f"resp_old_{n}", None) is not None for n in range(3)]
            history = await store.history("resp_new_1", None)
            return found, None if history is None else [item["content"] for item in history]
        finally:
            await store.close()

    assert asyncio.run(survivors()) == ([False, False, False], ["turn 0", "turn 1"])
    again = run_cli("prune", "--config", str(config), "--max-age", "1d")
    assert again.stdout.startswith("plano-proxy: pruned 2 responses and 0 conversations idle for more than 1d;")
    assert run_cli("prune", "--config", str(config), "--max-age", "soon").returncode == 2


@pytest.mark.parametrize("store_kind", ["sqlite"])
def test_the_gateway_sweeps_and_exports_the_store_size(tmp_path: Path, mock_upstream: ServerThread, store_kind) -> None:
    """A gateway with retention prunes at start and every interval; the metrics give rows, bytes and what went."""
    path = tmp_path / "state.db"
    asyncio.run(seed(asyncio.run(open_store("sqlite", path=str(path))), int(time.time())))
    storage = f"state_storage: {{type: sqlite, path: '{path}', retention: {{max_age: 30d, interval: 200ms}}}}\n"
    gateway = GatewayProcess(write_config(tmp_path, mock_upstream, storage))
    try:
        deadline = time.monotonic() + 10
        while True:
            with urllib.request.urlopen(f"{gateway.url}/metrics", timeout=5) as answer:
                metrics = answer.read().decode()
            if 'plano_state_rows{table="responses"} 2.0' in metrics or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    finally:
        assert gateway.stop() == 0
    assert 'plano_state_rows{table="responses"} 2.0' in metrics
    assert 'plano_state_pruned_total{kind="response"} 3.0' in metrics
    assert "plano_state_bytes " in metrics
    assert '"event":"state_pruned"' in gateway.log().replace(" ", "")
