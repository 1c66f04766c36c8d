"""Real servers for gateway tests: the project's mock upstream and the gateway, each on its own loopback port.

`mock_upstream` is one session-wide mock provider; `make_gateway(storage=...)` starts a gateway whose providers
all point at it, with the state store asked for (memory, a SQLite file, a fresh PostgreSQL schema, or none).
"""

from __future__ import annotations

import asyncio
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import anthropic
import openai
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.append(str(ROOT / "tests" / "storage"))

from mock_upstream import create_mock_app  # noqa: E402
from support.gateway import (  # noqa: E402
    GatewayFactory,
    gateway_config_text,
)
from support.servers import ServerThread  # noqa: E402

from plano_proxy.proxy.config import parse_config  # noqa: E402


@pytest.fixture(scope="session")
def mock_upstream() -> Iterator[ServerThread]:
    server = ServerThread(create_mock_app)
    yield server
    server.close()


def storage_yaml(kind: str | None, tmp_path: Path, schema: str = "") -> str:
    if kind is None:
        return ""
    if kind == "memory":
        return "state_storage: {type: memory}\n"
    if kind == "sqlite":
        return f"state_storage: {{type: sqlite, path: '{tmp_path / 'state.db'}'}}\n"
    from storage_fixtures import POSTGRES_DSN

    return f"state_storage: {{type: postgres, connection_string: '{POSTGRES_DSN}', schema: {schema}}}\n"


@pytest.fixture
def make_gateway(mock_upstream: ServerThread, tmp_path: Path) -> Iterator[GatewayFactory]:
    from plano_proxy.proxy.app import create_app

    started: list[ServerThread] = []
    schemas: list[str] = []

    def make(
        storage: str | None = "sqlite", extra_yaml: str = "", path: Path | None = None, schema: str | None = None
    ) -> ServerThread:
        if schema is None:
            schema = f"plano_gw_{secrets.token_hex(6)}"
            if storage == "postgres":
                schemas.append(schema)
        config = parse_config(
            gateway_config_text(mock_upstream.url, storage_yaml(storage, path or tmp_path, schema), extra_yaml), {}
        )
        server = ServerThread(lambda: create_app(config))
        started.append(server)
        return server

    yield make
    for server in started:
        server.close()
    for schema in schemas:
        from storage_fixtures import drop_schema

        asyncio.run(drop_schema(schema))


@pytest.fixture
def gateway(make_gateway: GatewayFactory) -> ServerThread:
    """A gateway with SQLite state (the shipped default)."""
    return make_gateway("sqlite")


@pytest.fixture
def openai_client(gateway: ServerThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="test-key", max_retries=0)


@pytest.fixture
def anthropic_client(gateway: ServerThread) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key="test-key", max_retries=0)


STORES = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    """Each state store in turn (PostgreSQL skipped with a reason when unreachable, unless required)."""
    if request.param == "postgres":
        from storage_fixtures import require_postgres

        asyncio.run(require_postgres())
    return str(request.param)
