"""The gateway's errors and how each client format renders them.

::

    GatewayError                      500  status, message, param, and OpenAI's type and code for them
    ├── InvalidRequest                400  bad JSON, wrong types, missing fields
    │   ├── PayloadTooLarge           413
    │   ├── MethodNotAllowed          405
    │   └── StorageNotConfigured      400  a request needs state but no state_storage is configured
    ├── Unauthorized                  401  invalid_api_key
    ├── NotFound                      404  unknown route or stored object
    │   └── ModelNotFound             404  model_not_found (400 with param "model" on the Responses API, as OpenAI does)
    ├── StateStoreUnavailable         503  storage_unavailable: the state store is unreachable (with Retry-After)
    └── UpstreamError                 the provider's own status and message, its type and code in OpenAI's words
        ├── UpstreamUnreachable       502  upstream_unreachable
        └── UpstreamTimeout           504  upstream_timeout

    transformers.errors.RequestError  a request no converter can express: rendered as an InvalidRequest
    transformers.canonical.StreamError  not an exception: a provider failing after its answer started, an event

The words for each status come from one table, `transformers.error_types` (which the stream encoders read too), so an
error reads the same whichever provider failed and whatever format the client speaks. Upstream failures become
`UpstreamError` in one place (`upstream/client.py`), where a provider's Anthropic type is put in OpenAI's words;
handlers raise, and the error middleware renders with `openai_body` or `anthropic_body` according to the endpoint. In
a stream that has already started, the encoders render the same words as the format's one in-stream error event.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from plano_proxy.transformers.error_types import anthropic_type, openai_words


class GatewayError(Exception):
    status = 500
    code: str | None = None
    """The gateway's own code for this kind of error, where the status's code would say less."""

    def __init__(
        self, message: str, *, param: str | None = None, code: str | None = None, type: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.type, self.code = openai_words(self.status, type, code or self.code)
        self.headers: dict[str, str] = {}
        """Headers the answer carries besides the body (``Retry-After``)."""


class InvalidRequest(GatewayError):
    status = 400


class PayloadTooLarge(InvalidRequest):
    status = 413


class MethodNotAllowed(InvalidRequest):
    status = 405


class Unauthorized(GatewayError):
    status = 401


class NotFound(GatewayError):
    status = 404


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


STORAGE_RETRY_AFTER = 1
"""Seconds a client is told to wait while the state store is away: the store's probe looks every half second, so a
retry after this finds it back soon after it returns, and an SDK that honours ``Retry-After`` does not hammer it."""


class StateStoreUnavailable(GatewayError):
    status = 503
    code = "storage_unavailable"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.headers["Retry-After"] = str(STORAGE_RETRY_AFTER)


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
        self.status = status
        super().__init__(message, code=code, type=type)
        self.headers.update(headers or {})  # the provider's that the client should see too (rate-limit state)


class UpstreamUnreachable(UpstreamError):
    def __init__(self, message: str) -> None:
        super().__init__(502, message, code="upstream_unreachable")


class UpstreamTimeout(UpstreamError):
    def __init__(self, message: str) -> None:
        super().__init__(504, message, code="upstream_timeout")


def openai_body(error: GatewayError) -> dict[str, Any]:
    return {"error": {"message": error.message, "type": error.type, "param": error.param, "code": error.code}}


def anthropic_body(error: GatewayError, request_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "error",
        "error": {"type": anthropic_type(error.status), "message": error.message},
    }
    if request_id is not None:
        body["request_id"] = request_id
    return body
