"""OpenAI Responses input items → canonical items (for ``/v1/responses`` and the Conversations API).

Every input form a client may send is accepted: a string; easy messages ``{role, content}`` with string or part
content; typed messages with ``input_text``, ``input_image``, ``input_file``, ``output_text`` and ``refusal`` parts;
``function_call`` (with its ``namespace``, if any), ``function_call_output`` (string or parts), ``reasoning`` (summary
and ``encrypted_content`` kept verbatim) and ``item_reference`` (also without its optional ``type``).

Choices made where the gateway cannot act as OpenAI does:

- ``item_reference`` items stay ``{"type": "item_reference", "id"}``; the state layer resolves them against the
  stored history before any provider sees them.
- Images and files given by ``file_id`` or ``file_url`` need OpenAI's Files API and are refused with a 400; inline
  ``file_data`` given as bare base64 is turned into a ``data:`` URL typed from its filename.
- Text parts are accepted in either spelling for any role (an assistant ``input_text`` becomes ``output_text``, a
  user ``output_text`` becomes ``input_text``): OpenAI refuses these, but many multi-provider clients send them and
  nothing is lost by reading them. Images, files and refusals on the wrong role are refused as OpenAI does.
- Items and parts of a type this gateway does not know are kept as sent (see `foreign`): a part with a ``text``
  becomes a text part, anything else travels on to the provider that can read it.
"""

from __future__ import annotations

import mimetypes
from typing import Any

import orjson

from plano_proxy.transformers.canonical import Item
from plano_proxy.transformers.compaction import parse_compaction_item
from plano_proxy.transformers.errors import RequestError
from plano_proxy.transformers.media import make_data_url
from plano_proxy.transformers.validation import expect, invalid_value, missing, optional, wrong_type

_ROLES = ("user", "assistant", "system", "developer")
_IMAGE_DETAILS = ("low", "high", "auto", "original")
_KNOWN_PARTS = frozenset({"input_text", "output_text", "text", "refusal", "input_image", "input_file"})


def normalise_input_items(raw: Any, *, param: str) -> list[Item]:
    """Canonical items for a list of Responses input items (also used for Conversations items)."""
    if not isinstance(raw, list):
        raise RequestError(wrong_type(param, "an array", raw), param)
    return [_item(item, f"{param}[{index}]") for index, item in enumerate(raw)]


def _item(raw: Any, where: str) -> Item:
    expect(raw, dict, "an object", where)
    kind = raw.get("type")
    if kind is None:
        # The type is optional on easy messages and on item references (which have an id and no role).
        kind = "item_reference" if "role" not in raw and "id" in raw else "message"
    if not isinstance(kind, str) or not kind:
        raise RequestError(wrong_type(f"{where}.type", "a string", kind), f"{where}.type")
    optional(raw.get("id"), str, "a string", f"{where}.id")
    parser = _ITEM_PARSERS.get(kind)
    if parser is None:
        return {key: value for key, value in raw.items() if key != "id" or value}
    item = parser(raw, where)
    if kind != "item_reference" and isinstance(raw.get("id"), str) and raw["id"]:
        item = {"id": raw["id"], **item}
    return item


def _message(raw: dict[str, Any], where: str) -> Item:
    role = raw.get("role")
    if role not in _ROLES:
        raise invalid_value(role, _ROLES, f"{where}.role")
    content = raw.get("content")
    if isinstance(content, str):
        parts = [_text_part(role, content)]
    elif isinstance(content, list):
        parts = [_part(part, role, f"{where}.content[{index}]") for index, part in enumerate(content)]
    else:
        raise RequestError(wrong_type(f"{where}.content", "a string or an array", content), f"{where}.content")
    return {"type": "message", "role": role, "content": parts}


def _function_call(raw: dict[str, Any], where: str) -> Item:
    for key in ("call_id", "name", "arguments"):
        if key not in raw or raw[key] is None:
            raise missing(f"{where}.{key}")
        expect(raw[key], str, "a string", f"{where}.{key}")
    item = {"type": "function_call", "call_id": raw["call_id"], "name": raw["name"], "arguments": raw["arguments"]}
    namespace = raw.get("namespace")
    if namespace is not None:
        expect(namespace, str, "a string", f"{where}.namespace")
        item["namespace"] = namespace
    return item


def _function_call_output(raw: dict[str, Any], where: str) -> Item:
    for key in ("call_id", "output"):
        if key not in raw or raw[key] is None:
            raise missing(f"{where}.{key}")
    expect(raw["call_id"], str, "a string", f"{where}.call_id")
    output = raw["output"]
    if isinstance(output, list):
        output = [_part(part, "user", f"{where}.output[{index}]") for index, part in enumerate(output)]
    elif isinstance(output, dict):
        output = _object_output(output)
    else:
        expect(output, str, "a string or an array", f"{where}.output")
    return {"type": "function_call_output", "call_id": raw["call_id"], "output": output}


def _object_output(output: dict[str, Any]) -> str:
    """An object where OpenAI wants a string (Plexus's examples send ``{"text": …}``): its text when that is all it
    holds, else the object as JSON. OpenAI refuses objects; accepting them loses nothing for clients that never send
    one, and every upstream gets the string OpenAI would have wanted."""
    if set(output) == {"text"} and isinstance(output["text"], str):
        return output["text"]
    return orjson.dumps(output).decode()


def _reasoning_item(raw: dict[str, Any], where: str) -> Item:
    summary = raw.get("summary")
    if summary is None:
        raise missing(f"{where}.summary")
    expect(summary, list, "an array", f"{where}.summary")
    for index, part in enumerate(summary):
        at = f"{where}.summary[{index}]"
        expect(part, dict, "an object", at)
        if part.get("type") != "summary_text":
            raise invalid_value(part.get("type"), ("summary_text",), f"{at}.type")
        expect(part.get("text"), str, "a string", f"{at}.text")
    encrypted = raw.get("encrypted_content")
    if encrypted is not None:
        expect(encrypted, str, "a string", f"{where}.encrypted_content")
    return {"type": "reasoning", "summary": [dict(part) for part in summary], "encrypted_content": encrypted}


def _item_reference(raw: dict[str, Any], where: str) -> Item:
    if not isinstance(raw.get("id"), str) or not raw["id"]:
        raise missing(f"{where}.id")
    return {"type": "item_reference", "id": raw["id"]}


_ITEM_PARSERS = {
    "message": _message,
    "function_call": _function_call,
    "function_call_output": _function_call_output,
    "reasoning": _reasoning_item,
    "item_reference": _item_reference,
    "compaction": parse_compaction_item,
}


def _text_part(role: str, text: str) -> dict[str, Any]:
    if role == "assistant":
        return {"type": "output_text", "text": text, "annotations": []}
    return {"type": "input_text", "text": text}


def _part(raw: Any, role: str, where: str) -> dict[str, Any]:
    expect(raw, dict, "an object", where)
    kind = raw.get("type")
    if kind in ("input_text", "output_text", "text"):
        expect(raw.get("text"), str, "a string", f"{where}.text")
        return _text_part(role, raw["text"])
    if not isinstance(kind, str) or not kind:
        raise RequestError(wrong_type(f"{where}.type", "a string", kind), f"{where}.type")
    if kind not in _KNOWN_PARTS:
        # A part type newer than this gateway: its text where it has one, else kept for a provider that knows it.
        return _text_part(role, raw["text"]) if isinstance(raw.get("text"), str) else dict(raw)
    allowed = ("output_text", "refusal") if role == "assistant" else ("input_text", "input_image", "input_file")
    if kind not in allowed:
        raise invalid_value(kind, allowed, f"{where}.type")
    if kind == "refusal":
        expect(raw.get("refusal"), str, "a string", f"{where}.refusal")
        return {"type": "refusal", "refusal": raw["refusal"]}
    if kind == "input_image":
        return _image_part(raw, where)
    return _file_part(raw, where)


def _image_part(raw: dict[str, Any], where: str) -> dict[str, Any]:
    if raw.get("file_id") is not None and raw.get("image_url") is None:
        raise RequestError(
            f"'{where}.file_id' is not supported by this gateway: images must be given as an image_url "
            "(an http(s) or data: URL).",
            f"{where}.file_id",
        )
    url = raw.get("image_url")
    if url is None:
        raise missing(f"{where}.image_url")
    expect(url, str, "a string", f"{where}.image_url")
    detail = raw.get("detail") or "auto"
    if detail not in _IMAGE_DETAILS:
        raise invalid_value(detail, _IMAGE_DETAILS, f"{where}.detail")
    return {"type": "input_image", "image_url": url, "detail": detail}


def _file_part(raw: dict[str, Any], where: str) -> dict[str, Any]:
    for source in ("file_id", "file_url"):
        if raw.get(source) is not None and raw.get("file_data") is None:
            raise RequestError(
                f"'{where}.{source}' is not supported by this gateway: files must be given inline as file_data.",
                f"{where}.{source}",
            )
    data = raw.get("file_data")
    if data is None:
        raise missing(f"{where}.file_data")
    expect(data, str, "a string", f"{where}.file_data")
    filename = raw.get("filename")
    if filename is not None:
        expect(filename, str, "a string", f"{where}.filename")
    if not data.startswith("data:"):
        media_type = (mimetypes.guess_type(filename)[0] if filename else None) or "application/pdf"
        data = make_data_url(media_type, data)
    part: dict[str, Any] = {"type": "input_file", "file_data": data}
    if filename is not None:
        part["filename"] = filename
    return part
