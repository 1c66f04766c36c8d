"""The canonical model every conversion passes through.

Client formats (Chat Completions, Anthropic Messages, Responses) are parsed into a `CanonicalRequest`; provider
formats are produced from it. Provider answers are decoded into a flat sequence of canonical stream `Event`s, which
client-format encoders turn into their own events or final body. N client formats and M provider formats therefore
need N + M converters.

Conversation items are kept in the shape of OpenAI Responses input items (plain dicts that serialise to JSON as they
are), normalised so that every converter sees one form:

- ``{"type": "message", "role": "user"|"assistant"|"system"|"developer", "content": [part, ...]}`` where a part is
  ``{"type": "input_text", "text"}`` (user/system/developer), ``{"type": "output_text", "text", "annotations": []}``
  (assistant), ``{"type": "refusal", "refusal"}`` (assistant), ``{"type": "input_image", "image_url", "detail"}``
  with a ``data:`` URL or an http(s) URL, ``{"type": "input_file", "file_data", "filename"}`` with a ``data:`` URL;
- ``{"type": "function_call", "call_id", "name", "arguments": str}`` (``id`` optional; ``namespace`` when the tool
  belongs to a Responses ``namespace`` tool);
- ``{"type": "function_call_output", "call_id", "output": str | [part, ...]}``;
- ``{"type": "reasoning", "summary": [{"type": "summary_text", "text"}], "encrypted_content": str | None}`` where
  ``encrypted_content`` is opaque and owned by the provider side that minted it (see `reasoning_codec`);
- any other ``{"type": …}`` item a client sent (a built-in tool's call, a type newer than this gateway), kept as sent:
  a native Responses provider gets it verbatim, others get it as text (see `foreign`).

Because these items are exactly what the Responses API stores and replays, the state store keeps them losslessly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

Item: TypeAlias = dict[str, Any]
ClientFormat: TypeAlias = Literal["chat", "anthropic", "responses"]
FinishReason: TypeAlias = Literal["stop", "length", "tool_calls", "content_filter"]


NAMESPACE_SEPARATOR = "__"


def flat_tool_name(name: str, namespace: str | None) -> str:
    """The single function name a provider without tool namespaces knows a namespaced function by."""
    return f"{namespace}{NAMESPACE_SEPARATOR}{name}" if namespace else name


@dataclass(frozen=True, slots=True)
class ToolNamespace:
    """A Responses ``namespace`` tool: a named group of functions."""

    name: str
    description: str | None = None


@dataclass(frozen=True, slots=True)
class FunctionTool:
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None
    namespace: ToolNamespace | None = None

    @property
    def flat_name(self) -> str:
        return flat_tool_name(self.name, self.namespace.name if self.namespace else None)


@dataclass(frozen=True, slots=True)
class ToolChoice:
    """`mode` "function" names one tool in `name`; "required" means any tool."""

    mode: Literal["auto", "none", "required", "function"]
    name: str | None = None


@dataclass(frozen=True, slots=True)
class OutputFormat:
    type: Literal["text", "json_object", "json_schema"]
    name: str | None = None
    schema: dict[str, Any] | None = None
    strict: bool | None = None


@dataclass(frozen=True, slots=True)
class Reasoning:
    """`effort` is OpenAI's scale (minimal/low/medium/high/...); `budget_tokens` an explicit Anthropic budget."""

    effort: str | None = None
    summary: str | None = None
    budget_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class CanonicalRequest:
    model: str
    items: tuple[Item, ...]
    instructions: str | None = None
    tools: tuple[FunctionTool, ...] = ()
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_output_tokens: int | None = None
    stop: tuple[str, ...] = ()
    output_format: OutputFormat | None = None
    reasoning: Reasoning | None = None
    user: str | None = None
    stream: bool = False
    include_usage: bool = True
    metadata: dict[str, str] = field(default_factory=dict)
    client_format: ClientFormat | None = None
    """The API the client spoke: a provider of that same format gets `extra` and `foreign_tools` as sent."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Top-level fields no converter reads (new or provider-specific parameters), as the client sent them."""
    foreign_tools: tuple[dict[str, Any], ...] = ()
    """Tools of the client's format with no canonical form (OpenAI's built-in tools, Anthropic's server tools), as
    sent."""
    history: tuple[Item, ...] = ()
    """The stored history `items` begin with, as the store handed it out, for a turn that continues one: what is
    worked out from a history is kept per history (`history_memo`), which checks that `items` still begin with it."""


# ---------------------------------------------------------------------------------------------------------------
# Stream events. `index` identifies one output block (text, refusal, reasoning or tool call) within one answer; it is
# assigned by the provider decoder, unique per block, and need not be contiguous.


@dataclass(frozen=True, slots=True)
class ResponseStart:
    id: str
    model: str


@dataclass(frozen=True, slots=True)
class TextDelta:
    index: int
    text: str


@dataclass(frozen=True, slots=True)
class RefusalDelta:
    index: int
    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    index: int
    text: str


@dataclass(frozen=True, slots=True)
class ReasoningSignature:
    """Opaque proof that makes a reasoning block replayable.

    `origin` says who minted it: an Anthropic thinking ``signature`` or OpenAI's reasoning ``encrypted_content``,
    both raw; encoders wrap them with `reasoning_codec` when the client speaks the other format.
    """

    index: int
    signature: str
    origin: Literal["anthropic", "openai"]


@dataclass(frozen=True, slots=True)
class RedactedReasoning:
    index: int
    data: str


@dataclass(frozen=True, slots=True)
class ToolCallStart:
    index: int
    call_id: str
    name: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    index: int
    arguments: str


@dataclass(frozen=True, slots=True)
class BlockEnd:
    index: int


@dataclass(frozen=True, slots=True)
class Usage:
    """`input_tokens` counts every prompt token, cached ones included (OpenAI's convention)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cache_creation_tokens: int = 0
    reasoning_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Finish:
    reason: FinishReason


@dataclass(frozen=True, slots=True)
class StreamError:
    """The upstream failed after the answer started; `status` is the HTTP status it would have had, `type` and `code`
    are OpenAI's words for it (built by `error_types.stream_error`, which each client's encoder reads back)."""

    status: int
    type: str
    message: str
    code: str | None = None


Event: TypeAlias = (
    ResponseStart
    | TextDelta
    | RefusalDelta
    | ReasoningDelta
    | ReasoningSignature
    | RedactedReasoning
    | ToolCallStart
    | ToolCallDelta
    | BlockEnd
    | Usage
    | Finish
    | StreamError
)
