"""Opaque reasoning tokens that survive a trip through any client format.

A Responses ``reasoning`` item carries ``encrypted_content`` and an Anthropic ``thinking`` block a ``signature``.
Each provider accepts back only what it minted, so the gateway wraps the foreign kind in a tagged envelope:

- Anthropic thinking shown to a Responses client: ``encrypted_content`` is ``ANTHROPIC_PREFIX`` + base64url(JSON of
  the original block), so the exact ``thinking`` text and ``signature`` (or redacted ``data``) can be replayed.
- OpenAI reasoning shown to an Anthropic client: ``signature`` is ``OPENAI_PREFIX`` + the raw encrypted content.

Anything without a prefix is the provider's own raw value. Foreign reasoning is dropped, never sent to the wrong
provider.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

ANTHROPIC_PREFIX = "plano.anthropic.v1:"
OPENAI_PREFIX = "plano.openai.v1:"


def pack_anthropic_block(block: dict[str, Any]) -> str:
    """Wrap a ``thinking`` ({thinking, signature}) or ``redacted_thinking`` ({data}) block."""
    kept = {key: block[key] for key in ("type", "thinking", "signature", "data") if key in block}
    return ANTHROPIC_PREFIX + base64.urlsafe_b64encode(orjson.dumps(kept)).decode()


def unpack_anthropic_block(encrypted_content: str | None) -> dict[str, Any] | None:
    """The original Anthropic block, or None when the value was not minted by Anthropic (or is damaged)."""
    if not encrypted_content or not encrypted_content.startswith(ANTHROPIC_PREFIX):
        return None
    try:
        block = orjson.loads(base64.urlsafe_b64decode(encrypted_content[len(ANTHROPIC_PREFIX) :]))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(block, dict) or block.get("type") not in ("thinking", "redacted_thinking"):
        return None
    return block


def openai_to_signature(encrypted_content: str) -> str:
    return OPENAI_PREFIX + encrypted_content


def signature_to_openai(signature: str | None) -> str | None:
    """OpenAI encrypted content hidden in an Anthropic signature, or None for a native Anthropic signature."""
    if not signature or not signature.startswith(OPENAI_PREFIX):
        return None
    return signature[len(OPENAI_PREFIX) :]


def is_openai_reasoning(encrypted_content: str | None) -> bool:
    return (
        encrypted_content is not None and encrypted_content != "" and not encrypted_content.startswith(ANTHROPIC_PREFIX)
    )
