"""The gateway's one error vocabulary: an HTTP status and the words OpenAI and Anthropic use for it.

Every failure the gateway passes on has a status (the provider's own, or the one its in-stream error type stands for)
and an OpenAI ``type`` and ``code``; the Anthropic ``type`` and the Responses ``response.failed`` code are read off the
same row. A status never depends on the client's format, so a failure reads the same in every format, whichever
provider it came from and whether its answer was relayed byte for byte or translated.

======  =====================  ===================  =====================
status  OpenAI type            OpenAI code          Anthropic type
======  =====================  ===================  =====================
400     invalid_request_error  —                    invalid_request_error
401     invalid_request_error  invalid_api_key      authentication_error
402     insufficient_quota     insufficient_quota   billing_error
403     invalid_request_error  —                    permission_error
404     invalid_request_error  —                    not_found_error
413     invalid_request_error  —                    request_too_large
429     rate_limit_exceeded    rate_limit_exceeded  rate_limit_error
500     server_error           —                    api_error
503     server_error           —                    overloaded_error
504     server_error           —                    timeout_error
529     server_error           —                    overloaded_error
4xx     invalid_request_error  —                    invalid_request_error
5xx     server_error           —                    api_error
======  =====================  ===================  =====================

Sources: Anthropic's ``ErrorType`` and docs.claude.com/en/api/errors; OpenAI's developers.openai.com/docs/guides/
error-codes (a 401 is ``invalid_request_error`` with code ``invalid_api_key``; quota is ``insufficient_quota``).
OpenAI has no 402 and sends quota exhaustion as a 429: a provider's 402 keeps its status and takes OpenAI's quota
words, so both SDKs still see the status the provider meant.
"""

from __future__ import annotations

from dataclasses import dataclass

from plano_proxy.transformers.canonical import StreamError


@dataclass(frozen=True, slots=True)
class ErrorWords:
    openai_type: str
    openai_code: str | None
    anthropic_type: str


_CLIENT = ErrorWords("invalid_request_error", None, "invalid_request_error")
_SERVER = ErrorWords("server_error", None, "api_error")
BY_STATUS: dict[int, ErrorWords] = {
    400: _CLIENT,
    401: ErrorWords("invalid_request_error", "invalid_api_key", "authentication_error"),
    402: ErrorWords("insufficient_quota", "insufficient_quota", "billing_error"),
    403: ErrorWords("invalid_request_error", None, "permission_error"),
    404: ErrorWords("invalid_request_error", None, "not_found_error"),
    413: ErrorWords("invalid_request_error", None, "request_too_large"),
    429: ErrorWords("rate_limit_exceeded", "rate_limit_exceeded", "rate_limit_error"),
    500: _SERVER,
    503: ErrorWords("server_error", None, "overloaded_error"),
    504: ErrorWords("server_error", None, "timeout_error"),
    529: ErrorWords("server_error", None, "overloaded_error"),
}

STATUS_OF: dict[str, int] = {
    # Anthropic's error types, the only thing its in-stream ``error`` event says about a failure.
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
    # OpenAI's types and codes as they come in a Chat error chunk or a Responses failure.
    "invalid_api_key": 401,
    "model_not_found": 404,
    "context_length_exceeded": 400,
    "invalid_prompt": 400,
    "invalid_image": 400,
    "insufficient_quota": 429,
    "rate_limit_exceeded": 429,
    "server_error": 500,
    "overloaded": 503,  # what some OpenAI-compatible servers put in an in-stream error when they shed load
}
"""A provider's error type or code → the HTTP status it stands for, when a stream has no status of its own."""

_ANTHROPIC_ONLY = frozenset(words.anthropic_type for words in BY_STATUS.values()) - {
    words.openai_type for words in BY_STATUS.values()
}
"""Anthropic's types that mean nothing to an OpenAI client (``invalid_request_error`` is both providers' word)."""

RESPONSES_CODES = frozenset(
    {
        "server_error", "rate_limit_exceeded", "invalid_prompt", "vector_store_timeout", "invalid_image",
        "invalid_image_format", "invalid_base64_image", "invalid_image_url", "image_too_large", "image_too_small",
        "image_parse_error", "image_content_policy_violation", "invalid_image_mode", "image_file_too_large",
        "unsupported_image_media_type", "empty_image_file", "failed_to_download_image", "image_file_not_found",
        "data_residency_mismatch", "bio_policy", "misalignment_policy_violation",
        "context_length_exceeded",  # not in the SDK list, but OpenAI streams send it and Codex acts on it
    }
)  # fmt: skip
"""The codes a Responses ``response.failed`` may carry (the SDK's ``ResponseError.code``); nothing finer exists."""


def words_for(status: int) -> ErrorWords:
    return BY_STATUS.get(status) or (_SERVER if status >= 500 else _CLIENT)


def status_of(type_: str | None, code: str | None = None) -> int:
    """The status a provider's in-stream error stands for: its code says most, then its type; otherwise a 500."""
    for word in (code, type_):
        if word is not None and word in STATUS_OF:
            return STATUS_OF[word]
    return 500


def openai_words(status: int, type_: str | None = None, code: str | None = None) -> tuple[str, str | None]:
    """The type and code an OpenAI client sees: the provider's own when it used OpenAI's words (they can say more
    than the status, e.g. ``context_length_exceeded``), the status's when it gave none or Anthropic's."""
    if type_ is None or type_ in _ANTHROPIC_ONLY:
        words = words_for(status)
        return words.openai_type, code or words.openai_code
    return type_, code


def anthropic_type(status: int) -> str:
    """Anthropic's type for a status: its SDK and clients key on the status, so the row is all there is to say."""
    return words_for(status).anthropic_type


def responses_code(status: int, type_: str, code: str | None) -> str:
    """The code of a Responses ``response.failed``: the error's own when the SDK allows it, else the status's."""
    for word in (code, type_):
        if word is not None and word in RESPONSES_CODES:
            return word
    return "rate_limit_exceeded" if status == 429 else "server_error"


def stream_error(status: int, message: str, type_: str | None = None, code: str | None = None) -> StreamError:
    """A provider's failure mid-answer, in the vocabulary every client encoder starts from."""
    openai_type, openai_code = openai_words(status, type_, code)
    return StreamError(status, openai_type, message, openai_code)


def provider_stream_error(type_: object, code: object, message: object) -> StreamError:
    """A provider's own in-stream error from its JSON as sent, with the status its words stand for. Values that are
    not strings are no error words (vLLM puts the status number in ``code``) and are dropped."""
    kind = type_ if isinstance(type_, str) and type_ else None
    word = code if isinstance(code, str) and code else None
    return stream_error(status_of(kind, word), str(message or "The provider failed."), kind, word)


# A provider stream that breaks off (the connection drops, a Responses stream ends without its terminal event, an
# event is not JSON) is the gateway's upstream failing mid-answer: 502, as for a provider that cannot be reached
# before the answer. OpenAI clients get ``server_error``, OpenAI's own type for its failures mid-stream (``api_error``
# is Anthropic's word and means nothing to them), with the gateway's code ``upstream_stream_error`` beside
# ``upstream_unreachable`` and ``upstream_timeout`` so a client can tell it from a failure the provider reported;
# Anthropic clients get ``api_error``, Anthropic's type for a 5xx with no more specific one; Responses clients get
# ``server_error``, the only fitting ``response.failed`` code. Relayed and translated streams end with this same error.
STREAM_CUT_CODE = "upstream_stream_error"
STREAM_CUT = stream_error(502, "The provider's stream ended unexpectedly.", code=STREAM_CUT_CODE)
MALFORMED_EVENT = stream_error(502, "The provider sent a malformed stream event.", code=STREAM_CUT_CODE)
