"""Several gateways on one state store: instances sharing PostgreSQL, and worker processes sharing a port."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import openai
import pytest
from storage_fixtures import drop_schema, require_postgres
from support.gateway import gateway_config_text
from support.processes import PLANO_PROXY, GatewayProcess
from support.servers import ServerThread


@pytest.mark.postgres
def test_two_instances_on_one_postgres_alternate_turns(make_gateway) -> None:
    """Turns alternate between two gateways sharing one PostgreSQL; each sees the whole chain."""
    asyncio.run(require_postgres())
    schema = f"plano_gw_{secrets.token_hex(6)}"
    gateways = [make_gateway("postgres", schema=schema), make_gateway("postgres", schema=schema)]
    try:
        clients = [openai.OpenAI(base_url=f"{g.url}/v1", api_key="k", max_retries=0) for g in gateways]
        previous = None
        for turn in range(6):
            response = clients[turn % 2].responses.create(
                model="gpt-4o-mini", input=f"turn {turn}", previous_response_id=previous
            )
            previous = response.id
        assert 'earlier user texts: ["turn 0", "turn 1", "turn 2", "turn 3", "turn 4"]' in response.output_text
        assert clients[0].responses.retrieve(previous).id == previous
    finally:
        for gateway in gateways:
            gateway.close()
        asyncio.run(drop_schema(schema))


def test_workers_share_port_and_state(tmp_path: Path, mock_upstream: ServerThread) -> None:
    """serve --workers 2 answers a chain whose turns may land on either worker (shared SQLite)."""
    config = tmp_path / "plano_config.yaml"
    config.write_text(
        gateway_config_text(mock_upstream.url, f"state_storage: {{type: sqlite, path: '{tmp_path / 's.db'}'}}\n")
    )
    gateway = GatewayProcess(config, "--workers", "2")
    try:
        previous = None
        for turn in range(8):
            fresh = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
            response = fresh.responses.create(model="gpt-4o-mini", input=f"t{turn}", previous_response_id=previous)
            fresh.close()
            previous = response.id
        assert '"t0", "t1", "t2", "t3", "t4", "t5", "t6"' in response.output_text
    finally:
        code = gateway.stop()
        assert code == 0, gateway.log()


def test_memory_store_refused_with_workers(tmp_path: Path, mock_upstream: ServerThread) -> None:
    """The memory store lives in one process, so several workers with it are refused with a clear message."""
    import subprocess

    config = tmp_path / "plano_config.yaml"
    config.write_text(gateway_config_text(mock_upstream.url, "state_storage: {type: memory}\n"))
    result = subprocess.run(
        [PLANO_PROXY, "serve", "--config", str(config), "--workers", "2"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2 and "memory state store lives inside one process" in result.stderr
