"""The one exception converters raise: the client's request cannot be expressed (a 400 in the client's format)."""

from __future__ import annotations


class RequestError(Exception):
    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
