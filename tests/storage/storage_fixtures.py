"""Helpers for the storage tests: every store kind, each on real storage.

PostgreSQL tests run against ``PLANO_TEST_POSTGRES_DSN`` (default ``postgresql://postgres@127.0.0.1:5432/test``),
each in a fresh schema dropped afterwards, so parallel runs never collide. They carry the ``postgres`` marker; when
the server cannot be reached they are skipped with the reason, unless ``PLANO_REQUIRE_POSTGRES=1``, which turns
that into a failure (CI sets it).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from plano_proxy.storage import Store, open_store

POSTGRES_DSN = os.environ.get("PLANO_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
_reachable: dict[str, str | None] = {}


async def _postgres_problem() -> str | None:
    """None if PostgreSQL answers, else why not (checked once per run)."""
    if POSTGRES_DSN not in _reachable:
        try:
            conn = await asyncpg.connect(POSTGRES_DSN, timeout=5)
            await conn.close()
            _reachable[POSTGRES_DSN] = None
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
            _reachable[POSTGRES_DSN] = f"{type(exc).__name__}: {exc}"
    return _reachable[POSTGRES_DSN]


async def require_postgres() -> None:
    problem = await _postgres_problem()
    if problem is None:
        return
    message = f"PostgreSQL at {POSTGRES_DSN} is unreachable ({problem})"
    if os.environ.get("PLANO_REQUIRE_POSTGRES") == "1":
        pytest.fail(message + " and PLANO_REQUIRE_POSTGRES=1", pytrace=False)
    pytest.skip(message + "; set PLANO_TEST_POSTGRES_DSN or start a server (PLANO_REQUIRE_POSTGRES=1 makes this fail)")


StoreFactory = Callable[[], Awaitable[Store]]


class Stores:
    """Opens stores of one kind, all on the same database, and closes them at the end."""

    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind = kind
        self.path = str(tmp_path / "state.db")
        self.schema = f"plano_test_{secrets.token_hex(6)}"
        self._opened: list[Store] = []

    async def open(self, **options: Any) -> Store:
        if self.kind == "memory":
            # One process holds one memory store: a second "instance" is the same object.
            if not self._opened:
                self._opened.append(await open_store("memory", **options))
            return self._opened[0]
        if self.kind == "sqlite":
            store = await open_store("sqlite", path=self.path, **options)
        else:
            store = await open_store("postgres", connection_string=POSTGRES_DSN, schema=self.schema, **options)
        self._opened.append(store)
        return store

    async def close(self) -> None:
        for store in self._opened:
            await store.close()
        if self.kind == "postgres":
            await drop_schema(self.schema)


async def drop_schema(schema: str) -> None:
    conn = await asyncpg.connect(POSTGRES_DSN)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()
