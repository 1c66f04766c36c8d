"""LiteLLM's proxy, installed and run beside the gateway so `scripts/bench.py` can compare the two on one mock upstream.

LiteLLM goes into a throwaway venv of its own (never the project's), from PyPI, at the pinned version below; a venv
that already holds that version is reused as it is. The proxy runs offline and without a database: every remote
fetch LiteLLM can skip is switched to its bundled copy (cost map, Anthropic beta headers, ...), it sees only the
environment variables it needs, and it logs errors only, to a file in its work folder.

    ensure_litellm(venv) -> path of the `litellm` executable
    start_litellm(executable, "http://127.0.0.1:PORT/v1", port, workdir, workers=1) -> the proxy's process
    wait_litellm_ready(port, timeout)

Manual check: start the mock upstream, install and start LiteLLM, send one chat completion through it, stop both::

    python scripts/litellm_side.py [--venv DIR] [--workers N]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

SCRIPTS: Final = Path(__file__).resolve().parent

LITELLM_VERSION: Final = "1.106.12"
"""A release whose `proxy` extra resolves from PyPI alone: the later ones tried (1.108.14, 1.109.3, 1.110.2) need
companion packages at versions PyPI did not serve. Check a newer release installs and runs here before moving the
pin."""
LITELLM_REQUIREMENT: Final = f"litellm[proxy]=={LITELLM_VERSION}"
MODEL: Final = "gpt-4o-mini"
"""The model name clients ask for; LiteLLM maps it to the OpenAI-compatible upstream."""

VENV_TIMEOUT: Final = 120.0
INSTALL_TIMEOUT: Final = 900.0
"""A first install downloads about 120 packages (~750 MB installed); about 80 s on a good link."""
PROBE_TIMEOUT: Final = 30.0
STOP_TIMEOUT: Final = 30.0
LOG_NAME: Final = "litellm.log"
CONFIG_NAME: Final = "litellm_config.yaml"

OFFLINE_ENV: Final = {
    # The model cost map is fetched from GitHub at import unless told to use the copy bundled in the package.
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    # The same for the other remote lists LiteLLM refreshes: Anthropic beta headers, the admin UI's blog posts,
    # auto-router presets and policy templates.
    "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
    "LITELLM_LOCAL_BLOG_POSTS": "True",
    "LITELLM_LOCAL_AUTOROUTER_PRESETS": "True",
    "LITELLM_LOCAL_POLICY_TEMPLATES": "True",
    # LiteLLM itself sends no usage telemetry in this release (its `--telemetry` flag is a no-op). The Hugging Face
    # hub client it brings for some tokenizers would phone home or download; keep it offline and silent.
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    # PRODUCTION: do not read a `.env` file from the working folder (DEV mode does).
    "LITELLM_MODE": "PRODUCTION",
    # Errors only: no per-request access log or debug lines to slow the proxy or fill the log.
    "LITELLM_LOG": "ERROR",
}
PASSED_THROUGH: Final = ("PATH", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR")
"""The only variables of ours LiteLLM sees: no provider keys, no DATABASE_URL (so no database), no proxies."""

_started: dict[int, tuple[subprocess.Popen[bytes], Path]] = {}
"""Processes started here, by port, with their log: what `wait_litellm_ready` reports on."""


# ---------------------------------------------------------------------------------------------------------------
# Installing


def _venv_bin(venv: Path, name: str) -> Path:
    return venv / "bin" / name


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def installed_version(venv: Path) -> str | None:
    """The litellm version installed in `venv`, or None when there is none or the venv's Python does not run."""
    python = _venv_bin(venv, "python")
    if not python.exists():
        return None
    probe = "import importlib.metadata as m; print(m.version('litellm'))"
    try:
        done = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, timeout=PROBE_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _create_venv(venv: Path) -> None:
    """A new venv at `venv`, replacing a broken one; a folder that is not a venv is left alone."""
    if venv.exists() and any(venv.iterdir()) and not (venv / "pyvenv.cfg").exists():
        raise RuntimeError(f"{venv} is not empty and not a venv: not replacing it")
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, timeout=VENV_TIMEOUT)


def _pip_install(venv: Path) -> None:
    log = venv / "install.log"
    command = [
        str(_venv_bin(venv, "python")),
        *("-m", "pip", "install", "--disable-pip-version-check", "--no-input"),
        # Wheels only: no package's build script runs on this machine.
        *("--only-binary", ":all:"),
        LITELLM_REQUIREMENT,
    ]
    with log.open("wb") as out:
        try:
            done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, timeout=INSTALL_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"installing {LITELLM_REQUIREMENT} took over {INSTALL_TIMEOUT:.0f} s") from None
    if done.returncode != 0:
        raise RuntimeError(f"installing {LITELLM_REQUIREMENT} failed; end of {log}:\n{_tail(log)}")


def _pip_runs(venv: Path) -> bool:
    python = _venv_bin(venv, "python")
    try:
        done = subprocess.run([str(python), "-m", "pip", "--version"], capture_output=True, timeout=PROBE_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def ensure_litellm(venv: Path) -> Path:
    """The `litellm` executable of `venv`, after installing the pinned LiteLLM there if it is not already.

    A venv holding the pinned version is reused untouched; one holding another version is reinstalled over; a
    missing or broken one is created anew.
    """
    executable = _venv_bin(venv, "litellm")
    if executable.exists() and installed_version(venv) == LITELLM_VERSION:
        return executable
    if not _pip_runs(venv):
        _create_venv(venv)
    _pip_install(venv)
    if not executable.exists() or installed_version(venv) != LITELLM_VERSION:
        raise RuntimeError(f"{venv} has no working {LITELLM_REQUIREMENT} after installing it")
    return executable


# ---------------------------------------------------------------------------------------------------------------
# Running


def litellm_env(workdir: Path) -> dict[str, str]:
    """A small environment for the proxy: the few variables it needs from ours, the offline settings, and `workdir`
    as its home, so whatever it caches or saves stays in the throwaway folder."""
    env = {name: os.environ[name] for name in PASSED_THROUGH if name in os.environ}
    env.setdefault("PATH", os.defpath)
    return {**env, **OFFLINE_ENV, "HOME": str(workdir)}


def write_config(workdir: Path, upstream_base_url: str) -> Path:
    """A LiteLLM config with one model, `gpt-4o-mini`, sent to the OpenAI-compatible `upstream_base_url`."""
    # JSON strings are valid YAML scalars, so json.dumps quotes each value safely.
    config = workdir / CONFIG_NAME
    config.write_text(
        "model_list:\n"
        f"  - model_name: {json.dumps(MODEL)}\n"
        "    litellm_params:\n"
        f"      model: {json.dumps('openai/' + MODEL)}\n"
        f"      api_base: {json.dumps(upstream_base_url)}\n"
        '      api_key: "dummy-key"\n'
        # No master key, so clients send no key, as with the gateway; LiteLLM refuses that unless told. It listens
        # on the loopback only.
        "general_settings:\n"
        "  dangerously_permit_weak_or_unset_master_key: true\n"
    )
    return config


def start_litellm(
    executable: Path, upstream_base_url: str, port: int, workdir: Path, workers: int = 1
) -> subprocess.Popen[bytes]:
    """LiteLLM's proxy on 127.0.0.1:`port` in front of `upstream_base_url`, logging to `workdir`/litellm.log.

    Returns at once; `wait_litellm_ready(port, timeout)` waits until it answers. Terminating the returned process
    stops its workers too.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    config = write_config(workdir, upstream_base_url)
    log_path = workdir / LOG_NAME
    command = [str(executable), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    command += ["--num_workers", str(workers)]
    env = litellm_env(workdir)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=workdir, env=env
        )
    _started[port] = (process, log_path)
    return process


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def wait_litellm_ready(port: int, timeout: float = 180.0, log_path: Path | None = None) -> None:
    """Waits until the proxy on `port` answers its liveness check; raises with the end of its log otherwise.

    The log is the one `start_litellm` chose for this port, unless `log_path` names another. With several workers
    the first one up answers: the others join while the benchmark warms up.
    """
    process, known_log = _started.get(port, (None, None))
    log = log_path or known_log
    url = f"http://127.0.0.1:{port}/health/liveliness"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _answers(url):
            return
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"LiteLLM exited with {process.returncode} before answering; {_log_report(log)}")
        time.sleep(0.2)
    raise RuntimeError(f"LiteLLM did not answer {url} within {timeout:.0f} s; {_log_report(log)}")


def _log_report(log: Path | None) -> str:
    return f"end of {log}:\n{_tail(log)}" if log is not None else "no log known for this port"


def stop_process(process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> None:
    """Terminates `process` and waits for it; kills it when it does not stop in `timeout` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for port, (started, _) in list(_started.items()):
        if started is process:
            del _started[port]


# ---------------------------------------------------------------------------------------------------------------
# Manual check


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not _answers(url):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not come up within {timeout:.0f} s")
        time.sleep(0.1)


@contextmanager
def mock_upstream() -> Iterator[str]:
    """The project's mock upstream on a free port; yields its base URL."""
    port = free_port()
    command = [sys.executable, str(SCRIPTS / "mock_upstream.py"), "--port", str(port)]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/v1/models", timeout=20)
        yield base
    finally:
        stop_process(process)


def chat_once(base: str) -> dict[str, Any]:
    """One non-streaming chat completion from `base`, decoded."""
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hello"}]}
    request = urllib.request.Request(
        f"{base}/v1/chat/completions", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        answer: dict[str, Any] = json.load(response)
    return answer


def manual_check(venv: Path, workers: int) -> None:
    started = time.monotonic()
    executable = ensure_litellm(venv)
    print(f"LiteLLM {LITELLM_VERSION} ready to run in {time.monotonic() - started:.1f} s: {executable}", flush=True)
    with mock_upstream() as mock, tempfile.TemporaryDirectory(prefix="plano-litellm-") as workdir:
        port = free_port()
        started = time.monotonic()
        process = start_litellm(executable, f"{mock}/v1", port, Path(workdir), workers=workers)
        try:
            wait_litellm_ready(port, timeout=180)
            print(f"LiteLLM with {workers} worker(s) answered after {time.monotonic() - started:.1f} s", flush=True)
            print(json.dumps(chat_once(f"http://127.0.0.1:{port}"), indent=2))
        finally:
            stop_process(process)


def main() -> int:
    parser = argparse.ArgumentParser(description="Send one chat completion through LiteLLM to the mock upstream.")
    parser.add_argument("--venv", type=Path, default=Path(tempfile.gettempdir()) / "plano-bench-litellm")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    manual_check(args.venv, args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
