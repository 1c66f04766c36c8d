"""Token counts read off relayed answers without decoding them.

The byte relay passes a provider's answer through untouched; only the JSON that carries ``"usage"`` is parsed (the
whole body, or the few stream lines that hold it), so the access line and the token metrics cover relayed traffic
as they cover translated traffic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from plano_proxy.transformers.anthropic_decoder import usage_from_anthropic
from plano_proxy.transformers.canonical import Usage
from plano_proxy.transformers.chat_decoder import usage_from_chat

UsageReader = Callable[[dict[str, Any]], "Usage | None"]
"""Reads one answer body or stream event; returns the usage known so far, or None if this one carries none."""


def read_chat_usage(payload: dict[str, Any]) -> Usage | None:
    """Chat Completions carry the whole count in one ``usage`` (a stream's last chunk, when asked for)."""
    usage = payload.get("usage")
    return usage_from_chat(usage) if isinstance(usage, dict) else None


def anthropic_usage() -> UsageReader:
    """Anthropic reports input tokens in ``message_start`` and output tokens in ``message_delta``; a whole message
    has both in its ``usage``."""
    seen: dict[str, Any] = {}

    def read(payload: dict[str, Any]) -> Usage | None:
        message = payload.get("message")
        usage = message.get("usage") if isinstance(message, dict) else payload.get("usage")
        if not isinstance(usage, dict):
            return None
        seen.update({key: value for key, value in usage.items() if value is not None})
        return usage_from_anthropic(seen)

    return read


def usage_of_body(body: bytes, read: UsageReader) -> Usage | None:
    if b'"usage"' not in body:
        return None
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return read(payload) if isinstance(payload, dict) else None


class StreamUsageTap:
    """Watches relayed SSE chunks for ``data:`` lines that mention usage; `usage` is the latest count seen."""

    def __init__(self, read: UsageReader) -> None:
        self._read = read
        self._partial = b""
        self.usage: Usage | None = None

    def feed(self, chunk: bytes) -> None:
        data = self._partial + chunk if self._partial else chunk
        end = data.rfind(b"\n")
        if end < 0:
            self._partial = data
            return
        self._partial = data[end + 1 :]
        if data.find(b'"usage"', 0, end) < 0:
            return
        for line in data[:end].split(b"\n"):
            if line.startswith(b"data:") and _carries_usage(line):
                self._line(line[5:])

    def _line(self, raw: bytes) -> None:
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return
        if isinstance(payload, dict) and (usage := self._read(payload)) is not None:
            self.usage = usage


def _carries_usage(line: bytes) -> bool:
    """Whether some ``"usage"`` in the line has a value other than null: OpenAI puts ``"usage": null`` on every chunk
    of a stream that asked for usage, and decoding each of those would cost the relay a JSON parse per chunk."""
    at = line.find(b'"usage"')
    while at >= 0:
        value = at + 7
        while value < len(line) and line[value] in b" :":
            value += 1
        if not line.startswith(b"null", value):
            return True
        at = line.find(b'"usage"', value)
    return False
