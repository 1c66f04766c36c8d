"""The parts of a Responses object that are not built from its events: the request parameters it echoes (with
OpenAI's defaults for those the client left out) and its ``usage``."""

from __future__ import annotations

from typing import Any

from plano_proxy.transformers.canonical import Usage

ECHO_DEFAULTS: dict[str, Any] = {
    "instructions": None,
    "tools": [],
    "tool_choice": "auto",
    "parallel_tool_calls": True,
    "temperature": 1.0,
    "top_p": 1.0,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
    "top_logprobs": 0,
    "max_output_tokens": None,
    "max_tool_calls": None,
    "previous_response_id": None,
    "metadata": {},
    "text": {"format": {"type": "text"}, "verbosity": "medium"},
    "truncation": "disabled",
    "reasoning": {"effort": None, "summary": None},
    "store": True,
    "background": False,
    "service_tier": "auto",
    "user": None,
    "safety_identifier": None,
    "prompt_cache_key": None,
    "prompt_cache_retention": None,
}


def echo_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The request fields a response object echoes, with OpenAI's defaults for those the client left out."""
    echo = {key: body[key] if body.get(key) is not None else default for key, default in ECHO_DEFAULTS.items()}
    echo["model"] = body.get("model")
    if isinstance(echo["tools"], list):
        echo["tools"] = [_echo_tool(tool) for tool in echo["tools"]]
    if isinstance(body.get("text"), dict):
        echo["text"] = {**ECHO_DEFAULTS["text"], **body["text"]}
        fmt = echo["text"].get("format")
        if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
            echo["text"]["format"] = {"description": None, "strict": None, **fmt}
    if isinstance(body.get("reasoning"), dict):
        echo["reasoning"] = {**ECHO_DEFAULTS["reasoning"], **body["reasoning"]}
    return echo


def _echo_tool(tool: Any) -> Any:
    """A function tool as OpenAI echoes it: every field present; built-in tools exactly as sent."""
    if not isinstance(tool, dict) or tool.get("type") != "function":
        return tool
    return {"description": None, "parameters": None, "strict": None, **tool}


def usage_body(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {
            "cached_tokens": usage.cached_tokens,
            "cache_write_tokens": usage.cache_creation_tokens,
        },
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.input_tokens + usage.output_tokens,
    }
