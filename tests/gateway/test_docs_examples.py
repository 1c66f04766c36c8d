"""Every command and code block of README.md and docs/ runs as written, against a real gateway and the mock.

A copy of the project (package, scripts, docs, shipped config) gets a `.venv` that sees this test run's packages
(the SDKs, the frameworks) but not its plano-proxy: README's `./scripts/serve` installs the copy into it and starts
the gateway with the mock upstream, on free ports (`--port` and `PLANO_MOCK_PORT`; the one change made to any block
is the gateway's port in its URLs). Then each block runs in document order, in the copy:

- ``sh``: by bash with ``set -euo pipefail``;
- ``python``: by the copy's ``.venv/bin/python``;
- ``yaml``: a config, validated by ``plano-proxy check`` (a whole config alone, a fragment merged into the shipped
  one).

Each must exit 0 and print no error object. A block marked ``<!-- docs-test: skip: <reason> -->`` on the line before
it is skipped with that reason, and only those: run with ``-v -rs`` to list every block with its outcome. A fence
without a language is a figure (a diagram, sample output), not run, and must not look like a command.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import site
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from support.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
COPIED = ("proxy", "transformers", "storage", "scripts", "docs", "README.md", "plano_config.yaml", "setup.cfg")
SKIP = re.compile(r"<!--\s*docs-test:\s*skip:\s*(?P<reason>.+?)\s*-->")
FENCE = re.compile(r"^```(?P<lang>[\w-]*)\s*$")
LOOKS_LIKE_A_COMMAND = re.compile(r"^\s*(\$ |\./|\.venv/|curl |python|pip |plano-proxy )")
SERVE = "./scripts/serve"
BLOCK_TIMEOUT = 240


@dataclass(frozen=True, slots=True)
class Block:
    path: Path
    line: int
    lang: str
    code: str
    skip: str | None

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}:{self.lang or 'figure'}"


def blocks() -> list[Block]:
    found = []
    for path in DOCS:
        lines = path.read_text().splitlines()
        index = 0
        while index < len(lines):
            opening = FENCE.match(lines[index])
            if opening is None:
                index += 1
                continue
            end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
            marker = SKIP.search(lines[index - 1]) if index else None
            code = "\n".join(lines[index + 1 : end]) + "\n"
            found.append(Block(path, index + 1, opening["lang"], code, marker["reason"] if marker else None))
            index = end + 1
    return found


BLOCKS = blocks()


@dataclass
class Site:
    """The copy of the project, and the gateway README's serve command runs from it."""

    path: Path
    port: int
    mock_port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None
    started_in: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")}
        return {**env, "PLANO_MOCK_PORT": str(self.mock_port), "PYTHONUNBUFFERED": "1"}

    def serve(self, block: str) -> None:
        """Run README's serve command (its port the test's) and wait until the gateway answers."""
        started = time.monotonic()
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                ["bash", "-c", f"{block.strip()} --port {self.port}"],
                cwd=self.path,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a process group, so Ctrl-C can be sent as a terminal would
            )
        deadline = started + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"{block.strip()} exited with {self.process.returncode}:\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1):
                    self.started_in = time.monotonic() - started
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"{block.strip()} did not answer in time:\n{self.log.read_text()}")

    def interrupt(self) -> int:
        """Ctrl-C, as a terminal sends it to the whole foreground group."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGINT)
        return self.process.wait(timeout=60)


@pytest.fixture(scope="module")
def docs_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    path = tmp_path_factory.mktemp("docs-site")
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, path / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, path / name)
    shutil.copy2(ROOT / "pyproject.toml", path / "pyproject.toml")
    # A venv of the copy's own, which sees this run's packages (SDKs, frameworks, pip) through a .pth file.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path / ".venv")], check=True)
    packages = next(Path(p) for p in site.getsitepackages() if p.endswith("site-packages"))
    own = path / ".venv" / packages.relative_to(sys.prefix)
    (own / "_test_run_packages.pth").write_text(f"{packages}\n")
    served = Site(path, free_port(), free_port(), path / "serve.log")
    serve_block = next(block for block in BLOCKS if block.code.strip() == SERVE and block.skip is None)
    served.serve(serve_block.code)
    yield served
    if served.process is not None and served.process.poll() is None:
        served.interrupt()


def pointed_at(code: str, site: Site) -> str:
    return code.replace("127.0.0.1:12000", f"127.0.0.1:{site.port}")


def run(command: list[str], site: Site) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=site.path, env=site.env(), capture_output=True, text=True, timeout=BLOCK_TIMEOUT)


def check_config(block: Block, site: Site) -> subprocess.CompletedProcess[str]:
    text = yaml.safe_load(block.code)
    if "model_providers" not in text:  # a fragment: merged into the shipped config
        shipped = yaml.safe_load((site.path / "plano_config.yaml").read_text())
        text = merged(shipped, text)
    config = site.path / f"block-{block.line}.yaml"
    config.write_text(yaml.safe_dump(text))
    return run([str(site.path / ".venv" / "bin" / "plano-proxy"), "check", "--config", str(config)], site)


def merged(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def check_serve(site: Site) -> None:
    """The first start installed the copy and said where the mock and the gateway listen; a restart installs
    nothing and is back within seconds."""
    first = site.log.read_text()
    assert "plano-proxy: installing into .venv" in first
    assert f"the mock upstream on 127.0.0.1:{site.mock_port}" in first
    assert f"listening on {site.url}, state: sqlite at {site.path / 'plano_state.db'}" in first
    assert site.interrupt() == 0
    assert site.log.read_text().rstrip().endswith("stopped cleanly")
    site.log.write_text("")
    site.serve(SERVE)
    print(f"restarted in {site.started_in:.2f} s")
    assert "installing" not in site.log.read_text()
    assert site.started_in < 3


@pytest.mark.parametrize("block", BLOCKS, ids=[block.name for block in BLOCKS])
def test_block_runs_as_written(block: Block, docs_site: Site) -> None:
    """The block runs in a copy of the project against the gateway README's serve command started."""
    if block.skip is not None:
        pytest.skip(f"marked in the docs: {block.skip}")
    if block.lang in ("", "text"):
        assert not LOOKS_LIKE_A_COMMAND.match(block.code), "a command in a figure: give its fence a language"
        pytest.skip("a figure (diagram or sample output), not code")
    if block.lang == "sh" and block.code.strip() == SERVE:
        return check_serve(docs_site)
    if block.lang == "sh":
        result = run(["bash", "-c", "set -euo pipefail\n" + pointed_at(block.code, docs_site)], docs_site)
    elif block.lang == "python":
        result = run(
            [str(docs_site.path / ".venv" / "bin" / "python"), "-c", pointed_at(block.code, docs_site)], docs_site
        )
    elif block.lang == "yaml":
        result = check_config(block, docs_site)
    else:
        raise AssertionError(f"no way to run a {block.lang!r} block here: mark it with its reason")
    assert result.returncode == 0, f"{block.name} failed:\n{result.stdout}\n{result.stderr}"
    assert not re.search(r'"error":\s*[{"]', result.stdout), result.stdout  # "error": null is no error


def test_readme_has_two_setup_commands() -> None:
    """README's Set up section asks for two commands, no more."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Set up", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    assert [command.strip() for command in commands] == ["./scripts/serve", "./scripts/test"]
