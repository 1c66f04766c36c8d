"""End-to-end smoke run against a running gateway, through the official openai and anthropic SDKs.

Each step prints what came back and the run stops at the first failure (exit code 1). Meant for the gateway started
by ``./scripts/serve`` (the mock upstream behind it, so answers say what the provider heard) or any deployment whose
config has the same model names: gpt-4o-mini (Chat Completions), gpt-4o (native Responses) and claude-sonnet-4-5.

    .venv/bin/python scripts/smoke.py [--base-url http://127.0.0.1:12000]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

import anthropic
import openai

PARAMETERS = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
CHAT_TOOL: Any = {"type": "function", "function": {"name": "get_weather", "parameters": PARAMETERS}}
RESPONSES_TOOL: Any = {"type": "function", "name": "get_weather", "parameters": PARAMETERS}
ANTHROPIC_TOOL: Any = {"name": "get_weather", "input_schema": PARAMETERS}


def chat_tool_round_trip(client: openai.OpenAI, model: str) -> str:
    question: Any = {"role": "user", "content": "weather in Paris?"}
    first = client.chat.completions.create(model=model, tools=[CHAT_TOOL], messages=[question])
    message = first.choices[0].message
    call: Any = (message.tool_calls or [])[0]
    result: Any = {"role": "tool", "tool_call_id": call.id, "content": "18C and sunny"}
    second = client.chat.completions.create(
        model=model, tools=[CHAT_TOOL], messages=[question, message.model_dump(exclude_none=True), result]
    )
    return f"{call.function.name}({call.function.arguments}) -> {second.choices[0].message.content}"


def anthropic_tool_round_trip(client: anthropic.Anthropic, model: str) -> str:
    question: Any = {"role": "user", "content": "weather in Oslo?"}
    first = client.messages.create(model=model, max_tokens=200, tools=[ANTHROPIC_TOOL], messages=[question])
    use: Any = next(block for block in first.content if block.type == "tool_use")
    answer: Any = [
        question,
        {"role": "assistant", "content": [block.model_dump() for block in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "3C"}]},
    ]
    second: Any = client.messages.create(model=model, max_tokens=200, tools=[ANTHROPIC_TOOL], messages=answer)
    return f"{use.name}({use.input}) -> {second.content[0].text}"


def chat_stream(client: openai.OpenAI, model: str) -> str:
    chunks = client.chat.completions.create(model=model, stream=True, messages=[{"role": "user", "content": "stream"}])
    return "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)


def anthropic_stream(client: anthropic.Anthropic, model: str) -> str:
    with client.messages.stream(model=model, max_tokens=200, messages=[{"role": "user", "content": "stream"}]) as s:
        return "".join(s.text_stream)


def responses_both_ways(client: openai.OpenAI, model: str) -> str:
    created = client.responses.create(model=model, input="hello")
    with client.responses.stream(model=model, input="hello") as stream:
        streamed = stream.get_final_response()
    assert created.status == streamed.status == "completed", (created.status, streamed.status)
    return created.output_text


def responses_event_sequence(client: openai.OpenAI, model: str) -> str:
    events = client.responses.create(model=model, stream=True, input="[[say-first]] weather?", tools=[RESPONSES_TOOL])
    lines = []
    for event in events:
        item = getattr(event, "item", None)
        delta = getattr(event, "delta", None) if event.type.endswith(".delta") else None
        detail = f" {item.type}" if item is not None else (f" {delta!r}" if delta else "")
        lines.append(f"    {event.sequence_number:2d} {event.type}{detail}")
    return "\n" + "\n".join(lines)


def state_across_providers(client: openai.OpenAI) -> str:
    first = client.responses.create(model="claude-sonnet-4-5", input="My name is Alice")
    second = client.responses.create(model="gpt-4o-mini", input="What is my name?", previous_response_id=first.id)
    return second.output_text


def chat_continuation(client: openai.OpenAI) -> str:
    first = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "I am Bob"}])
    second = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Who am I?"}], metadata={"response_id": first.id}
    )
    return second.choices[0].message.content or ""


def steps(oa: openai.OpenAI, an: anthropic.Anthropic) -> list[tuple[str, Callable[[], str]]]:
    return [
        ("chat, openai SDK, gpt-4o-mini, tool round trip", lambda: chat_tool_round_trip(oa, "gpt-4o-mini")),
        ("chat, openai SDK, gpt-4o-mini, stream", lambda: chat_stream(oa, "gpt-4o-mini")),
        ("chat, openai SDK on Claude, tool round trip", lambda: chat_tool_round_trip(oa, "claude-sonnet-4-5")),
        ("chat, openai SDK on Claude, stream", lambda: chat_stream(oa, "claude-sonnet-4-5")),
        ("messages, anthropic SDK on GPT, tool round trip", lambda: anthropic_tool_round_trip(an, "gpt-4o-mini")),
        ("messages, anthropic SDK on GPT, stream", lambda: anthropic_stream(an, "gpt-4o-mini")),
        ("messages, anthropic SDK on Claude, stream", lambda: anthropic_stream(an, "claude-sonnet-4-5")),
        *[
            (f"responses, create and stream, {model}", lambda model=model: responses_both_ways(oa, model))
            for model in ("gpt-4o-mini", "claude-sonnet-4-5", "gpt-4o")
        ],
        ("responses, events of text then a call, Claude", lambda: responses_event_sequence(oa, "claude-sonnet-4-5")),
        ("responses, state from Claude to GPT", lambda: state_across_providers(oa)),
        ("chat, continuation with metadata.response_id", lambda: chat_continuation(oa)),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:12000")
    parser.add_argument("--api-key", default="test-key", help="sent as the SDKs' key (a gateway key, if set)")
    args = parser.parse_args()
    oa = openai.OpenAI(api_key=args.api_key, base_url=f"{args.base_url}/v1", max_retries=0)
    an = anthropic.Anthropic(api_key=args.api_key, base_url=args.base_url, max_retries=0)
    for name, step in steps(oa, an):
        try:
            print(f"ok   {name}: {step()}")
        except (openai.APIError, anthropic.APIError, AssertionError, StopIteration, IndexError) as failure:
            print(f"FAIL {name}: {failure!r}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
