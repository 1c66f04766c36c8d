"""The ``plano-proxy`` command: ``serve`` runs the gateway, ``check`` validates a config and prints its models."""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

import structlog
from aiohttp import web

from plano_proxy.proxy.app import create_app
from plano_proxy.proxy.config import Config, ConfigError, load_config
from plano_proxy.proxy.logs import LogFormat, configure_logging
from plano_proxy.proxy.metrics import MULTIPROCESS_ENV
from plano_proxy.proxy.upstream.routing import ModelTable
from plano_proxy.storage import StorageUnavailable, open_store

log = structlog.get_logger("plano_proxy.cli")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"plano-proxy: invalid config {args.config}: {exc}", file=sys.stderr)
        return 2
    if args.command == "check":
        for key in config.ignored_keys:  # the command's own report, beside the table it prints
            print(
                f"plano-proxy: warning: {args.config}: {key} is not a setting plano-proxy reads; it is ignored",
                file=sys.stderr,
            )
        print(model_table(config))
        return 0
    if args.command == "migrate":
        return migrate(config)
    return serve(config, args)


def migrate(config: Config) -> int:
    """Opening a durable store applies its pending migrations (safely, if instances start at the same time)."""
    settings = config.state_storage
    if settings is None or settings.type == "memory":
        print("plano-proxy: nothing to migrate (no durable state_storage configured)")
        return 0

    async def run() -> None:
        options: dict[str, Any] = {"schema": settings.schema} if settings.schema else {}
        store = await open_store(
            settings.type, path=settings.path, connection_string=settings.connection_string, **options
        )
        await store.close()

    try:
        asyncio.run(run())
    except StorageUnavailable as exc:
        print(f"plano-proxy: the {settings.type} state store is unavailable: {exc}", file=sys.stderr)
        return 1
    print(f"plano-proxy: {settings.type} state store is at the current schema version")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="plano-proxy", description="An LLM gateway for OpenAI and Anthropic clients.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="run the gateway")
    check_cmd = commands.add_parser("check", help="validate a config and print its model table")
    migrate_cmd = commands.add_parser("migrate", help="apply schema migrations to the configured state store and exit")
    for command in (serve_cmd, check_cmd, migrate_cmd):
        command.add_argument("--config", default="plano_config.yaml", help="path to plano_config.yaml")
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
        return 2
    if args.workers == 1:
        _run_worker(config, host, port, args.log_format, reuse_port=False)
        return 0
    if config.state_storage is not None and config.state_storage.type == "memory":
        print(
            "plano-proxy: the memory state store lives inside one process, so with --workers > 1 a follow-up "
            "request could reach a worker that does not know its history; use state_storage type sqlite or "
            "postgres, or run one worker",
            file=sys.stderr,
        )
        return 2
    return _run_workers(config, host, port, args)


def _run_worker(config: Config, host: str, port: int, log_format: LogFormat, *, reuse_port: bool) -> None:
    configure_logging(log_format)
    _install_uvloop()
    web.run_app(
        create_app(config, multiprocess_metrics=reuse_port),
        host=host,
        port=port,
        access_log=None,
        print=None,
        shutdown_timeout=config.listener.shutdown_grace,
        reuse_port=reuse_port,
        # A client that disconnects cancels its handler at once, which closes the upstream request with it.
        handler_cancellation=True,
    )


def _run_workers(config: Config, host: str, port: int, args: argparse.Namespace) -> int:
    """Worker processes bound to one port with SO_REUSEPORT; the kernel spreads connections across them."""
    # prometheus-client keeps each worker's values in files here, so a scrape of any worker sees them all.
    metrics_dir = tempfile.mkdtemp(prefix="plano-metrics-")
    os.environ[MULTIPROCESS_ENV] = metrics_dir
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_run_worker, args=(config, host, port, args.log_format), kwargs={"reuse_port": True})
        for _ in range(args.workers)
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
