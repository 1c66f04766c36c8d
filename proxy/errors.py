"""The gateway's errors and how each client format renders them.

::

    GatewayError                      status, OpenAI type/code, message, param
    ├── InvalidRequest                400  bad JSON, wrong types, missing fields
    │   ├── PayloadTooLarge           413
    │   └── MethodNotAllowed          405
    ├── Unauthorized                  401
    ├── NotFound                      404  unknown route or stored object
    │   └── ModelNotFound             404  (400 with param "model" on the Responses API, as OpenAI does)
    ├── StorageNotConfigured          400  a request needs state but no state_storage is configured
    ├── StorageUnavailable            503  the state store is unreachable
    └── UpstreamError                 the provider's own status and message, whatever format it spoke
        ├── UpstreamUnreachable       502
        └── UpstreamTimeout           504

Upstream failures are turned into `UpstreamError` in one place (`upstream.py`); handlers raise, and the error
middleware renders with `openai_body` or `anthropic_body` according to the endpoint. In a stream that has already
started, the encoders turn the same information into the format's in-stream error event.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class GatewayError(Exception):
    status = 500
    type = "server_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code


class InvalidRequest(GatewayError):
    status = 400
    type = "invalid_request_error"


class PayloadTooLarge(InvalidRequest):
    status = 413


class MethodNotAllowed(InvalidRequest):
    status = 405


class Unauthorized(GatewayError):
    status = 401
    type = "invalid_request_error"
    code = "invalid_api_key"


class NotFound(GatewayError):
    status = 404
    type = "invalid_request_error"


class ModelNotFound(NotFound):
    code = "model_not_found"

    def __init__(self, model: str, configured: list[str]) -> None:
        super().__init__(
            f"The model `{model}` does not exist or is not configured on this gateway. "
            f"Configured models: {', '.join(configured)}.",
            param="model",
        )
        self.model = model


class StorageNotConfigured(InvalidRequest):
    pass


class StorageUnavailable(GatewayError):
    status = 503
    type = "server_error"
    code = "storage_unavailable"


class UpstreamError(GatewayError):
    """The provider answered with an error (or broke); `status` is what the client should see."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.status = status
        self.type = type or openai_type_for_status(status)
        self.headers = dict(headers or {})
        """Provider headers the client should see too (``Retry-After``, rate-limit state)."""


class UpstreamUnreachable(UpstreamError):
    def __init__(self, message: str) -> None:
        super().__init__(502, message, type="server_error", code="upstream_unreachable")


class UpstreamTimeout(UpstreamError):
    def __init__(self, message: str) -> None:
        super().__init__(504, message, type="server_error", code="upstream_timeout")


def openai_type_for_status(status: int) -> str:
    if status == 429:
        return "rate_limit_exceeded"
    if status >= 500:
        return "server_error"
    if status == 401:
        return "authentication_error"
    return "invalid_request_error"


_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def anthropic_type_for_status(status: int) -> str:
    if status in _ANTHROPIC_TYPES:
        return _ANTHROPIC_TYPES[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def openai_body(error: GatewayError) -> dict[str, Any]:
    return {"error": {"message": error.message, "type": error.type, "param": error.param, "code": error.code}}


def anthropic_body(error: GatewayError, request_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "error",
        "error": {"type": anthropic_type_for_status(error.status), "message": error.message},
    }
    if request_id is not None:
        body["request_id"] = request_id
    return body
