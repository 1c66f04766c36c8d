"""What the command says about starting: the line naming what runs, and one line for each way a start fails.

A failure the user can fix is one line naming the cause and the remedy, with its own exit status (the traceback
only with ``--debug``)::

    2  the config is invalid (or the command line)
    3  the PostgreSQL state store cannot be reached or refuses the connection
    4  the SQLite state file cannot be opened for writing
    5  the listen address cannot be bound (the port is in use, say)
"""

from __future__ import annotations

import errno
import os
import socket
import sqlite3
from dataclasses import dataclass
from urllib.parse import urlsplit

from plano_proxy.proxy.config import Config, StateStorage
from plano_proxy.storage import StorageUnavailable

EXIT_CONFIG = 2
EXIT_DATABASE = 3
EXIT_STATE_FILE = 4
EXIT_ADDRESS = 5


@dataclass(frozen=True, slots=True)
class Failure:
    message: str
    status: int


def listening_line(config: Config, host: str, port: int, workers: int = 1) -> str:
    models = f"{len(config.providers)} model{'s' if len(config.providers) != 1 else ''}"
    if config.aliases:
        models += f" and {len(config.aliases)} alias{'es' if len(config.aliases) != 1 else ''}"
    processes = f", {workers} workers" if workers > 1 else ""
    return f"listening on http://{host}:{port}, state: {describe_state(config.state_storage)}, {models}{processes}"


def describe_state(settings: StateStorage | None) -> str:
    """Where state lives, never a password."""
    if settings is None:
        return "none (the Responses API is stateless)"
    if settings.type == "memory":
        return "memory (lost at exit)"
    if settings.type == "sqlite":
        return f"sqlite at {os.path.abspath(settings.path or '')}"
    host, port, database = postgres_target(settings.connection_string or "")
    schema = f", schema {settings.schema}" if settings.schema else ""
    return f"postgres at {host}:{port}/{database}{schema}"


def postgres_target(dsn: str) -> tuple[str, int, str]:
    """(host, port, database) of a ``postgresql://`` URL, with libpq's defaults."""
    parts = urlsplit(dsn)
    try:
        port = parts.port or 5432
    except ValueError:
        port = 5432
    return parts.hostname or "localhost", port, parts.path.lstrip("/") or parts.username or "postgres"


def explain(exc: BaseException, config: Config, host: str | None = None, port: int | None = None) -> Failure | None:
    """The one-line failure for an exception raised while starting, or None for one that is not a known cause."""
    settings = config.state_storage
    if settings is not None and settings.type == "postgres" and _from_postgres(exc):
        return _postgres(exc, settings)
    if settings is not None and settings.type == "sqlite" and isinstance(exc, StorageUnavailable | sqlite3.Error):
        return _sqlite(exc, settings.path or "")
    if isinstance(exc, OSError) and host is not None and port is not None:
        return _address(exc, host, port)
    return None


def _from_postgres(exc: BaseException) -> bool:
    return isinstance(exc, StorageUnavailable) or type(exc).__module__.startswith("asyncpg")


def _postgres(exc: BaseException, settings: StateStorage) -> Failure:
    host, port, database = postgres_target(settings.connection_string or "")
    where = f"PostgreSQL at {host}:{port} (database {database})"
    if isinstance(exc, StorageUnavailable):
        return Failure(
            f"cannot reach {where}: {_reason(exc.__cause__ or exc)}; start the server, or fix "
            "state_storage.connection_string",
            EXIT_DATABASE,
        )
    return Failure(f"{where} refused the connection: {exc}; fix state_storage.connection_string", EXIT_DATABASE)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "unknown host"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc).removeprefix("PostgreSQL: ")


def _sqlite(exc: BaseException, path: str) -> Failure:
    full = os.path.abspath(path)
    folder = os.path.dirname(full)
    if not os.path.isdir(folder):
        reason = f"its folder {folder} does not exist"
    elif not os.access(folder, os.W_OK):
        reason = f"its folder {folder} is not writable"
    elif os.path.exists(full) and not os.access(full, os.W_OK):
        reason = "the file is read-only"
    else:
        reason = str(exc).removeprefix("SQLite: ")
    return Failure(
        f"cannot open the SQLite state file {full} for writing: {reason}; set state_storage.path to a file in a "
        "writable folder",
        EXIT_STATE_FILE,
    )


def _address(exc: OSError, host: str, port: int) -> Failure:
    if exc.errno == errno.EADDRINUSE:
        return Failure(
            f"port {port} on {host} is already in use; stop what holds it, or pick another port with --port N "
            "(or listeners[0].port in the config)",
            EXIT_ADDRESS,
        )
    if exc.errno == errno.EACCES:
        return Failure(f"no permission to listen on port {port}; pick a port above 1023 with --port N", EXIT_ADDRESS)
    return Failure(
        f"cannot listen on {host}:{port}: {exc.strerror or exc}; fix listeners[0].address or use --host",
        EXIT_ADDRESS,
    )
