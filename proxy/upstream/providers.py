"""What the gateway knows about provider kinds: wire interface, default API root, whether a key is required.

Interfaces:

- ``openai``: Chat Completions at ``<root>/chat/completions`` with ``Authorization: Bearer``; every OpenAI-compatible
  server (DeepSeek, Groq, Mistral, Together, xAI, Gemini's OpenAI endpoint, OpenRouter, Ollama, vLLM …) uses it.
- ``anthropic``: Messages at ``<root>/messages`` with ``x-api-key`` and ``anthropic-version: 2023-06-01``.
- ``azure_openai``: ``<resource>/openai/deployments/<model>/chat/completions?api-version=…`` with ``api-key``.

``base_url`` works with or without a trailing version: when its path already ends in a version segment (``/v1``,
``/v1beta/openai``, ``/openai/v1``, ``/api/v1``) it is the API root as given, otherwise ``/v1`` is appended.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

INTERFACES = ("openai", "anthropic", "azure_openai")
_VERSIONED_PATH = re.compile(r"/v\d+[a-z0-9.]*(/openai)?$")


@dataclass(frozen=True, slots=True)
class ProviderKind:
    interface: str
    default_base_url: str | None
    needs_key: bool = True
    native_responses: bool = False
    default_api_version: str | None = None

    def api_root(self, base_url: str | None) -> str:
        url = base_url or self.default_base_url
        if not url:
            raise ValueError("required for this provider (no default base URL is known)")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{url!r} is not an http(s) URL")
        root = url.rstrip("/")
        if self.interface == "azure_openai" or _VERSIONED_PATH.search(urlsplit(root).path):
            return root
        return root + "/v1"


_OPENAI_COMPATIBLE = {
    "deepseek": "https://api.deepseek.com/v1",
    "groq": "https://api.groq.com/openai/v1",
    "mistral": "https://api.mistral.ai/v1",
    "together_ai": "https://api.together.xyz/v1",
    "xai": "https://api.x.ai/v1",
    "gemini": "https://generativelanguage.googleapis.com/v1beta/openai",
    "openrouter": "https://openrouter.ai/api/v1",
    "moonshotai": "https://api.moonshot.ai/v1",
    "zhipu": "https://open.bigmodel.cn/api/paas/v4",
    "qwen": "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
}
_LOCAL = {
    "ollama": "http://localhost:11434/v1",
    "vllm": "http://localhost:8000/v1",
}

KNOWN_PROVIDERS: dict[str, ProviderKind] = {
    "openai": ProviderKind("openai", "https://api.openai.com/v1", native_responses=True),
    "anthropic": ProviderKind("anthropic", "https://api.anthropic.com/v1"),
    "azure_openai": ProviderKind("azure_openai", None, default_api_version="2024-10-21"),
    **{name: ProviderKind("openai", url) for name, url in _OPENAI_COMPATIBLE.items()},
    **{name: ProviderKind("openai", url, needs_key=False) for name, url in _LOCAL.items()},
}


def provider_kind(provider: str, interface: str | None) -> ProviderKind:
    """The kind for a provider name, or for any name with an explicit ``provider_interface``."""
    if interface is not None:
        if interface not in INTERFACES:
            raise ValueError(f"{interface!r} is not one of {', '.join(INTERFACES)}")
        known = KNOWN_PROVIDERS.get(provider)
        if known is not None and known.interface == interface:
            return known
        return ProviderKind(
            interface,
            None,
            needs_key=False,
            default_api_version="2024-10-21" if interface == "azure_openai" else None,
        )
    try:
        return KNOWN_PROVIDERS[provider]
    except KeyError:
        raise ValueError(
            f"provider {provider!r} is not known; set provider_interface ({', '.join(INTERFACES)}) and base_url"
        ) from None
