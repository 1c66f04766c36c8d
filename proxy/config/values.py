"""Typed readers of configuration values, and the environment substitution: each raises `ConfigError` naming the
key path and the bad value::

    ConfigError: model_providers[1].port: 'abc' is not a valid integer

``$VAR``, ``${VAR}`` and ``${VAR:-default}`` in string values are substituted here, from the environment that
`load.load_config` (the only code that reads it) hands in. `Problems` runs the readers of a file one by one and notes
each error instead of stopping, so that every problem of the file is reported in one go.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from plano_proxy.proxy.config.model import ConfigError

T = TypeVar("T")

_VAR = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)
_DURATION = re.compile(r"^\s*(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|m|h|d)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_SIZE = re.compile(r"^\s*(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>[KMGT]i?B|B)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_SIZE_UNITS |= {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


class Env:
    """Substitutes variables and remembers which ones were missing, so the caller can say who needed them."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self.missing: list[str] = []

    def substitute(self, value: str) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group("braced") or match.group("bare")
            if name in self._environ:
                return self._environ[name]
            if match.group("default") is not None:
                return match.group("default")
            self.missing.append(name)
            return ""

        return _VAR.sub(replace, value)


def mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping, got {value!r}")
    return value


def list_of(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ConfigError(f"{where}: expected a list, got {value!r}")
    return value


def string(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float) or value == "":
        raise ConfigError(f"{where}: expected a non-empty string, got {value!r}")
    return str(value)


def optional_string(value: Any, where: str, env: Env) -> str | None:
    return None if value is None else env.substitute(string(value, where))


def integer(value: Any, where: str, minimum: int | None = None, maximum: int | None = None) -> int:
    try:
        number = int(value) if not isinstance(value, bool | float) else None
    except (TypeError, ValueError):
        number = None
    if number is None:
        raise ConfigError(f"{where}: {value!r} is not a valid integer")
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise ConfigError(f"{where}: {value!r} is out of range")
    return number


def boolean(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: {value!r} is not true or false")
    return value


def duration(value: Any, where: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    match = _DURATION.match(str(value)) if isinstance(value, str) else None
    if match is None or float(match.group("number")) <= 0:
        raise ConfigError(f"{where}: {value!r} is not a valid duration (for example 30s, 500ms, 5m, 7d)")
    return float(match.group("number")) * _DURATION_UNITS[match.group("unit")]


def size(value: Any, where: str) -> int:
    """Bytes, from a number or a number with a unit (``500MB``, ``2GiB``)."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    match = _SIZE.match(value) if isinstance(value, str) else None
    if match is None or float(match.group("number")) <= 0:
        raise ConfigError(f"{where}: {value!r} is not a valid size (for example 500MB, 2GiB)")
    return int(float(match.group("number")) * _SIZE_UNITS[(match.group("unit") or "").lower()])


class Problems:
    """The problems found so far; `read` runs one reader and notes its error instead of stopping."""

    def __init__(self, env: Env, *, keys_required: bool) -> None:
        self.env = env
        self.errors: list[str] = []
        self.unset: list[str] = []
        self._keys_required = keys_required

    def read(self, reader: Callable[..., T], *args: Any, default: T) -> T:
        try:
            return reader(*args)
        except ConfigError as exc:
            self.errors.extend(exc.problems)
            return default

    def substituted(self, value: Any, where: str, needed_by: str = "") -> tuple[str | None, bool]:
        """The string with its variables substituted, and whether one of them was unset (noted as a problem, or as
        an unset variable when keys are not required)."""
        self.env.missing.clear()
        text = self.read(optional_string, value, where, self.env, default=None)
        if not self.env.missing:
            return text, False
        problem = f"{where}: environment variable {self.env.missing[0]} is not set{needed_by}"
        (self.errors if self._keys_required else self.unset).append(problem)
        return None, True
