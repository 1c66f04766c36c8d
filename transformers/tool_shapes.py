"""Function tools, tool choices and JSON-schema output formats as the upstream builders send them.

Each format puts these in its own place: Chat nests a function under ``function`` and a schema under ``json_schema``,
Responses puts their fields beside ``type``, Anthropic calls the schema ``input_schema`` and has no name for an output
schema and no ``strict``. Those places stay with each builder; the defaults and the optional fields are decided here,
so one canonical tool reaches every provider alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypeAlias

from plano_proxy.transformers.canonical import FunctionTool, OutputFormat, ToolChoice

Dialect: TypeAlias = Literal["openai", "anthropic"]
"""OpenAI's field names (Chat and Responses alike) or Anthropic's."""

OPENAI_TOOL_MODES = ("none", "auto", "required")
"""The tool choices OpenAI's formats spell as a bare string, in the order OpenAI's errors list them."""
ANTHROPIC_TOOL_MODES = {"auto": "auto", "required": "any", "none": "none"}
"""Anthropic's ``tool_choice.type`` for each canonical mode (a forced function is its ``tool``)."""

_SCHEMA_KEY: dict[Dialect, str] = {"openai": "parameters", "anthropic": "input_schema"}


def function_fields(tool: FunctionTool, name: str, dialect: Dialect = "openai") -> dict[str, Any]:
    """A function tool's `name` (what this provider knows it by), its arguments' schema, its description when it has
    one and, for OpenAI, ``strict`` when the client set it."""
    # Providers refuse a function without a schema; a client that gave none declared a function without arguments.
    fields: dict[str, Any] = {
        "name": name,
        _SCHEMA_KEY[dialect]: tool.parameters or {"type": "object", "properties": {}},
    }
    if tool.description:
        fields["description"] = tool.description
    if dialect == "openai" and tool.strict is not None:
        fields["strict"] = tool.strict
    return fields


def json_schema_fields(fmt: OutputFormat, dialect: Dialect = "openai") -> dict[str, Any]:
    """A ``json_schema`` output format's fields: for OpenAI its name (which OpenAI requires), schema and ``strict``
    when set; for Anthropic the schema alone."""
    schema = fmt.schema or {}
    if dialect == "anthropic":
        return {"schema": schema}
    fields: dict[str, Any] = {"name": fmt.name or "response", "schema": schema}
    if fmt.strict is not None:
        fields["strict"] = fmt.strict
    return fields


def openai_tool_choice(
    choice: ToolChoice, *, nested: bool, names: Mapping[str, str] | None = None
) -> str | dict[str, Any]:
    """A mode as OpenAI's bare string; a forced function as an object naming it (by its name in `names` when it has
    one there), under ``function`` in Chat (`nested`) and beside ``type`` in Responses."""
    if choice.mode != "function" or choice.name is None:
        return choice.mode
    named = {"name": (names or {}).get(choice.name, choice.name)}
    return {"type": "function", "function": named} if nested else {"type": "function", **named}
