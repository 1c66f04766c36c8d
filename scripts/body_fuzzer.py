"""A structure-aware fuzzer for the gateway's client APIs: valid requests, mutated deep inside.

It starts from a corpus of valid bodies of all three client APIs and of the Conversations API, covering every item,
part and tool type the gateway translates, and applies one to three mutations at random depths: drop a field, change
its type, nest it, enlarge it, put unicode oddities or a wrong-shaped id in it. Each body goes to a model on one of
the three upstream kinds (an OpenAI-compatible Chat upstream, a native Responses upstream, Anthropic).

`run_fuzz` sends the bodies to a running gateway and tallies the answers; a 5xx, a hang or a broken connection is a
finding. Everything is drawn from one `random.Random(seed)`, so a seed reproduces a run.

Run alone: ``.venv/bin/python scripts/body_fuzzer.py --url http://127.0.0.1:12000 --bodies 1000 --seed 1``
(with the mock upstream behind the gateway, as ``./scripts/serve`` runs it).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

PNG = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
PDF_B64 = "JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PD4+CmVuZG9iagp0cmFpbGVyCjw8Pj4KJSVFT0YK"
MODELS = ("gpt-4o-mini", "gpt-4o", "claude-sonnet-4-5")
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
ODD_STRINGS = ("", " ", "\u0000", "\ud7ff\ue000", "é" * 3, "🙂" * 4, "\u202e\u200b", "x" * 5000, "null", "{}", "0")


def _chat_bodies() -> list[dict[str, Any]]:
    call = {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}
    tool = {"type": "function", "function": {"name": "weather", "description": "d", "parameters": WEATHER}}
    return [
        {"messages": [{"role": "user", "content": "hi"}]},
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "what"}, {"type": "image_url", "image_url": {"url": PNG}}],
                },
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            ],
            "tools": [tool],
            "tool_choice": {"type": "function", "function": {"name": "weather"}},
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        {
            "messages": [{"role": "developer", "content": "json"}, {"role": "user", "content": "give"}],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "out", "schema": WEATHER, "strict": True},
            },
            "reasoning_effort": "low",
            "stop": ["END"],
            "max_completion_tokens": 100,
            "temperature": 0.5,
            "metadata": {"k": "v"},
        },
        {"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}, "n": 1},
    ]


def _messages_bodies() -> list[dict[str, Any]]:
    tool = {"name": "weather", "description": "d", "input_schema": WEATHER}
    return [
        {"max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]},
        {
            "max_tokens": 2048,
            "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "weather?"}]},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "t", "signature": "sig"},
                        {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_1",
                            "content": [{"type": "text", "text": "sunny"}],
                        },
                        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG[22:]}},
                    ],
                },
            ],
            "tools": [tool],
            "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "stream": True,
        },
        {
            "max_tokens": 100,
            "messages": [
                {"role": "user", "content": "read"},
                {"role": "system", "content": [{"type": "text", "text": "# Environment"}]},
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "document",
                            "source": {"type": "base64", "media_type": "application/pdf", "data": PDF_B64},
                        },
                        {"type": "text", "text": "summarise"},
                    ],
                },
            ],
            "thinking": {"type": "adaptive"},
            "output_config": {"effort": "high", "format": {"type": "json_schema", "schema": WEATHER}},
            "stop_sequences": ["END"],
            "metadata": {"user_id": "u1"},
            "temperature": 0.2,
        },
    ]


def _responses_bodies() -> list[dict[str, Any]]:
    namespace = {
        "type": "namespace",
        "name": "agents",
        "tools": [{"type": "function", "name": "spawn", "parameters": WEATHER}],
    }
    return [
        {"input": "hi"},
        {
            "instructions": "Be brief.",
            "input": [
                {
                    "role": "user",
                    "content": [{"type": "input_text", "text": "what"}, {"type": "input_image", "image_url": PNG}],
                },
                {"type": "reasoning", "summary": [{"type": "summary_text", "text": "t"}], "encrypted_content": None},
                {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": '{"city": "Paris"}'},
                {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
                {"type": "function_call", "call_id": "c2", "name": "spawn", "namespace": "agents", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "ok"}]},
                {"type": "web_search_call", "status": "completed", "action": {"type": "search", "query": "q"}},
            ],
            "tools": [
                {"type": "function", "name": "weather", "parameters": WEATHER, "strict": False},
                namespace,
                {"type": "web_search"},
            ],
            "tool_choice": "auto",
            "reasoning": {"effort": "low", "summary": "auto"},
            "stream": True,
            "store": False,
        },
        {
            "input": [
                {"role": "developer", "content": "json"},
                {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_file", "filename": "a.pdf", "file_data": PDF_B64}],
                },
                {"role": "assistant", "content": [{"type": "output_text", "text": "earlier"}]},
                {"role": "user", "content": "again"},
            ],
            "text": {
                "format": {"type": "json_schema", "name": "out", "schema": WEATHER, "strict": True},
                "verbosity": "low",
            },
            "max_output_tokens": 64,
            "metadata": {"k": "v"},
            "truncation": "auto",
            "include": ["reasoning.encrypted_content"],
            "temperature": 0.3,
            "parallel_tool_calls": False,
            "client_metadata": {"session": "s"},
        },
    ]


def _conversation_bodies() -> list[dict[str, Any]]:
    items = [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]}]
    return [{"items": items, "metadata": {"topic": "t"}}, {"items": [*items, {"role": "assistant", "content": "hi"}]}]


@dataclass(frozen=True, slots=True)
class Target:
    path: str
    corpus: Callable[[], list[dict[str, Any]]]
    takes_model: bool = True
    headers: dict[str, str] = field(default_factory=dict)


ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01", "x-api-key": "fuzz-key"}
TARGETS = (
    Target("/v1/chat/completions", _chat_bodies),
    Target("/v1/messages", _messages_bodies, headers=ANTHROPIC_HEADERS),
    Target("/v1/messages/count_tokens", _messages_bodies, headers=ANTHROPIC_HEADERS),
    Target("/v1/responses", _responses_bodies),
    Target("/v1/responses/input_tokens", _responses_bodies),
    Target("/v1/conversations", _conversation_bodies, takes_model=False),
)


# -- mutations ----------------------------------------------------------------------------------------------------


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside `value`, the root excluded."""
    found: list[tuple[Any, ...]] = []
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        path = (*prefix, key)
        found.append(path)
        found += _paths(child, path)
    return found


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 2 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice((True, False))
    if kind == 2:
        return rng.choice((0, -1, 1, 7, 2**31, -(2**63), 10**30))
    if kind == 3:
        return rng.choice((0.5, -3.25, 1e308, 1e-300))
    if kind in (4, 5):
        return rng.choice(ODD_STRINGS)
    if kind == 6:
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(3))]
    if kind == 7:
        return {rng.choice(("type", "text", "id", "x", "name")): _random_value(rng, depth + 1)}
    return {"type": rng.choice(("text", "input_text", "function", "tool_use", "image", "nonsense"))}


def _mutate_at(body: dict[str, Any], path: tuple[Any, ...], rng: random.Random) -> None:
    parent: Any = body
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    value = parent[key]
    action = rng.randrange(7)
    if action == 0:
        del parent[key]
    elif action == 1:
        parent[key] = _random_value(rng)
    elif action == 2:
        parent[key] = [value] if rng.random() < 0.5 else {"value": value}
    elif action == 3:
        parent[key] = value * rng.choice((2, 50)) if isinstance(value, str | list) else [value] * 30
    elif action == 4:
        parent[key] = rng.choice(ODD_STRINGS)
    elif action == 5 and isinstance(key, str) and ("id" in key or key == "name"):
        parent[key] = rng.choice(({"id": "x"}, ["call_1"], 12, "", "call 1/..", None))
    elif isinstance(value, dict):
        value[rng.choice(("type", "text", "extra", "id"))] = _random_value(rng)
    elif isinstance(value, list):
        value.insert(rng.randrange(len(value) + 1), _random_value(rng))
    else:
        parent[key] = str(value)


def mutated(body: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """`body` after one to three mutations; drawn again when they happen to leave it as it was."""
    for _ in range(10):
        changed = copy.deepcopy(body)
        for _ in range(rng.randint(1, 3)):
            paths = _paths(changed)
            if paths:
                _mutate_at(changed, rng.choice(paths), rng)
        if changed != body:
            break
    return changed


def draw(rng: random.Random) -> tuple[Target, dict[str, Any]]:
    """One fuzzed request: an endpoint, and a corpus body for it, mutated, with a model on some upstream kind."""
    target = rng.choice(TARGETS)
    body = copy.deepcopy(rng.choice(target.corpus()))
    if target.takes_model:
        body["model"] = rng.choice(MODELS)
    return target, mutated(body, rng)


# -- running against a gateway ------------------------------------------------------------------------------------


@dataclass(slots=True)
class FuzzTally:
    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    hangs: int = 0
    broken: int = 0
    findings: list[str] = field(default_factory=list)

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500)

    def summary(self) -> str:
        by_status = ", ".join(f"{status}: {count}" for status, count in sorted(self.statuses.items()))
        return (
            f"{self.sent} bodies; statuses {by_status}; 5xx: {self.server_errors}; hangs: {self.hangs}; "
            f"broken connections: {self.broken}"
        )


async def run_fuzz(
    base_url: str, bodies: int, seed: int, *, concurrency: int = 8, timeout: float = 20.0, key: str = "fuzz-key"
) -> FuzzTally:
    """Send `bodies` fuzzed requests (drawn from `seed`) to the gateway at `base_url`, reading every answer whole."""
    rng = random.Random(seed)
    tally = FuzzTally()
    queue: asyncio.Queue[tuple[Target, dict[str, Any]] | None] = asyncio.Queue(maxsize=concurrency * 2)
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(timeout=client_timeout) as session:

        async def worker() -> None:
            while (job := await queue.get()) is not None:
                await _send(session, base_url, key, *job, tally)

        workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
        for _ in range(bodies):
            await queue.put(draw(rng))
        for _ in workers:
            await queue.put(None)
        await asyncio.gather(*workers)
    return tally


async def _send(
    session: aiohttp.ClientSession, base_url: str, key: str, target: Target, body: dict[str, Any], tally: FuzzTally
) -> None:
    tally.sent += 1
    headers = {"Authorization": f"Bearer {key}", **target.headers}
    data = json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")
    try:
        async with session.post(base_url + target.path, data=data, headers=headers) as response:
            answer = await response.read()
            tally.statuses[response.status] += 1
            if response.status >= 500 and len(tally.findings) < 20:
                tally.findings.append(f"{response.status} {target.path} {answer[:300]!r} for {data[:600]!r}")
    except TimeoutError:
        tally.hangs += 1
        tally.findings.append(f"hang on {target.path} for {data[:600]!r}")
    except aiohttp.ClientError as error:
        tally.broken += 1
        tally.findings.append(f"{type(error).__name__} on {target.path} for {data[:600]!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:12000", help="the gateway (default: %(default)s)")
    parser.add_argument("--bodies", type=int, default=1000, help="how many bodies to send (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=1, help="the seed that draws them (default: %(default)s)")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight (default: %(default)s)")
    options = parser.parse_args()
    started = time.monotonic()
    tally = asyncio.run(
        run_fuzz(options.url.rstrip("/"), options.bodies, options.seed, concurrency=options.concurrency)
    )
    print(f"seed {options.seed}: {tally.summary()} in {time.monotonic() - started:.0f} s")
    for finding in tally.findings:
        print("  " + finding)
    raise SystemExit(1 if tally.findings else 0)


if __name__ == "__main__":
    main()
