"""Fixtures for the storage tests: every store kind, each on real storage (see `storage_fixtures`)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from storage_fixtures import Stores, drop_schema, require_postgres

from plano_proxy.storage import Store


@pytest.fixture
async def pg_schema() -> AsyncIterator[str]:
    """A fresh schema name on the test server, dropped with everything in it after the test."""
    await require_postgres()
    schema = f"plano_test_{secrets.token_hex(6)}"
    yield schema
    await drop_schema(schema)


async def _stores(kind: str, tmp_path: Path) -> AsyncIterator[Stores]:
    if kind == "postgres":
        await require_postgres()
    stores = Stores(kind, tmp_path)
    try:
        yield stores
    finally:
        await stores.close()


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stores]:
    """Every store kind."""
    async for opened in _stores(request.param, tmp_path):
        yield opened


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def durable_stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stores]:
    """The stores that keep data in a database several processes or instances share."""
    async for opened in _stores(request.param, tmp_path):
        yield opened


@pytest.fixture
async def store(stores: Stores) -> Store:
    return await stores.open()
