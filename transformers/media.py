"""``data:`` URLs, the canonical carrier of inline images and files."""

from __future__ import annotations

from typing import NamedTuple


class DataURL(NamedTuple):
    media_type: str
    data: str
    """Base64 text, exactly as it appeared in the URL."""


def parse_data_url(url: str) -> DataURL | None:
    """Split ``data:<type>;base64,<data>``; None for anything else (remote URLs, non-base64 data URLs)."""
    if not url.startswith("data:"):
        return None
    header, sep, data = url[5:].partition(",")
    media_type, _, encoding = header.partition(";")
    if not sep or encoding != "base64":
        return None
    return DataURL(media_type or "application/octet-stream", data)


def make_data_url(media_type: str, data: str) -> str:
    return f"data:{media_type};base64,{data}"
