"""The ``plano-proxy`` command: ``serve`` runs the gateway, ``check`` validates a config and prints its models,
``migrate`` brings the state store's schema up to date, ``prune`` applies the retention policy once.

Exit statuses are listed in `plano_proxy.proxy.startup`: 0 done, 2 invalid config or command line, 3 PostgreSQL
unreachable, 4 SQLite file not writable, 5 listen address in use; anything else unexpected is 1, with a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import structlog
from aiohttp import web

from plano_proxy.proxy.app import create_app
from plano_proxy.proxy.config import Config, ConfigError, Retention, load_config
from plano_proxy.proxy.config.values import duration, size
from plano_proxy.proxy.logs import LogFormat, configure_logging
from plano_proxy.proxy.metrics import MULTIPROCESS_ENV
from plano_proxy.proxy.startup import EXIT_CONFIG, Failure, explain, listening_line
from plano_proxy.proxy.sweeper import apply_retention
from plano_proxy.proxy.upstream.routing import ModelTable
from plano_proxy.storage import Store, open_store

log = structlog.get_logger("plano_proxy.cli")
T = TypeVar("T")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    # Only serve calls providers: the other commands work without their keys.
    config = _load(args.config, keys_required=args.command == "serve")
    if config is None:
        return EXIT_CONFIG
    if args.command == "check":
        return check(config, args)
    if args.command in ("migrate", "prune"):
        unset = [problem for problem in config.unset_variables if problem.startswith("state_storage")]
        if unset:
            _say_problems(args.config, unset)
            return EXIT_CONFIG
        command = migrate if args.command == "migrate" else prune
        return _explained(lambda: command(config, args), config, args.debug)
    return serve(config, args)


def _load(path: str, *, keys_required: bool) -> Config | None:
    try:
        return load_config(path, keys_required=keys_required)
    except ConfigError as exc:
        _say_problems(path, list(exc.problems))
        return None


def _say_problems(path: str, problems: list[str]) -> None:
    if len(problems) == 1:
        print(f"plano-proxy: invalid config {path}: {problems[0]}", file=sys.stderr)
        return
    print(f"plano-proxy: invalid config {path}: {len(problems)} problems", file=sys.stderr)
    for problem in problems:
        print(f"  - {problem}", file=sys.stderr)


def _explained(run: Callable[[], int], config: Config, debug: bool, host: str | None = None, port: int = 0) -> int:
    """Run a command; a failure with a known cause is one line (the traceback too with --debug) and its status."""
    try:
        return run()
    except Exception as exc:
        failure = explain(exc, config, host, port)
        if failure is None:
            raise
        _say_failure(failure, exc, debug)
        return failure.status


def _say_failure(failure: Failure, exc: BaseException, debug: bool) -> None:
    if debug:
        traceback.print_exception(exc)
    print(f"plano-proxy: {failure.message}", file=sys.stderr)


def check(config: Config, args: argparse.Namespace) -> int:
    for key in config.ignored_keys:  # the command's own report, beside the table it prints
        print(
            f"plano-proxy: warning: {args.config}: {key} is a Plano setting plano-proxy does not implement; "
            "it is ignored",
            file=sys.stderr,
        )
    for problem in config.unset_variables:
        print(f"plano-proxy: warning: {args.config}: {problem}; serve will not start without it", file=sys.stderr)
    print(model_table(config))
    if args.strict and config.unset_variables:
        count = len(config.unset_variables)
        print(f"plano-proxy: --strict: {count} environment variable{'s' * (count > 1)} not set", file=sys.stderr)
        return EXIT_CONFIG
    return 0


def migrate(config: Config, args: argparse.Namespace) -> int:
    """Opening a durable store applies its pending migrations (safely, if instances start at the same time)."""
    settings = config.state_storage
    if settings is None or settings.type == "memory":
        print("plano-proxy: nothing to migrate (no durable state_storage configured)")
        return 0
    asyncio.run(_with_store(config, _nothing))
    print(f"plano-proxy: {settings.type} state store is at the current schema version")
    return 0


def prune(config: Config, args: argparse.Namespace) -> int:
    """Apply the retention policy once, as the gateway's sweeper does; flags override the configured policy."""
    settings = config.state_storage
    configured = settings.retention if settings is not None else None
    max_age = args.max_age if args.max_age is not None else (configured.max_age if configured else None)
    max_size = args.max_size if args.max_size is not None else (configured.max_size if configured else None)
    if settings is None or settings.type == "memory":
        print("plano-proxy: nothing to prune (no durable state_storage configured)")
        return 0
    if max_age is None:
        print(
            "plano-proxy: no retention to apply: set state_storage.retention.max_age or pass --max-age",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    policy = Retention(max_age=max_age, max_size=max_size)

    async def run(store: Store) -> str:
        pruned = await apply_retention(store, policy)
        stats = await store.stats()
        return (
            f"plano-proxy: pruned {pruned.responses} responses and {pruned.conversations} conversations idle "
            f"for more than {_span(max_age)}{f' or over {max_size:,} bytes' if max_size else ''}; the store holds "
            f"{stats.responses} responses, {stats.conversations} conversations, {stats.bytes:,} bytes of JSON"
        )

    print(asyncio.run(_with_store(config, run)))
    return 0


async def _nothing(store: Store) -> None:
    return None


async def _with_store(config: Config, work: Callable[[Store], Any]) -> Any:
    settings = config.state_storage
    assert settings is not None
    options: dict[str, Any] = {"schema": settings.schema} if settings.schema else {}
    store = await open_store(settings.type, path=settings.path, connection_string=settings.connection_string, **options)
    try:
        return await work(store)
    finally:
        await store.close()


def _span(seconds: float) -> str:
    for unit, length in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= length and seconds % length == 0:
            return f"{int(seconds // length)}{unit}"
    return f"{seconds:g}s"


def _typed(reader: Callable[[Any, str], T], what: str) -> Callable[[str], T]:
    def parse(text: str) -> T:
        try:
            return reader(text, what)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="plano-proxy", description="An LLM gateway for OpenAI and Anthropic clients.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="run the gateway")
    check_cmd = commands.add_parser("check", help="validate a config and print its model table")
    migrate_cmd = commands.add_parser("migrate", help="apply schema migrations to the configured state store and exit")
    prune_cmd = commands.add_parser("prune", help="remove idle chains and conversations from the state store once")
    for command in (serve_cmd, check_cmd, migrate_cmd, prune_cmd):
        command.add_argument("--config", default="plano_config.yaml", help="path to plano_config.yaml")
        command.add_argument("--debug", action="store_true", help="print the traceback of a failure")
    check_cmd.add_argument(
        "--strict", action="store_true", help="fail (exit 2) when a variable the config names is unset"
    )
    prune_cmd.add_argument(
        "--max-age", type=_typed(duration, "--max-age"), help="remove what is idle for longer (e.g. 30d)"
    )
    prune_cmd.add_argument("--max-size", type=_typed(size, "--max-size"), help="then the oldest while over (e.g. 1GB)")
    serve_cmd.add_argument("--port", type=int, help="listen on this port instead of the listener's")
    serve_cmd.add_argument("--host", help="listen on this address instead of the listener's")
    serve_cmd.add_argument("--log-format", choices=("json", "console"), default="json")
    serve_cmd.add_argument(
        "--workers", type=int, default=1, help="worker processes sharing the port (SO_REUSEPORT); default 1"
    )
    return parser


def serve(config: Config, args: argparse.Namespace) -> int:
    configure_logging(args.log_format)
    for key in config.ignored_keys:
        log.warning("config_key_ignored", config=args.config, key=key)
    host = args.host or config.listener.address
    port = config.listener.port if args.port is None else args.port
    if args.workers < 1:
        print("plano-proxy: --workers must be at least 1", file=sys.stderr)
        return EXIT_CONFIG
    if args.workers == 1:
        return _run_worker(config, host, port, args.log_format, args.debug, reuse_port=False)
    if config.state_storage is not None and config.state_storage.type == "memory":
        print(
            "plano-proxy: the memory state store lives inside one process, so with --workers > 1 a follow-up "
            "request could reach a worker that does not know its history; use state_storage type sqlite or "
            "postgres, or run one worker",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    return _run_workers(config, host, port, args)


class _Lifecycle:
    """The lines that say the gateway runs (once its port is bound) and that it stops; one that failed to start
    says only why."""

    def __init__(self, config: Config, host: str, port: int, workers: int) -> None:
        self._line = listening_line(config, host, port, workers)
        self._grace = config.listener.shutdown_grace
        self._announce = workers > 0
        self.listening = False

    def bound(self, *_: object) -> None:
        """aiohttp's ``print``, called once the port is bound."""
        self.listening = True
        if self._announce:
            log.info(self._line)

    async def shutting_down(self, app: web.Application) -> None:
        if self.listening and self._announce:
            log.info(f"shutting down: no new connections, open requests have up to {self._grace:g}s to finish")

    def stopped(self) -> None:
        if self._announce:
            log.info("stopped cleanly")


def _run_worker(
    config: Config, host: str, port: int, log_format: LogFormat, debug: bool, *, reuse_port: bool, workers: int = 1
) -> int:
    """``workers`` is the number the first worker announces; the others (0) say nothing of the lifecycle."""
    configure_logging(log_format)
    _install_uvloop()
    app = create_app(config, multiprocess_metrics=reuse_port)
    lifecycle = _Lifecycle(config, host, port, workers)
    app.on_shutdown.append(lifecycle.shutting_down)

    def run() -> int:
        web.run_app(
            app,
            host=host,
            port=port,
            access_log=None,
            print=lifecycle.bound,
            shutdown_timeout=config.listener.shutdown_grace,
            reuse_port=reuse_port,
            # A client that disconnects cancels its handler at once, which closes the upstream request with it.
            handler_cancellation=True,
        )
        lifecycle.stopped()
        return 0

    return _explained(run, config, debug, host, port)


def _worker_process(config: Config, host: str, port: int, args: argparse.Namespace, announce: int) -> None:
    sys.exit(_run_worker(config, host, port, args.log_format, args.debug, reuse_port=True, workers=announce))


def _run_workers(config: Config, host: str, port: int, args: argparse.Namespace) -> int:
    """Worker processes bound to one port with SO_REUSEPORT; the kernel spreads connections across them."""
    # prometheus-client keeps each worker's values in files here, so a scrape of any worker sees them all.
    metrics_dir = tempfile.mkdtemp(prefix="plano-metrics-")
    os.environ[MULTIPROCESS_ENV] = metrics_dir
    context = multiprocessing.get_context("spawn")
    workers = [
        # The first worker says what runs, for all of them.
        context.Process(target=_worker_process, args=(config, host, port, args, args.workers if n == 0 else 0))
        for n in range(args.workers)
    ]
    for worker in workers:
        worker.start()

    def stop(signum: int, frame: object) -> None:
        for worker in workers:
            if worker.is_alive() and worker.pid is not None:
                os.kill(worker.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for worker in workers:
        worker.join()
    shutil.rmtree(metrics_dir, ignore_errors=True)
    return max((worker.exitcode or 0) for worker in workers)


def model_table(config: Config) -> str:
    """One row per name a client can use; keys are never shown."""
    table = ModelTable(config)
    rows = [("NAME", "ALIAS OF", "PROVIDER", "INTERFACE", "UPSTREAM URL")]
    for provider in config.providers:
        marker = " (default)" if provider.default else ""
        rows.append((provider.qualified_name + marker, "", provider.provider, provider.interface, provider.base_url))
    for alias, target in table.aliases().items():
        provider = table.resolve(alias).provider
        rows.append((alias, target, provider.provider, provider.interface, provider.base_url))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def _install_uvloop() -> None:
    try:
        import uvloop
    except ImportError:
        return
    uvloop.install()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("plano-proxy")
    except PackageNotFoundError:
        return "unknown"
