"""The one error vocabulary: statuses, both providers' words for them, and what each client format is sent."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from plano_proxy.transformers.anthropic_decoder import AnthropicStreamDecoder
from plano_proxy.transformers.anthropic_encoder import AnthropicEncoder, anthropic_error_event
from plano_proxy.transformers.canonical import CanonicalRequest, Event, StreamError
from plano_proxy.transformers.chat_decoder import ChatStreamDecoder
from plano_proxy.transformers.chat_encoder import ChatEncoder, chat_error_chunk
from plano_proxy.transformers.error_types import (
    BY_STATUS,
    MALFORMED_EVENT,
    STREAM_CUT,
    anthropic_type,
    openai_words,
    responses_code,
    status_of,
    words_for,
)
from plano_proxy.transformers.responses_decoder import ResponsesStreamDecoder
from plano_proxy.transformers.responses_encoder import ResponsesEncoder
from plano_proxy.transformers.responses_object import echo_fields
from plano_proxy.transformers.sse import SSEMessage

# status → OpenAI type, OpenAI code, Anthropic type
STATUS_TABLE = [
    (400, "invalid_request_error", None, "invalid_request_error"),
    (401, "invalid_request_error", "invalid_api_key", "authentication_error"),
    (402, "insufficient_quota", "insufficient_quota", "billing_error"),
    (403, "invalid_request_error", None, "permission_error"),
    (404, "invalid_request_error", None, "not_found_error"),
    (409, "invalid_request_error", None, "invalid_request_error"),
    (413, "invalid_request_error", None, "request_too_large"),
    (429, "rate_limit_exceeded", "rate_limit_exceeded", "rate_limit_error"),
    (500, "server_error", None, "api_error"),
    (502, "server_error", None, "api_error"),
    (503, "server_error", None, "overloaded_error"),
    (504, "server_error", None, "timeout_error"),
    (529, "server_error", None, "overloaded_error"),
]


@pytest.mark.parametrize(("status", "openai_type", "openai_code", "anthropic"), STATUS_TABLE)
def test_each_status_has_one_row_of_words(
    status: int, openai_type: str, openai_code: str | None, anthropic: str
) -> None:
    """A status gives OpenAI's type and code and Anthropic's type; unlisted 4xx and 5xx fall to the generic rows."""
    assert openai_words(status) == (openai_type, openai_code)
    assert anthropic_type(status) == anthropic


# a provider's in-stream words (type, code) → the status they stand for
STATUS_OF_WORDS = [
    ("overloaded_error", None, 529),
    ("rate_limit_error", None, 429),
    ("billing_error", None, 402),
    ("request_too_large", None, 413),
    ("timeout_error", None, 504),
    ("api_error", None, 500),
    ("invalid_request_error", "context_length_exceeded", 400),
    ("requests", "rate_limit_exceeded", 429),
    ("insufficient_quota", "insufficient_quota", 429),
    ("invalid_request_error", "invalid_api_key", 401),
    (None, "server_error", 500),
    ("BadRequestError", None, 500),
    (None, None, 500),
]


@pytest.mark.parametrize(("type_", "code", "status"), STATUS_OF_WORDS)
def test_a_providers_words_give_its_status(type_: str | None, code: str | None, status: int) -> None:
    """Anthropic's types and OpenAI's types and codes stand for the statuses the providers send them with."""
    assert status_of(type_, code) == status


def test_anthropic_types_survive_the_round_trip() -> None:
    """Every Anthropic type reaches an Anthropic client as itself, having gone through its status."""
    for words in BY_STATUS.values():
        assert anthropic_type(status_of(words.anthropic_type)) == words.anthropic_type


# status, the provider's type and code → what an OpenAI client sees
OPENAI_CLIENT_SEES = [
    (529, "overloaded_error", None, ("server_error", None)),
    (402, "billing_error", None, ("insufficient_quota", "insufficient_quota")),
    (401, "authentication_error", None, ("invalid_request_error", "invalid_api_key")),
    (429, "rate_limit_error", None, ("rate_limit_exceeded", "rate_limit_exceeded")),
    (400, "invalid_request_error", "context_length_exceeded", ("invalid_request_error", "context_length_exceeded")),
    (429, "requests", "rate_limit_exceeded", ("requests", "rate_limit_exceeded")),
    (500, "server_error", None, ("server_error", None)),
    (400, None, "context_length_exceeded", ("invalid_request_error", "context_length_exceeded")),
    (503, None, None, ("server_error", None)),
]


@pytest.mark.parametrize(("status", "type_", "code", "seen"), OPENAI_CLIENT_SEES)
def test_openai_clients_get_openai_words(
    status: int, type_: str | None, code: str | None, seen: tuple[str, str | None]
) -> None:
    """Anthropic's types are replaced by the status's OpenAI words; a provider's own OpenAI words are kept."""
    assert openai_words(status, type_, code) == seen


@pytest.mark.parametrize(
    ("status", "type_", "code", "expected"),
    [
        (400, "invalid_request_error", "context_length_exceeded", "context_length_exceeded"),
        (500, "server_error", None, "server_error"),
        (429, "requests", "rate_limit_exceeded", "rate_limit_exceeded"),
        (429, "insufficient_quota", "insufficient_quota", "rate_limit_exceeded"),
        (529, "server_error", None, "server_error"),
        (402, "insufficient_quota", "insufficient_quota", "server_error"),
        (400, "invalid_request_error", None, "server_error"),
    ],
)
def test_responses_failures_use_only_the_sdks_codes(status: int, type_: str, code: str | None, expected: str) -> None:
    """response.failed carries one of ResponseError's codes: the provider's when it is one, else the status's."""
    assert responses_code(status, type_, code) == expected


def test_unknown_statuses_use_the_generic_rows() -> None:
    """A status no provider documents is a generic client or server error."""
    assert words_for(418) == words_for(400) and words_for(599) == words_for(500)


def test_a_broken_stream_is_a_502_upstream_stream_error() -> None:
    """A cut and a malformed event are the provider's stream failing: OpenAI's server_error with the gateway's code."""
    for error in (STREAM_CUT, MALFORMED_EVENT):
        assert (error.status, error.type, error.code) == (502, "server_error", "upstream_stream_error")
    assert chat_error_chunk(STREAM_CUT)["error"]["code"] == "upstream_stream_error"
    assert anthropic_error_event(STREAM_CUT)["error"]["type"] == "api_error"


def _anthropic_error(kind: str) -> list[Event]:
    payload = {"type": "error", "error": {"type": kind, "message": "m"}}
    return AnthropicStreamDecoder().feed(SSEMessage("error", orjson.dumps(payload).decode()))


def _chat_error(type_: str, code: str | None) -> list[Event]:
    payload = {"error": {"message": "m", "type": type_, "param": None, "code": code}}
    return ChatStreamDecoder().feed(SSEMessage(None, orjson.dumps(payload).decode()))


def _responses_failed(code: str) -> list[Event]:
    payload = {"type": "response.failed", "response": {"status": "failed", "error": {"code": code, "message": "m"}}}
    return ResponsesStreamDecoder().feed_payload(payload)


# a provider's in-stream error → Chat chunk (type, code), Anthropic event type, Responses failure code
IN_STREAM = {
    "anthropic-overloaded": (_anthropic_error("overloaded_error"), ("server_error", None), "overloaded_error",
                             "server_error"),
    "anthropic-rate-limit": (_anthropic_error("rate_limit_error"), ("rate_limit_exceeded", "rate_limit_exceeded"),
                             "rate_limit_error", "rate_limit_exceeded"),
    "anthropic-billing": (_anthropic_error("billing_error"), ("insufficient_quota", "insufficient_quota"),
                          "billing_error", "server_error"),
    "chat-server-error": (_chat_error("server_error", None), ("server_error", None), "api_error", "server_error"),
    "chat-rate-limit": (_chat_error("requests", "rate_limit_exceeded"), ("requests", "rate_limit_exceeded"),
                        "rate_limit_error", "rate_limit_exceeded"),
    "chat-anthropic-words": (_chat_error("overloaded_error", None), ("server_error", None), "overloaded_error",
                             "server_error"),
    "responses-context": (_responses_failed("context_length_exceeded"),
                          ("invalid_request_error", "context_length_exceeded"), "invalid_request_error",
                          "context_length_exceeded"),
    "responses-server-error": (_responses_failed("server_error"), ("server_error", "server_error"), "api_error",
                               "server_error"),
}  # fmt: skip


@pytest.mark.parametrize(("events", "chat", "anthropic", "responses"), IN_STREAM.values(), ids=IN_STREAM.keys())
def test_in_stream_errors_reach_each_format_in_its_words(
    events: list[Event], chat: tuple[str, str | None], anthropic: str, responses: str
) -> None:
    """Each decoder's error, through each encoder: Anthropic's types never reach OpenAI clients, nor OpenAI's
    Anthropic clients."""
    assert len(events) == 1 and isinstance(events[0], StreamError)
    error = events[0]
    chat_chunk = _encode(ChatEncoder("m", _ids, lambda: 0, include_usage=False), error)
    assert (chat_chunk["error"]["type"], chat_chunk["error"]["code"]) == chat
    assert _encode(AnthropicEncoder("m", _ids), error)["error"]["type"] == anthropic
    responses_encoder = ResponsesEncoder(
        CanonicalRequest(model="m", items=()), echo_fields({"model": "m"}), _ids, lambda: 0
    )
    assert _encode(responses_encoder, error)["response"]["error"]["code"] == responses


def _ids(prefix: str) -> str:
    return f"{prefix}1"


def _encode(encoder: Any, error: StreamError) -> dict[str, Any]:
    last: dict[str, Any] = encoder.feed(error)[-1]
    return last
