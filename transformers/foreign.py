"""What one format has and another has no slot for: unknown fields, items, parts and tools.

The gateway's policy (docs/translation.md, "What the gateway does not know"): clients add request fields every month,
so nothing is refused only because this gateway has not heard of it.

- Top-level fields no converter reads are kept in `CanonicalRequest.extra`. A provider of the client's own format
  gets them as sent; any other provider does not, and `ignored_names` lists them for the client (a response header).
- Tools with no canonical form (OpenAI's built-in tools, Anthropic's server tools) follow the same rule, kept in
  `CanonicalRequest.foreign_tools`.
- Items of a type the canonical model does not know stay in the history as sent. A native Responses provider gets
  them verbatim; a Chat or Anthropic provider reads them as text (`foreign_item_message`), since their content is
  still part of the conversation.
- Content parts of an unknown type are read as text when they have a ``text``; one with no text and no equivalent on
  the target is refused with a 400 naming its type (`foreign_part_error`), the only case where it cannot be carried.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from plano_proxy.transformers.canonical import CanonicalRequest, Item
from plano_proxy.transformers.errors import RequestError

_NOT_CONTENT = frozenset({"type", "id", "status", "cache_control"})
"""Bookkeeping fields of an item or block that say nothing to a model reading it as text."""


def extra_fields(body: Mapping[str, Any], read: Iterable[str]) -> dict[str, Any]:
    """The top-level fields of `body` outside `read` (the ones its parser reads), as sent."""
    known = read if isinstance(read, frozenset) else frozenset(read)
    return {key: value for key, value in body.items() if key not in known}


def ignored_names(request: CanonicalRequest) -> tuple[str, ...]:
    """What a provider of another format than the client's will not receive: extra fields, then foreign tools."""
    return (*sorted(request.extra), *(f"tools:{tool.get('type')}" for tool in request.foreign_tools))


def as_text(kind: str, value: Mapping[str, Any]) -> str:
    """``[kind] {fields as JSON}``: how an item or block with no equivalent on the target is shown to the model."""
    fields = {key: field for key, field in value.items() if key not in _NOT_CONTENT}
    return f"[{kind}] {orjson.dumps(fields).decode()}"


def foreign_item_message(item: Item) -> Item:
    """An item of an unknown type as a canonical message: outputs and results are the user's, anything else (a call)
    is the assistant's."""
    kind = str(item.get("type"))
    text = as_text(kind, item)
    if kind.endswith(("_output", "_result")):
        return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    part = {"type": "output_text", "text": text, "annotations": []}
    return {"type": "message", "role": "assistant", "content": [part]}


def foreign_part_error(part: Mapping[str, Any]) -> RequestError:
    """The 400 for a content part with no text and no equivalent on the routed provider."""
    kind = part.get("type")
    return RequestError(
        f"Content part type '{kind}' cannot be sent to this model's provider: it has no text and no equivalent there.",
        "content",
    )
