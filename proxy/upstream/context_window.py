"""Each model's context window, and a request as the routed provider will read it.

The window is the provider's ``context_window`` from ``plano_config.yaml`` when set, else a known default for the
model id's prefix, else `FALLBACK_CONTEXT_WINDOW`: small enough for most models served today, so that
``truncation: "auto"`` on a model the gateway does not know errs on the side of a request that fits.
"""

from __future__ import annotations

from typing import Any

from plano_proxy.proxy.config import ProviderConfig
from plano_proxy.proxy.upstream.calls import speaks_native_responses
from plano_proxy.transformers.canonical import CanonicalRequest
from plano_proxy.transformers.compaction import expand_compactions
from plano_proxy.transformers.truncation import truncate_to_fit

# Context windows by model id prefix, the first match winning (so longer prefixes come first).
_KNOWN_CONTEXT_WINDOWS = (
    ("gpt-5", 272_000),  # of a 400k window, at most 272k may be input
    ("gpt-4.1", 1_047_576),
    ("gpt-4o", 128_000),
    ("gpt-4-turbo", 128_000),
    ("gpt-4-32k", 32_768),
    ("gpt-4", 8_192),
    ("gpt-3.5-turbo", 16_385),
    ("o1-mini", 128_000),
    ("o1", 200_000),
    ("o3", 200_000),
    ("o4", 200_000),
    ("codex-mini", 200_000),
    ("claude", 200_000),
    ("gemini", 1_048_576),
    ("deepseek", 128_000),
    ("grok", 131_072),
    ("mistral-large", 128_000),
)
FALLBACK_CONTEXT_WINDOW = 8_192


def context_window(provider: ProviderConfig) -> int:
    if provider.context_window is not None:
        return provider.context_window
    return next(
        (window for prefix, window in _KNOWN_CONTEXT_WINDOWS if provider.model.startswith(prefix)),
        FALLBACK_CONTEXT_WINDOW,
    )


def as_sent_to(request: CanonicalRequest, provider: ProviderConfig, truncation: Any) -> CanonicalRequest:
    """`request` as `provider` will read it: compaction items expanded for it and, with ``truncation: "auto"``,
    the oldest turns dropped to fit its context window."""
    expanded = expand_compactions(request, native_openai=speaks_native_responses(request, provider))
    if truncation != "auto":
        return expanded
    return truncate_to_fit(expanded, context_window(provider))
