"""``truncation: "auto"``: a conversation's oldest turns dropped until its input fits the model's context window.

A turn is a user message and what follows it up to the next user message: the assistant's messages and reasoning,
function calls and their outputs. Turns are dropped whole, oldest first, so a function call never loses its output: a
user message that arrives while a call is still waiting for its output joins that call's turn instead of starting a
new one. System and developer messages are kept wherever they stand, as are the instructions and tools. The newest
turn is always kept, even when it alone is too large: the provider then refuses it as it would without truncation.

Sizes are the gateway's token estimate (`token_estimate`); the input must fit the window less the output tokens the
request asks for (``max_output_tokens``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from plano_proxy.transformers.canonical import CanonicalRequest, Item
from plano_proxy.transformers.token_estimate import CHARS_PER_TOKEN, json_chars, request_reading


def truncate_to_fit(request: CanonicalRequest, context_window: int) -> CanonicalRequest:
    """`request` with its oldest turns dropped so that its estimated input fits `context_window` tokens."""
    budget_chars = (context_window - (request.max_output_tokens or 0)) * CHARS_PER_TOKEN
    excess = json_chars(request_reading(request)) - budget_chars
    if excess <= 0:
        return request
    dropped: set[int] = set()
    for turn in turns_of(request.items)[:-1]:
        if excess <= 0:
            break
        dropped.update(turn)
        excess -= sum(json_chars(request.items[index]) + 1 for index in turn)  # + 1: the comma between items
    kept = tuple(item for index, item in enumerate(request.items) if index not in dropped)
    return dataclasses.replace(request, items=kept)


def turns_of(items: Sequence[Item]) -> list[list[int]]:
    """The indices of `items` grouped into turns, oldest first; system and developer messages belong to none."""
    answered = {item.get("call_id") for item in items if item.get("type") == "function_call_output"}
    waiting: set[str] = set()
    turns: list[list[int]] = []
    for index, item in enumerate(items):
        kind = item.get("type")
        if kind == "message" and item.get("role") in ("system", "developer"):
            continue
        if not turns or (kind == "message" and item.get("role") == "user" and not waiting):
            turns.append([])
        turns[-1].append(index)
        if kind == "function_call" and item.get("call_id") in answered:
            waiting.add(item["call_id"])
        elif kind == "function_call_output":
            waiting.discard(item.get("call_id", ""))
    return turns
