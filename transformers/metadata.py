"""OpenAI's limits on ``metadata``, shared by responses and conversations, with OpenAI's error texts."""

from __future__ import annotations

from typing import Any

from plano_proxy.transformers.errors import RequestError
from plano_proxy.transformers.validation import wrong_type

MAX_METADATA_KEYS = 16
MAX_METADATA_KEY_LENGTH = 64
MAX_METADATA_VALUE_LENGTH = 512


def parse_metadata(raw: Any) -> dict[str, str]:
    """`raw` as metadata (``None`` is none), or a `RequestError` naming the first limit it breaks."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise RequestError(wrong_type("metadata", "an object", raw), "metadata")
    if len(raw) > MAX_METADATA_KEYS:
        raise RequestError(
            f"Invalid 'metadata': too many properties. Expected an object with at most {MAX_METADATA_KEYS} "
            f"properties, but got an object with {len(raw)} properties instead.",
            "metadata",
        )
    for key, value in raw.items():
        if len(key) > MAX_METADATA_KEY_LENGTH:
            raise RequestError(
                f"Invalid 'metadata': string too long. Expected a string with maximum length "
                f"{MAX_METADATA_KEY_LENGTH}, but got a string with length {len(key)} instead.",
                "metadata",
            )
        if not isinstance(value, str):
            raise RequestError(wrong_type(f"metadata.{key}", "a string", value), f"metadata.{key}")
        if len(value) > MAX_METADATA_VALUE_LENGTH:
            raise RequestError(
                f"Invalid 'metadata.{key}': string too long. Expected a string with maximum length "
                f"{MAX_METADATA_VALUE_LENGTH}, but got a string with length {len(value)} instead.",
                f"metadata.{key}",
            )
    return dict(raw)
