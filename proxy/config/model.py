"""The gateway's configuration as frozen dataclasses (read from ``plano_config.yaml`` by `load`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from plano_proxy.proxy.upstream.providers import ProviderKind


class ConfigError(Exception):
    """The configuration cannot be used: one problem a line, each naming its key path and the value."""

    def __init__(self, *problems: str) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Listener:
    address: str = "127.0.0.1"
    port: int = 12000
    timeout: float = 300.0
    name: str = "model_listener"
    shutdown_grace: float = 30.0
    """On SIGTERM: how long open requests and streams may take to finish before the gateway stops."""
    upstream_connections: int = 4096
    """Open upstream connections per worker; a stream holds one for its whole length, so this caps open streams."""


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds: to open a connection, to the first byte of the answer, and between two chunks of it."""

    connect: float = 10.0
    first_byte: float = 300.0
    idle: float = 300.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries of a call that failed before its answer started (connect error, timeout, 408/409/429/5xx/529).

    The wait before retry *n* (from 0) is ``initial_delay * 2**n``, or the provider's ``Retry-After`` when it sends
    one, never more than ``max_delay``.
    """

    attempts: int = 2
    initial_delay: float = 0.25
    max_delay: float = 8.0

    def delay(self, retry: int, retry_after: str | None) -> float:
        """Seconds to wait; a ``Retry-After`` in seconds wins over the backoff (an HTTP date is not read)."""
        asked = _seconds(retry_after)
        wanted = self.initial_delay * 2**retry if asked is None else asked
        return min(wanted, self.max_delay)


def _seconds(text: str | None) -> float | None:
    if text is None or not text.strip().replace(".", "", 1).isdigit():
        return None
    return float(text)


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    provider: str
    """The provider's name, the part before the slash in ``model: openai/gpt-4o-mini``."""
    model: str
    """The model id the upstream knows, the part after the slash."""
    kind: ProviderKind
    base_url: str
    """The API root, ending where ``/chat/completions`` or ``/messages`` would begin (Azure: the resource URL)."""
    access_key: str | None = field(default=None, repr=False)
    default: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)
    api_version: str | None = None
    max_tokens: int | None = None
    """Output-token default for upstreams that require one (Anthropic) when the client sends none."""
    context_window: int | None = None
    """Tokens of input (with the requested output) the model takes, for ``truncation: "auto"``; None: a default."""
    responses_api: bool = False
    """Send Responses requests to the upstream's native ``/responses`` endpoint (stateless, ``store: false``)."""
    timeouts: Timeouts = Timeouts()
    retries: RetryPolicy = RetryPolicy()
    fallbacks: tuple[str, ...] = ()
    """Models tried in order when this one fails before its answer starts (after its retries)."""
    passthrough_auth: bool = False
    """Send the caller's own key (``Authorization: Bearer`` or ``x-api-key``) to this provider, ``access_key`` being
    used only when the caller sends none."""

    @property
    def qualified_name(self) -> str:
        return f"{self.provider}/{self.model}"

    @property
    def interface(self) -> str:
        return self.kind.interface


@dataclass(frozen=True, slots=True)
class Retention:
    """How long stored state is kept: whole chains and conversations idle for ``max_age`` seconds are removed, and
    the oldest of them too while the store holds more than ``max_size`` bytes of JSON; checked every ``interval``."""

    max_age: float
    max_size: int | None = None
    interval: float = 600.0


@dataclass(frozen=True, slots=True)
class StateStorage:
    type: str
    path: str | None = None
    connection_string: str | None = field(default=None, repr=False)
    schema: str | None = None
    """PostgreSQL schema holding the gateway's tables (default: the connection's search path)."""
    max_responses: int = 10_000
    store_chat_turns: bool = True
    """Store every chat completion so its id can be continued with ``metadata.response_id``; off, chat completions
    to OpenAI-compatible providers are relayed byte for byte and only continuations read state."""
    retention: Retention | None = None
    instance_lease: float = 10.0
    """PostgreSQL: seconds an instance's unfinished responses stay its own without a heartbeat; past that another
    instance takes them over (within a third more)."""
    event_log_ttl: float = 300.0
    """PostgreSQL: seconds a streamed background response's live event log is kept after its last event."""


@dataclass(frozen=True, slots=True)
class GatewayKey:
    """A key clients present to the gateway; only its SHA-256 is kept. `name` owns what its callers store."""

    name: str
    sha256: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Playground:
    enabled: bool = True
    """Serve the playground at ``/``; off, ``/`` is a small page naming the endpoints."""
    keep_upstream_requests: bool = False
    """Keep what each of the last requests sent upstream after translation, for the playground's inspector (a
    debugging aid: the bodies hold the conversations)."""


@dataclass(frozen=True, slots=True)
class TracingSettings:
    """Where the gateway's OpenTelemetry spans go (OTLP over HTTP) and how many of them."""

    endpoint: str
    """The collector's OTLP/HTTP traces URL (``/v1/traces`` is appended to a bare root)."""
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    service_name: str = "plano-proxy"
    sampling_ratio: float = 1.0
    """Share of new traces recorded; a client's sampled ``traceparent`` is always followed."""
    capture_content: bool = False
    """Put prompts and answers on the spans (they hold the conversations)."""


@dataclass(frozen=True, slots=True)
class Config:
    listener: Listener
    providers: tuple[ProviderConfig, ...]
    aliases: Mapping[str, str]
    state_storage: StateStorage | None
    version: str | None = None
    max_body_bytes: int = 32 * 1024 * 1024
    gateway_keys: tuple[GatewayKey, ...] = ()
    """When not empty, every API request must present one of these keys (Bearer or x-api-key)."""
    alias_fallbacks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    cors_origins: tuple[str, ...] = ()
    """Origins allowed to call the gateway from a browser (``"*"`` for any); empty turns CORS off."""
    playground: Playground = Playground()
    tracing: TracingSettings | None = None
    """OpenTelemetry tracing; None (the default) turns it off."""
    ignored_keys: tuple[str, ...] = ()
    """Key paths of Plano settings that plano-proxy does not implement (other unknown keys are errors)."""
    unset_variables: tuple[str, ...] = ()
    """Environment variables the file names that are not set, when loaded with ``keys_required=False`` (``check``):
    one problem each, naming the key path and the variable."""
