"""Turns and truncation over canonical items: whole turns dropped oldest first, calls never parted from outputs."""

from __future__ import annotations

import dataclasses

from plano_proxy.transformers.canonical import CanonicalRequest, Item
from plano_proxy.transformers.token_estimate import estimate_request_tokens
from plano_proxy.transformers.truncation import truncate_to_fit, turns_of


def message(role: str, text: str) -> Item:
    kind = "output_text" if role == "assistant" else "input_text"
    return {"type": "message", "role": role, "content": [{"type": kind, "text": text}]}


def call(call_id: str) -> Item:
    return {"type": "function_call", "call_id": call_id, "name": "f", "arguments": "{}"}


def output(call_id: str) -> Item:
    return {"type": "function_call_output", "call_id": call_id, "output": "done"}


def test_turns_start_at_user_messages_and_skip_system_ones() -> None:
    """A turn is a user message and what follows it; system and developer messages belong to no turn."""
    items = [
        message("system", "s"),
        message("user", "u1"),
        message("assistant", "a1"),
        message("developer", "d"),
        message("user", "u2"),
        call("c1"),
        output("c1"),
    ]
    assert turns_of(items) == [[1, 2], [4, 5, 6]]


def test_a_user_message_while_a_call_waits_joins_its_turn() -> None:
    """A user message between a call and its output does not start a turn, so the pair cannot be parted; a call
    that never gets an output does not hold later turns together."""
    items = [message("user", "u1"), call("c1"), message("user", "hurry"), output("c1"), call("lost")]
    items += [message("user", "u2")]
    assert turns_of(items) == [[0, 1, 2, 3, 4], [5]]


def test_items_before_the_first_user_message_are_the_oldest_turn() -> None:
    """A conversation that opens with a compaction summary or an assistant message starts with that turn."""
    items = [{"type": "compaction", "encrypted_content": "x"}, message("assistant", "a"), message("user", "u")]
    assert turns_of(items) == [[0, 1], [2]]


def test_fitting_request_is_returned_unchanged() -> None:
    request = CanonicalRequest(model="m", items=(message("user", "hello"),))
    assert truncate_to_fit(request, 1000) is request


def test_oldest_turns_go_first_and_the_newest_always_stays() -> None:
    """Turns are dropped oldest first only as far as needed (the requested output kept free); the newest stays even
    when it alone is too large."""
    big = "x" * 400
    items = (message("system", "rules"), message("user", big), message("user", big), message("user", "now " + big))
    request = CanonicalRequest(model="m", items=items, instructions="Be kind.")
    window = estimate_request_tokens(request) - 50
    assert truncate_to_fit(request, window).items == (items[0], items[2], items[3])
    assert truncate_to_fit(dataclasses.replace(request, max_output_tokens=200), window).items == (items[0], items[3])
    assert truncate_to_fit(request, 10).items == (items[0], items[3])
