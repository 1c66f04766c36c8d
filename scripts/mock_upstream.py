"""A mock LLM provider for tests, benchmarks and trying the gateway without keys.

One aiohttp server speaks OpenAI Chat Completions, OpenAI Responses (stateless) and Anthropic Messages in each
provider's wire format. Answers are deterministic and say what the provider received::

    mock-gpt-4o-mini heard 3 messages (system: no, images: 0, tool results: 0); last user said: "What's my name?";
    earlier user texts: ["My name is Alice"]

Behaviour, decided from the request:

- tools offered and the last message is the user's: it calls the first tool (or the one ``tool_choice`` forces) with
  arguments built from the schema; two calls when the user text contains "parallel". After a tool result it answers
  ``tool result received: <text>.`` followed by the usual echo.
- reasoning asked for (Anthropic ``thinking``, Responses ``reasoning``): a reasoning block comes first, signed.
- structured output asked for: the text is a JSON object matching a simple schema.
- ``max_tokens`` / ``max_output_tokens``: a token is a word; the output stops there with a length finish.
- faults, by the ``x-mock-fault`` header or ``[[fault:…]]`` in the last user text: ``429`` (with Retry-After),
  ``500``, ``503``, ``529``, ``401``, ``402``, ``cut`` (the stream stops mid-way without its end),
  ``error-mid-stream`` (the provider's own in-stream error), ``slow-first-byte:<ms>``; ``x<N>`` after a fault limits it
  to the first N matching requests (``[[fault:500x2]]``).
- ``[[say-first]]``: an answer that calls a tool says a sentence first (text, then the call, as Claude often does).
- ``[[call:NAME {json}]]``: call the offered tool NAME with exactly these arguments (how the agent CLI tests make a
  coding agent run one command); the tool must be offered, under that name or as a namespace's function.
- ``[[events:N]]`` streams N text deltas (for benchmarks). Deltas are paced by ``[[delay:MS]]``, the
  ``x-mock-delta-delay-ms`` header or ``--delta-delay-ms``. Streams whose reader disconnects are noted in
  ``app[ABORTED]``.

The last 10,000 requests received are kept in ``app[REQUESTS]`` for tests to inspect (only the last ones, so that a
long benchmark or load run does not grow the mock without bound).

Run: ``python scripts/mock_upstream.py --port 12001``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from mock_formats import Block, Plan, anthropic_format, chat_format, new_id, responses_format

# ---------------------------------------------------------------------------------------------------------------
# What the mock heard and what it will answer


@dataclass(frozen=True, slots=True)
class MockConfig:
    delta_delay: float = 0.0


@dataclass(frozen=True, slots=True)
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass(slots=True)
class Heard:
    """A provider-neutral view of the request: the conversation and what is asked of the answer."""

    model: str
    messages: int = 0
    system: bool = False
    images: int = 0
    user_texts: list[str] = field(default_factory=list)
    tool_results: list[str] = field(default_factory=list)
    last_is_tool_result: bool = False
    tools: list[dict[str, Any]] = field(default_factory=list)
    """Each ``{"name", "parameters"}``."""
    forced_tool: str | None = None
    tools_disabled: bool = False
    reasoning: bool = False
    json_schema: dict[str, Any] | None = None
    max_tokens: int | None = None
    input_words: int = 0


REQUESTS = web.AppKey("requests", deque)
KEPT_REQUESTS = 10_000
FAULT_COUNTS = web.AppKey("fault_counts", dict)
CONFIG = web.AppKey("config", MockConfig)
ABORTED = web.AppKey("aborted", list)
"""`time.monotonic()` of each stream whose reader disconnected before the end."""

_FAULT = re.compile(r"\[\[fault:([a-z0-9:-]+?)(?:x(\d+))?\]\]")
_EVENTS = re.compile(r"\[\[events:(\d+)\]\]")
_SAY_FIRST = "[[say-first]]"
_CALL = re.compile(r"\[\[call:([A-Za-z0-9_.:-]+) (\{.*?\})\]\]")
_DELAY = re.compile(r"\[\[delay:(\d+)\]\]")


def echo_text(heard: Heard) -> str:
    last = heard.user_texts[-1] if heard.user_texts else ""
    text = (
        f"mock-{heard.model} heard {heard.messages} messages (system: {'yes' if heard.system else 'no'}, "
        f"images: {heard.images}, tool results: {len(heard.tool_results)}); last user said: {json.dumps(last)}; "
        f"earlier user texts: {json.dumps(heard.user_texts[:-1])}"
    )
    if heard.last_is_tool_result:
        text = f"tool result received: {heard.tool_results[-1]}. " + text
    return text


def plan_answer(heard: Heard) -> Plan:
    blocks: list[Block] = []
    if heard.reasoning:
        blocks.append(Block("reasoning", f"Thinking about {heard.messages} messages."))
    calls = _tool_calls(heard)
    if calls:
        if _SAY_FIRST in heard.user_texts[-1]:
            blocks.append(Block("text", "Let me look that up."))
        blocks += calls
        finish = "tool_calls"
    else:
        blocks.append(Block("text", _answer_text(heard)))
        finish = "stop"
    blocks, truncated = _truncate(blocks, heard.max_tokens)
    words = sum(len(b.text.split()) + (1 if b.kind == "tool_call" else 0) for b in blocks)
    return Plan(blocks, "length" if truncated else finish, max(1, heard.input_words), words)


def _answer_text(heard: Heard) -> str:
    last = heard.user_texts[-1] if heard.user_texts else ""
    match = _EVENTS.search(last)
    if match:
        return " ".join(f"w{i}" for i in range(int(match.group(1))))
    if heard.json_schema is not None:
        return json.dumps(_value_for(heard.json_schema, echo_text(heard)))
    return echo_text(heard)


def _tool_calls(heard: Heard) -> list[Block]:
    if not heard.tools or heard.tools_disabled or heard.last_is_tool_result or not heard.user_texts:
        return []
    scripted = _CALL.search(heard.user_texts[-1])
    if scripted is not None:
        return [_scripted_call(heard, scripted.group(1), scripted.group(2))]
    tools = heard.tools
    if heard.forced_tool:
        tools = [t for t in tools if t["name"] == heard.forced_tool] or tools
    chosen = [tools[0]]
    if "parallel" in heard.user_texts[-1]:
        chosen.append(tools[1] if len(tools) > 1 else tools[0])
    return [
        Block(
            "tool_call",
            json.dumps(_value_for(t.get("parameters") or {}, heard.user_texts[-1])),
            new_id("call_"),
            t["name"],
            t.get("namespace", ""),
        )
        for t in chosen
    ]


def _scripted_call(heard: Heard, name: str, arguments: str) -> Block:
    """The call ``[[call:NAME {json}]]`` asks for: by the name the provider knows the tool by (a namespaced function
    may be offered flattened as ``namespace__name``)."""
    known = next((t for t in heard.tools if t["name"] == name or t["name"].endswith(f"__{name}")), None)
    if known is None:
        raise ValueError(f"[[call:{name}]] names a tool that is not offered: {[t['name'] for t in heard.tools]}")
    arguments = json.dumps(json.loads(arguments))
    return Block("tool_call", arguments, new_id("call_"), known["name"], known.get("namespace", ""))


def _value_for(schema: dict[str, Any], text: str) -> Any:
    """A deterministic value valid for a simple JSON schema."""
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object" or "properties" in schema:
        return {name: _value_for(sub, text) for name, sub in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [_value_for(schema.get("items") or {"type": "string"}, text)]
    if kind == "integer":
        return 42
    if kind == "number":
        return 4.2
    if kind == "boolean":
        return True
    return text[:40] or "mock"


def _truncate(blocks: list[Block], limit: int | None) -> tuple[list[Block], bool]:
    if limit is None:
        return blocks, False
    kept: list[Block] = []
    left = limit
    for block in blocks:
        if block.kind != "text":
            kept.append(block)
            continue
        words = block.text.split(" ")
        if len(words) > left:
            kept.append(Block("text", " ".join(words[:left])))
            return kept, True
        left -= len(words)
        kept.append(block)
    return kept, False


# ---------------------------------------------------------------------------------------------------------------
# Reading each request format into `Heard`


def _count_words(value: Any) -> int:
    return len(orjson.dumps(value).split(b" ")) if value is not None else 0


def _schema_of(fmt: dict[str, Any] | None) -> dict[str, Any] | None:
    if not fmt:
        return None
    if fmt.get("type") == "json_schema":
        inner = fmt.get("json_schema", fmt)
        return inner.get("schema") or {"type": "object"}
    if fmt.get("type") == "json_object":
        return {"type": "object", "properties": {"answer": {"type": "string"}}}
    return None


def heard_from_chat(body: dict[str, Any]) -> Heard:
    heard = Heard(model=str(body.get("model")), input_words=_count_words(body.get("messages")))
    for message in body.get("messages") or []:
        role = message.get("role")
        if role in ("system", "developer"):
            heard.system = True
            continue
        heard.messages += 1
        heard.last_is_tool_result = role == "tool"
        if role == "tool":
            heard.tool_results.append(_plain_text(message.get("content")))
        elif role == "user":
            _read_user_content(heard, message.get("content"))
    heard.tools = [
        {"name": t["function"]["name"], "parameters": t["function"].get("parameters")}
        for t in body.get("tools") or []
        if t.get("type") == "function"
    ]
    choice = body.get("tool_choice")
    heard.tools_disabled = choice == "none"
    if isinstance(choice, dict):
        heard.forced_tool = choice.get("function", {}).get("name")
    heard.reasoning = body.get("reasoning_effort") not in (None, "none")
    heard.json_schema = _schema_of(body.get("response_format"))
    heard.max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    return heard


def heard_from_anthropic(body: dict[str, Any]) -> Heard:
    heard = Heard(model=str(body.get("model")), input_words=_count_words(body.get("messages")))
    heard.system = bool(body.get("system"))
    for message in body.get("messages") or []:
        heard.messages += 1
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
        results = [b for b in blocks if b.get("type") == "tool_result"]
        heard.tool_results += [_plain_text(b.get("content")) for b in results]
        heard.last_is_tool_result = bool(results) and message.get("role") == "user"
        if message.get("role") == "user":
            _read_user_content(heard, [b for b in blocks if b.get("type") != "tool_result"])
    heard.tools = [{"name": t["name"], "parameters": t.get("input_schema")} for t in body.get("tools") or []]
    choice = body.get("tool_choice") or {}
    heard.tools_disabled = choice.get("type") == "none"
    heard.forced_tool = choice.get("name") if choice.get("type") == "tool" else None
    heard.reasoning = (body.get("thinking") or {}).get("type") in ("enabled", "adaptive")
    heard.json_schema = _schema_of((body.get("output_config") or {}).get("format"))
    heard.max_tokens = body.get("max_tokens")
    return heard


def heard_from_responses(body: dict[str, Any]) -> Heard:
    heard = Heard(model=str(body.get("model")), input_words=_count_words(body.get("input")))
    heard.system = bool(body.get("instructions"))
    raw = body.get("input")
    items = [{"role": "user", "content": raw}] if isinstance(raw, str) else raw or []
    for item in items:
        kind = item.get("type", "message")
        if kind == "message" and item.get("role") in ("system", "developer"):
            heard.system = True
            continue
        if kind not in ("message", "function_call_output"):
            continue
        heard.messages += 1
        heard.last_is_tool_result = kind == "function_call_output"
        if kind == "function_call_output":
            heard.tool_results.append(_plain_text(item.get("output")))
        elif item.get("role") == "user":
            _read_user_content(heard, item.get("content"))
    heard.tools = _responses_functions(body.get("tools") or [])
    choice = body.get("tool_choice")
    heard.tools_disabled = choice == "none"
    heard.forced_tool = choice.get("name") if isinstance(choice, dict) else None
    heard.reasoning = bool(body.get("reasoning"))
    heard.json_schema = _schema_of((body.get("text") or {}).get("format"))
    heard.max_tokens = body.get("max_output_tokens")
    return heard


def _responses_functions(tools: list[dict[str, Any]], namespace: str = "") -> list[dict[str, Any]]:
    """Function tools, a ``namespace`` tool's functions among them (called with their namespace, as OpenAI does)."""
    functions = []
    for tool in tools:
        if tool.get("type", "function") == "function":
            functions.append({"name": tool["name"], "parameters": tool.get("parameters"), "namespace": namespace})
        elif tool.get("type") == "namespace":
            functions += _responses_functions(tool.get("tools") or [], tool["name"])
    return functions


def _read_user_content(heard: Heard, content: Any) -> None:
    parts = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
    texts = []
    for part in parts:
        if part.get("type") in ("text", "input_text"):
            texts.append(part.get("text", ""))
        elif part.get("type") in ("image_url", "image", "input_image"):
            heard.images += 1
    if texts:
        heard.user_texts.append(" ".join(texts))


def _plain_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return "" if content is None else json.dumps(content)


# ---------------------------------------------------------------------------------------------------------------
# Faults


@dataclass(frozen=True, slots=True)
class Fault:
    kind: str
    slow_first_byte: float = 0.0


def pick_fault(request: web.Request, heard: Heard) -> Fault | None:
    spec = request.headers.get("x-mock-fault")
    limit: int | None = None
    if spec is None:
        match = _FAULT.search(heard.user_texts[-1]) if heard.user_texts else None
        if match is None:
            return None
        spec, limit = match.group(1), int(match.group(2)) if match.group(2) else None
    else:
        spec, _, times = spec.partition("x")
        limit = int(times) if times.isdigit() else None
    counts = request.app[FAULT_COUNTS]
    key = (spec, tuple(heard.user_texts))
    counts[key] = counts.get(key, 0) + 1
    if limit is not None and counts[key] > limit:
        return None
    if spec.startswith("slow-first-byte:"):
        return Fault("slow", float(spec.split(":", 1)[1]) / 1000)
    return Fault(spec)


_OPENAI_ERRORS = {
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    # OpenAI itself sends quota exhaustion as a 429; OpenAI-compatible providers (OpenRouter) send a 402.
    402: (
        "You exceeded your current quota, please check your plan and billing details.",
        "insufficient_quota",
        "insufficient_quota",
    ),
    429: ("Rate limit reached for requests. Please try again in 1s.", "requests", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request. Sorry about that!", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
    529: ("The engine is currently overloaded, please try again later.", "server_error", None),
}
_ANTHROPIC_ERRORS = {
    401: ("authentication_error", "invalid x-api-key"),
    402: ("billing_error", "Your credit balance is too low to access the Anthropic API."),
    429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"),
    500: ("api_error", "Internal server error"),
    503: ("overloaded_error", "Overloaded"),
    529: ("overloaded_error", "Overloaded"),
}


def openai_error(status: int, message: str, type_: str, code: str | None, param: str | None = None) -> web.Response:
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    headers = {"x-request-id": new_id("req_")}
    if status == 429:
        headers |= {"retry-after": "1", "x-ratelimit-limit-requests": "500", "x-ratelimit-remaining-requests": "0"}
    return web.json_response(body, status=status, headers=headers)


def anthropic_error(status: int, type_: str, message: str) -> web.Response:
    request_id = new_id("req_")
    headers = {"request-id": request_id}
    if status == 429:
        headers |= {
            "retry-after": "1",
            "anthropic-ratelimit-requests-limit": "50",
            "anthropic-ratelimit-requests-remaining": "0",
        }
    body = {"type": "error", "error": {"type": type_, "message": message}, "request_id": request_id}
    return web.json_response(body, status=status, headers=headers)


def status_fault_response(fault: Fault, anthropic: bool, presented_key: str) -> web.Response | None:
    if not fault.kind.isdigit():
        return None
    status = int(fault.kind)
    if anthropic:
        type_, message = _ANTHROPIC_ERRORS.get(status, ("api_error", "Internal server error"))
        return anthropic_error(status, type_, message)
    message, type_, code = _OPENAI_ERRORS.get(status, _OPENAI_ERRORS[500])
    if status == 401:
        # OpenAI names the rejected key in this message (partly masked); the mock names it whole, the worst case a
        # gateway must not pass on to its caller.
        message = f"Incorrect API key provided: {presented_key}."
    return openai_error(status, message, type_, code)


# ---------------------------------------------------------------------------------------------------------------
# Streaming


async def stream_sse(
    request: web.Request,
    events: list[bytes],
    fault: Fault | None,
    error_event: Callable[[int], bytes],
    headers: dict[str, str],
    delay: float,
) -> web.StreamResponse:
    response = web.StreamResponse(status=200, headers={"Content-Type": "text/event-stream; charset=utf-8", **headers})
    await response.prepare(request)
    try:
        await _write_events(request, response, events, fault, error_event, delay)
    except ConnectionResetError:
        # The caller went away mid-stream: note when, so tests can see how fast a gateway gave up.
        request.app[ABORTED].append(time.monotonic())
    except asyncio.CancelledError:
        request.app[ABORTED].append(time.monotonic())
        raise
    return response


async def _write_events(
    request: web.Request,
    response: web.StreamResponse,
    events: list[bytes],
    fault: Fault | None,
    error_event: Callable[[int], bytes],
    delay: float,
) -> None:
    stop_at = len(events) // 2 if fault is not None and fault.kind in ("cut", "error-mid-stream") else None
    for index, event in enumerate(events):
        if stop_at is not None and index == max(stop_at, 2):
            if fault is not None and fault.kind == "cut":
                assert request.transport is not None
                request.transport.abort()
                return
            await response.write(error_event(index))
            break
        await response.write(event)
        if delay:
            await asyncio.sleep(delay)
    await response.write_eof()


def _delay(request: web.Request, heard: Heard) -> float:
    """Pause between stream events: ``[[delay:MS]]`` in the last user text, the header, or the configured pace."""
    match = _DELAY.search(heard.user_texts[-1]) if heard.user_texts else None
    if match:
        return int(match.group(1)) / 1000
    header = request.headers.get("x-mock-delta-delay-ms")
    return float(header) / 1000 if header else request.app[CONFIG].delta_delay


# ---------------------------------------------------------------------------------------------------------------
# Handlers


def _record(request: web.Request, body: Any) -> None:
    request.app[REQUESTS].append(ReceivedRequest(request.method, request.path, dict(request.headers), body))


async def _json_body(request: web.Request) -> Any:
    raw = await request.read()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


async def handle_chat(request: web.Request) -> web.StreamResponse:
    body = await _json_body(request)
    _record(request, body)
    if not isinstance(body, dict) or not body.get("messages"):
        return openai_error(400, "'messages' is a required property", "invalid_request_error", None, "messages")
    try:
        heard = heard_from_chat(body)
    except (AttributeError, TypeError, KeyError, IndexError):
        return openai_error(400, "The request body is not a valid chat request.", "invalid_request_error", None)
    return await _answer(request, heard, body, chat_format, anthropic=False)


async def handle_responses(request: web.Request) -> web.StreamResponse:
    body = await _json_body(request)
    _record(request, body)
    if not isinstance(body, dict):
        return openai_error(400, "The body must be a JSON object.", "invalid_request_error", None)
    previous = body.get("previous_response_id")
    if previous:
        return openai_error(
            400,
            f"Previous response with id '{previous}' not found.",
            "invalid_request_error",
            "previous_response_not_found",
            "previous_response_id",
        )
    try:
        heard = heard_from_responses(body)
    except (AttributeError, TypeError, KeyError, IndexError):
        return openai_error(400, "The request body is not a valid Responses request.", "invalid_request_error", None)
    return await _answer(request, heard, body, responses_format, anthropic=False)


async def handle_messages(request: web.Request) -> web.StreamResponse:
    body = await _json_body(request)
    _record(request, body)
    problem = _anthropic_problem(request, body)
    if problem is not None:
        return problem
    try:
        heard = heard_from_anthropic(body)
    except (AttributeError, TypeError, KeyError, IndexError):
        return anthropic_error(400, "invalid_request_error", "messages: the content blocks are not valid")
    return await _answer(request, heard, body, anthropic_format, anthropic=True)


async def handle_count_tokens(request: web.Request) -> web.Response:
    body = await _json_body(request)
    _record(request, body)
    problem = _anthropic_problem(request, body, need_max_tokens=False)
    if problem is not None:
        return problem
    return web.json_response({"input_tokens": heard_from_anthropic(body).input_words})


async def handle_input_tokens(request: web.Request) -> web.Response:
    """OpenAI's ``/responses/input_tokens``: the mock counts a word as a token, as its answers' usage does."""
    body = await _json_body(request)
    _record(request, body)
    if not isinstance(body, dict):
        return openai_error(400, "The body must be a JSON object.", "invalid_request_error", None)
    tokens = heard_from_responses(body).input_words
    return web.json_response({"object": "response.input_tokens", "input_tokens": tokens})


def _anthropic_problem(request: web.Request, body: Any, need_max_tokens: bool = True) -> web.Response | None:
    if "x-api-key" not in request.headers and not request.headers.get("authorization", "").startswith("Bearer "):
        return anthropic_error(401, "authentication_error", "x-api-key header is required")
    if "anthropic-version" not in request.headers:
        return anthropic_error(400, "invalid_request_error", "anthropic-version: header is required")
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return anthropic_error(400, "invalid_request_error", "messages: Field required")
    if need_max_tokens and not isinstance(body.get("max_tokens"), int):
        return anthropic_error(400, "invalid_request_error", "max_tokens: Field required")
    return None


async def _answer(
    request: web.Request, heard: Heard, body: dict[str, Any], fmt: Any, *, anthropic: bool
) -> web.StreamResponse:
    fault = pick_fault(request, heard)
    if fault is not None and fault.kind == "slow":
        await asyncio.sleep(fault.slow_first_byte)
    presented = request.headers.get("Authorization", "").removeprefix("Bearer ") or request.headers.get("api-key", "")
    if fault is not None and (early := status_fault_response(fault, anthropic, presented)) is not None:
        return early
    plan = plan_answer(heard)
    if body.get("stream") is True:
        events = fmt.stream_events(plan, body)
        return await stream_sse(request, events, fault, fmt.error_event, fmt.HEADERS, _delay(request, heard))
    return web.json_response(fmt.whole_body(plan, body), headers=fmt.HEADERS)


async def handle_models(request: web.Request) -> web.Response:
    names = ["gpt-4o-mini", "gpt-4o", "claude-sonnet-4-5", "claude-3-5-sonnet-20241022"]
    if "anthropic-version" in request.headers:
        data = [{"type": "model", "id": n, "display_name": n, "created_at": "2025-01-01T00:00:00Z"} for n in names]
        return web.json_response({"data": data, "has_more": False, "first_id": names[0], "last_id": names[-1]})
    return web.json_response(
        {
            "object": "list",
            "data": [{"id": n, "object": "model", "created": 1735689600, "owned_by": "mock"} for n in names],
        }
    )


@web.middleware
async def refuse_what_it_cannot_read(request: web.Request, handler: Any) -> web.StreamResponse:
    """A body the mock cannot make sense of is the client's 400, in the provider's format, as a real provider answers
    a malformed request; the mock never answers it with a crash (a 500 the gateway would pass on as the provider's)."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except web.HTTPException:
        raise
    except (AttributeError, KeyError, TypeError, ValueError, IndexError) as error:
        message = f"The mock provider cannot read this request: {type(error).__name__}: {error}"
        if "/messages" in request.path:
            return anthropic_error(400, "invalid_request_error", message)
        return openai_error(400, message, "invalid_request_error", None)


def create_mock_app(config: MockConfig | None = None) -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[refuse_what_it_cannot_read])
    app[REQUESTS] = deque(maxlen=KEPT_REQUESTS)
    app[FAULT_COUNTS] = {}
    app[ABORTED] = []
    app[CONFIG] = config or MockConfig()
    for prefix in ("/v1", ""):
        app.router.add_post(f"{prefix}/chat/completions", handle_chat)
        app.router.add_post(f"{prefix}/responses", handle_responses)
        app.router.add_post(f"{prefix}/responses/input_tokens", handle_input_tokens)
        app.router.add_post(f"{prefix}/messages", handle_messages)
        app.router.add_post(f"{prefix}/messages/count_tokens", handle_count_tokens)
        app.router.add_get(f"{prefix}/models", handle_models)
    app.router.add_post("/openai/deployments/{deployment}/chat/completions", handle_chat)
    return app


@asynccontextmanager
async def running_mock(config: MockConfig | None = None, port: int = 0) -> AsyncIterator[str]:
    """Run the mock on 127.0.0.1 in the current event loop; yields its base URL."""
    runner = web.AppRunner(create_mock_app(config), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description="Mock OpenAI/Anthropic upstream for plano-proxy.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12001)
    parser.add_argument("--delta-delay-ms", type=float, default=0.0)
    args = parser.parse_args()
    app = create_mock_app(MockConfig(delta_delay=args.delta_delay_ms / 1000))
    # One line once the port is bound, so a caller (scripts/serve) knows the mock itself holds it.
    ready = f"mock upstream listening on http://{args.host}:{args.port}"
    web.run_app(app, host=args.host, port=args.port, access_log=None, print=lambda *_: print(ready, flush=True))


if __name__ == "__main__":
    main()
