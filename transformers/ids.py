"""Identifier factories, injected into encoders so their output is deterministic in tests."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable
from typing import TypeAlias

IdFactory: TypeAlias = Callable[[str], str]
"""Takes a prefix with its separator (``"resp_"``, ``"chatcmpl-"``) and returns a fresh id."""


def random_id(prefix: str) -> str:
    """An unguessable id: 192 random bits, hex encoded."""
    return prefix + secrets.token_hex(24)


def with_response_id(response_id: str, ids: IdFactory = random_id) -> IdFactory:
    """A factory that gives `response_id` for the response itself (``resp_``) and fresh ids for everything else, so
    that several encoders (a fallback's, a stored record's) describe one response."""
    return lambda prefix: response_id if prefix == "resp_" else ids(prefix)


class SequentialIds:
    """Predictable ids (``resp_0001``, ``msg_0002`` …) for tests and transcript replays."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def __call__(self, prefix: str) -> str:
        return f"{prefix}{next(self._counter):04d}"
