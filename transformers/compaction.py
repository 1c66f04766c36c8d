"""Compaction items of the Responses API, minted by this gateway so that compaction works on every provider.

``POST /v1/responses/compact`` asks the routed model for a summary of the conversation (`summary_request`) and
answers with the conversation's user messages followed by one ``compaction`` item (`compacted_output`). The summary
travels in the item's ``encrypted_content`` as ``SUMMARY_PREFIX`` + base64url(JSON ``{"summary": …}``): opaque to
clients like OpenAI's, but encoded rather than encrypted (it holds nothing the client did not send or receive).

A compaction item is also a valid input item (`parse_compaction_item`) and is stored as it came. Before a provider
sees it, `expand_compactions` turns a gateway-minted one into a user message that hands the model the summary, which
any provider understands. A compaction item the gateway did not mint (OpenAI's own, encrypted) can be read by OpenAI
only: it goes unchanged to a native OpenAI Responses upstream and is dropped for every other one.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Iterable
from typing import Any

import orjson

from plano_proxy.transformers.canonical import CanonicalRequest, Item
from plano_proxy.transformers.history_memo import HISTORIES
from plano_proxy.transformers.ids import IdFactory
from plano_proxy.transformers.validation import expect, missing

SUMMARY_PREFIX = "plano.compaction.v1:"
SUMMARY_PREAMBLE = (
    "This is a summary of the earlier part of this conversation, written when it was compacted; the messages it "
    "covers are no longer shown. Continue from it.\n\n"
)
COMPACTION_INSTRUCTIONS = (
    "You compact long conversations between a user and an AI assistant so that they can go on in a shorter "
    "context. Write a summary that lets the assistant carry on without the original messages: the user's goals and "
    "requests, decisions made, facts and results learned (tool results included), the names, identifiers, files and "
    "values that matter, and what remains to be done. Answer with the summary only."
)
_ASK = "Summarise this conversation:\n\n"


def pack_summary(summary: str) -> str:
    return SUMMARY_PREFIX + base64.urlsafe_b64encode(orjson.dumps({"summary": summary})).decode()


def unpack_summary(encrypted_content: Any) -> str | None:
    """The summary in a gateway-minted compaction blob, or None for anyone else's (or a damaged one)."""
    if not isinstance(encrypted_content, str) or not encrypted_content.startswith(SUMMARY_PREFIX):
        return None
    try:
        packed = orjson.loads(base64.urlsafe_b64decode(encrypted_content[len(SUMMARY_PREFIX) :]))
    except (binascii.Error, ValueError):
        return None
    summary = packed.get("summary") if isinstance(packed, dict) else None
    return summary if isinstance(summary, str) else None


def parse_compaction_item(raw: dict[str, Any], where: str) -> Item:
    """A ``compaction`` input item, kept as it came (its ``encrypted_content`` is expanded only per provider)."""
    if raw.get("encrypted_content") is None:
        raise missing(f"{where}.encrypted_content")
    expect(raw["encrypted_content"], str, "a string", f"{where}.encrypted_content")
    return {"type": "compaction", "encrypted_content": raw["encrypted_content"]}


def expand_compactions(request: CanonicalRequest, *, native_openai: bool) -> CanonicalRequest:
    """`request` as a provider can read it: gateway-minted compaction items become the summary as a user message;
    foreign ones stay for a native OpenAI Responses upstream (`native_openai`) and are dropped for any other."""
    if not HISTORIES.holds_compaction(request):
        return request  # the usual case, checked without copying anything
    items: list[Item] = []
    for item in request.items:
        if item.get("type") != "compaction":
            items.append(item)
            continue
        summary = unpack_summary(item.get("encrypted_content"))
        if summary is not None:
            items.append(summary_message(summary))
        elif native_openai:
            items.append(item)
    return dataclasses.replace(request, items=tuple(items))


def summary_message(summary: str) -> Item:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": SUMMARY_PREAMBLE + summary}]}


def summary_request(conversation: CanonicalRequest) -> CanonicalRequest:
    """The call that asks the routed model for a summary: the conversation as a plain transcript in one user message,
    so that any provider takes it whatever items it holds (tool calls without tool definitions included)."""
    transcript = "\n\n".join(_transcript_lines(conversation))
    ask = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": _ASK + transcript}]}
    return CanonicalRequest(
        model=conversation.model,
        items=(ask,),
        instructions=COMPACTION_INSTRUCTIONS,
        client_format=conversation.client_format,
    )


def compacted_output(items: Iterable[Item], summary: str, ids: IdFactory) -> list[Item]:
    """What ``/responses/compact`` returns: every user message of the conversation, then the compaction item."""
    kept = [_kept_message(item, ids) for item in items if item.get("type") == "message" and item.get("role") == "user"]
    return [*kept, {"id": ids("cmp_"), "type": "compaction", "encrypted_content": pack_summary(summary)}]


def _kept_message(item: Item, ids: IdFactory) -> Item:
    user_id = item.get("id") or ids("msg_")
    return {"id": user_id, "type": "message", "role": "user", "status": "completed", "content": item["content"]}


def answer_text(response: dict[str, Any]) -> str:
    """The text of a Responses body's assistant messages."""
    return "".join(
        part.get("text", "")
        for item in response.get("output") or []
        if item.get("type") == "message"
        for part in item.get("content") or []
        if part.get("type") == "output_text"
    )


def _transcript_lines(conversation: CanonicalRequest) -> Iterable[str]:
    if conversation.instructions:
        yield f"[instructions]\n{conversation.instructions}"
    names = {
        item.get("call_id"): item.get("name") for item in conversation.items if item.get("type") == "function_call"
    }
    for item in conversation.items:
        line = _transcript_line(item, names)
        if line:
            yield line


def _transcript_line(item: Item, call_names: dict[Any, Any]) -> str | None:
    kind = item.get("type")
    if kind == "message":
        return f"[{item.get('role')}]\n{_parts_text(item.get('content'))}"
    if kind == "function_call":
        return f"[assistant called {item.get('name')}]\n{item.get('arguments')}"
    if kind == "function_call_output":
        return f"[result of {call_names.get(item.get('call_id'), 'a tool call')}]\n{_parts_text(item.get('output'))}"
    if kind == "compaction":
        summary = unpack_summary(item.get("encrypted_content"))
        return None if summary is None else f"[summary of the conversation before]\n{summary}"
    if kind == "reasoning":
        return None  # the model's own working, opaque or already reflected in what it said
    return f"[{kind}]\n{orjson.dumps({k: v for k, v in item.items() if k != 'id'}).decode()}"


def _parts_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(_part_text(part) for part in content or [] if isinstance(part, dict))


def _part_text(part: dict[str, Any]) -> str:
    kind = part.get("type")
    if kind in ("input_text", "output_text"):
        return str(part.get("text", ""))
    if kind == "refusal":
        return f"(refused) {part.get('refusal', '')}"
    if kind == "input_image":
        return "(an image)"
    if kind == "input_file":
        return f"(a file{': ' + part['filename'] if part.get('filename') else ''})"
    return ""
