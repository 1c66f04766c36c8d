"""A private PostgreSQL cluster that a test (or a script) may stop and start at will.

The shared test server must never be stopped, so outages are played on a cluster of our own: created with the
machine's ``initdb`` in a temporary folder, listening on 127.0.0.1 only on a free port of its own, trust auth, and
destroyed with its folder at the end. PostgreSQL refuses to run as root, so as root every server command runs as the
``postgres`` OS user, which owns the folder.

    cluster = PgCluster()
    try:
        cluster.start()
        ...                          # cluster.dsn
        cluster.stop()               # pg_ctl stop -m fast: backends terminated, connections refused
        cluster.start()
    finally:
        cluster.destroy()
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

_BINARIES = ("initdb", "pg_ctl")
_SERVER_USER = "postgres"
_SHARED_PORT = 5432


def missing() -> str | None:
    """Why a cluster cannot be made here, or None if it can."""
    absent = [name for name in _BINARIES if shutil.which(name) is None]
    if absent:
        return f"{', '.join(absent)} not found on PATH"
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return "running as root and runuser not found (PostgreSQL refuses to run as root)"
        try:
            pwd.getpwnam(_SERVER_USER)
        except KeyError:
            return f"running as root and no {_SERVER_USER!r} OS user to run PostgreSQL as"
    return None


def require_cluster() -> None:
    """For tests: skip with the reason when no cluster can be made, or fail if ``PLANO_REQUIRE_POSTGRES=1``."""
    import pytest

    problem = missing()
    if problem is None:
        return
    message = f"cannot create a private PostgreSQL cluster: {problem}"
    if os.environ.get("PLANO_REQUIRE_POSTGRES") == "1":
        pytest.fail(message + " and PLANO_REQUIRE_POSTGRES=1", pytrace=False)
    pytest.skip(message + " (PLANO_REQUIRE_POSTGRES=1 makes this fail)")


def _free_port() -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port != _SHARED_PORT:
            return port


class PgCluster:
    """`start()` creates the cluster on first use; `stop()`, `restart()`; `destroy()` stops it and removes it all."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.dsn = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.root = Path(tempfile.mkdtemp(prefix="plano-pg-"))
        self.data = self.root / "data"
        self.log_path = self.root / "server.log"
        self._as_server_user = os.geteuid() == 0
        if self._as_server_user:
            server_user = pwd.getpwnam(_SERVER_USER)
            os.chown(self.root, server_user.pw_uid, server_user.pw_gid)

    def start(self, timeout: int = 30) -> None:
        if not self.data.exists():
            self._initdb()
        self._pg_ctl("start", "--wait", f"--timeout={timeout}", "--log", str(self.log_path))

    def stop(self, mode: str = "fast", timeout: int = 30) -> None:
        """``fast`` terminates every backend at once (their clients see their connections close) and refuses new
        ones until the next start; ``immediate`` is a crash without a checkpoint."""
        self._pg_ctl("stop", "--wait", f"--timeout={timeout}", "--mode", mode)

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    @property
    def running(self) -> bool:
        if not self.data.exists():
            return False
        return self._run("pg_ctl", "status", "--pgdata", str(self.data), check=False).returncode == 0

    def destroy(self) -> None:
        """Stop the server if it runs (immediately: nothing in it is kept) and remove the folder."""
        try:
            if self.running:
                self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> PgCluster:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.destroy()

    def _initdb(self) -> None:
        self._run(
            "initdb", "--pgdata", str(self.data), "--username", "postgres", "--auth", "trust", "--encoding", "UTF8"
        )
        settings = {
            "port": str(self.port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.root}'",  # not the system's socket folder
            "fsync": "off",  # a clean stop still checkpoints: only a machine crash could lose what it holds
            "max_connections": "50",
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def _pg_ctl(self, *args: str) -> None:
        try:
            self._run("pg_ctl", *args, "--pgdata", str(self.data))
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(f"pg_ctl {args[0]} failed: {exc.stderr}\n{self.log()}") from exc

    def _run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", _SERVER_USER, "--"] if self._as_server_user else []
        return subprocess.run(
            [*prefix, *command], check=check, capture_output=True, text=True, timeout=60, cwd=self.root
        )
