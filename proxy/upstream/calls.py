"""How a canonical request is sent to each kind of upstream, and how its answer is decoded back into events."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from plano_proxy.proxy.config import ProviderConfig
from plano_proxy.proxy.upstream.client import Operation
from plano_proxy.transformers.anthropic_decoder import AnthropicStreamDecoder, anthropic_message_to_events
from plano_proxy.transformers.anthropic_upstream import canonical_to_anthropic_request
from plano_proxy.transformers.canonical import CanonicalRequest, ClientFormat, Event
from plano_proxy.transformers.chat_decoder import ChatStreamDecoder, chat_completion_to_events
from plano_proxy.transformers.chat_upstream import canonical_to_chat_request
from plano_proxy.transformers.compaction import expand_compactions
from plano_proxy.transformers.foreign import ignored_names
from plano_proxy.transformers.responses_decoder import ResponsesStreamDecoder, responses_body_to_events
from plano_proxy.transformers.responses_request import canonical_to_responses_request
from plano_proxy.transformers.sse import SSEMessage

# Output-token defaults for Anthropic models when neither the client nor the config gives one: the model's own
# maximum where it is known, since a low blind default silently truncates answers.
_ANTHROPIC_MAX_TOKENS = (
    ("claude-3-haiku", 4096),
    ("claude-3-opus", 4096),
    ("claude-3-5", 8192),
    ("claude-3-7", 64000),
    ("claude-sonnet-4", 64000),
    ("claude-haiku-4", 64000),
    ("claude-opus-4", 32000),
)
_ANTHROPIC_FALLBACK_MAX_TOKENS = 8192


class StreamDecoder(Protocol):
    def feed(self, message: SSEMessage) -> list[Event]: ...

    def finish(self) -> list[Event]: ...


@dataclass(frozen=True, slots=True)
class UpstreamCall:
    operation: Operation
    body: dict[str, Any]
    new_decoder: Callable[[], StreamDecoder]
    decode_whole: Callable[[dict[str, Any]], list[Event]]
    ignored: tuple[str, ...] = ()
    """What the client sent that this provider, speaking another format, does not receive."""


_NO_REASONING_EFFORT = re.compile(r"(gpt-4|gpt-3\.5|chatgpt-)")
"""OpenAI's chat models without reasoning: ``reasoning_effort`` is for the o-series and gpt-5 onwards."""
_FORMAT_OF_OPERATION: dict[Operation, ClientFormat] = {
    "messages": "anthropic",
    "responses": "responses",
    "chat": "chat",
}


def upstream_call(request: CanonicalRequest, provider: ProviderConfig) -> UpstreamCall:
    """The call for `provider`, its compaction items expanded first; see `call_as_sent`."""
    return call_as_sent(expand_compactions(request, native_openai=speaks_native_responses(request, provider)), provider)


def call_as_sent(request: CanonicalRequest, provider: ProviderConfig) -> UpstreamCall:
    """The call for `request` as `provider` reads it (`as_sent_to`, or `expand_compactions` alone): a Responses
    client goes to a native Responses upstream when the provider has one. A provider of the client's own format gets
    the client's extra fields and foreign tools as sent."""
    if provider.interface == "anthropic":
        call = _anthropic_call(request, provider)
    elif speaks_native_responses(request, provider):
        call = _responses_call(request, provider)
    else:
        request, dropped = _without_unsupported_reasoning(request, provider)
        call = dataclasses.replace(_chat_call(request, provider), ignored=dropped)
    if request.client_format in (None, _FORMAT_OF_OPERATION[call.operation]):
        return call
    return dataclasses.replace(call, ignored=(*ignored_names(request), *call.ignored))


def speaks_native_responses(request: CanonicalRequest, provider: ProviderConfig) -> bool:
    """True when `request` goes to `provider`'s native Responses endpoint: a Responses client, a provider with one."""
    return provider.interface != "anthropic" and request.client_format == "responses" and provider.responses_api


def anthropic_default_max_tokens(provider: ProviderConfig) -> int:
    if provider.max_tokens is not None:
        return provider.max_tokens
    return next(
        (limit for prefix, limit in _ANTHROPIC_MAX_TOKENS if provider.model.startswith(prefix)),
        _ANTHROPIC_FALLBACK_MAX_TOKENS,
    )


def _anthropic_call(request: CanonicalRequest, provider: ProviderConfig) -> UpstreamCall:
    body = canonical_to_anthropic_request(
        request, upstream_model=provider.model, default_max_tokens=anthropic_default_max_tokens(provider)
    )
    return UpstreamCall("messages", body, AnthropicStreamDecoder, anthropic_message_to_events)


def _without_unsupported_reasoning(
    request: CanonicalRequest, provider: ProviderConfig
) -> tuple[CanonicalRequest, tuple[str, ...]]:
    """A request translated from another format, asking for reasoning, for one of OpenAI's models that take no
    ``reasoning_effort`` (OpenAI refuses it with a 400): sent without it, and named. Claude Code asks for thinking on
    every turn; a Chat client's own ``reasoning_effort`` stays its business and goes as sent."""
    if (
        request.reasoning is None
        or request.client_format in (None, "chat")
        or provider.provider not in ("openai", "azure_openai")
        or not _NO_REASONING_EFFORT.match(provider.model)
    ):
        return request, ()
    named = "thinking" if request.client_format == "anthropic" else "reasoning"
    return dataclasses.replace(request, reasoning=None), (named,)


def _chat_call(request: CanonicalRequest, provider: ProviderConfig) -> UpstreamCall:
    body, tool_names = canonical_to_chat_request(request, upstream_model=provider.model)
    return UpstreamCall(
        "chat",
        body,
        lambda: ChatStreamDecoder(tool_names),
        lambda whole: chat_completion_to_events(whole, tool_names),
    )


def _responses_call(request: CanonicalRequest, provider: ProviderConfig) -> UpstreamCall:
    body = canonical_to_responses_request(request, upstream_model=provider.model)
    return UpstreamCall("responses", body, ResponsesStreamDecoder, responses_body_to_events)
