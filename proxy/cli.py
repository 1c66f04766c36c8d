"""The ``plano-proxy`` command: ``serve`` runs the gateway, ``check`` validates a config and prints its models."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from aiohttp import web

from plano_proxy.proxy.app import create_app
from plano_proxy.proxy.config import Config, ConfigError, load_config
from plano_proxy.proxy.logs import configure_logging
from plano_proxy.proxy.routing import ModelTable


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"plano-proxy: invalid config {args.config}: {exc}", file=sys.stderr)
        return 2
    if args.command == "check":
        print(model_table(config))
        return 0
    return serve(config, args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="plano-proxy", description="An LLM gateway for OpenAI and Anthropic clients.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="run the gateway")
    check_cmd = commands.add_parser("check", help="validate a config and print its model table")
    for command in (serve_cmd, check_cmd):
        command.add_argument("--config", default="plano_config.yaml", help="path to plano_config.yaml")
    serve_cmd.add_argument("--port", type=int, help="listen on this port instead of the listener's")
    serve_cmd.add_argument("--host", help="listen on this address instead of the listener's")
    serve_cmd.add_argument("--log-format", choices=("json", "console"), default="json")
    return parser


def serve(config: Config, args: argparse.Namespace) -> int:
    configure_logging(args.log_format)
    _install_uvloop()
    host = args.host or config.listener.address
    port = config.listener.port if args.port is None else args.port
    web.run_app(create_app(config), host=host, port=port, access_log=None, print=None, shutdown_timeout=30)
    return 0


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
