"""Top-level type checks with OpenAI's wording ("Invalid type for 'stream': expected a boolean, but got a string
instead."), shared by the request parsers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeAlias

from plano_proxy.transformers.errors import RequestError

Expected: TypeAlias = tuple[type | tuple[type, ...], str]
"""The accepted Python type(s) of a JSON value and how OpenAI names it ("a boolean", "an array" …)."""


def check_types(body: Mapping[str, Any], expected: Mapping[str, Expected]) -> None:
    """Raise `RequestError` for the first present, non-null field whose JSON type is wrong (a boolean is no number)."""
    for name, (types, described) in expected.items():
        optional(body.get(name), types, described, name)


def wrong_type(where: str, expected: str, value: Any) -> str:
    return f"Invalid type for '{where}': expected {expected}, but got {describe(value)} instead."


def describe(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "null"


def expect(value: Any, types: type | tuple[type, ...], described: str, param: str) -> None:
    """Raise OpenAI's ``Invalid type`` error unless `value` has one of `types` (a boolean is no number)."""
    if not is_of(value, types):
        raise RequestError(wrong_type(param, described, value), param)


def invalid_value(value: Any, supported: Iterable[str], param: str) -> RequestError:
    return RequestError(f"Invalid value: '{value}'. Supported values are: {_supported(supported)}.", param)


def missing(param: str) -> RequestError:
    return RequestError(f"Missing required parameter: '{param}'.", param)


def _supported(values: Iterable[str]) -> str:
    quoted = [f"'{value}'" for value in values]
    if len(quoted) <= 2:
        return " and ".join(quoted)
    return ", ".join(quoted[:-1]) + ", and " + quoted[-1]


def is_of(value: Any, types: type | tuple[type, ...]) -> bool:
    """`isinstance`, except that a boolean is no number."""
    allowed = types if isinstance(types, tuple) else (types,)
    return isinstance(value, types) and (not isinstance(value, bool) or bool in allowed)


def anthropic_expect(value: Any, types: type | tuple[type, ...], described: str, where: str) -> None:
    """Raise Anthropic's wording (``messages.0.content.1.text: Input should be a valid string``) unless `value` has
    one of `types`."""
    if not is_of(value, types):
        raise RequestError(f"{where}: Input should be a valid {described}", where)


def anthropic_optional(value: Any, types: type | tuple[type, ...], described: str, where: str) -> None:
    if value is not None:
        anthropic_expect(value, types, described, where)


def optional(value: Any, types: type | tuple[type, ...], described: str, param: str) -> None:
    """OpenAI's ``Invalid type`` error unless `value` is absent (None) or has one of `types`."""
    if value is not None:
        expect(value, types, described, param)
