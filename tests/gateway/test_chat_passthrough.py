"""Chat Completions through the gateway to OpenAI-compatible providers, with the official openai SDK as client."""

from __future__ import annotations

import openai
import pytest
from mock_upstream import REQUESTS
from support import http
from support.gateway import OPENAI_KEY
from support.servers import ServerThread

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture
def gateway(make_gateway) -> ServerThread:
    """Without state storage, chat requests to OpenAI-compatible providers take the byte-for-byte relay."""
    return make_gateway(storage=None)


def last_upstream_request(mock: ServerThread):
    assert mock.app is not None
    return mock.app[REQUESTS][-1]


def test_create_rewrites_only_the_model(openai_client: openai.OpenAI, mock_upstream: ServerThread) -> None:
    """An alias reaches the upstream as its model id with the provider key; everything else is as sent."""
    completion = openai_client.chat.completions.create(
        model="fast-model",
        max_tokens=50,
        temperature=0.3,
        messages=[{"role": "user", "content": "Hello, how are you?"}],
    )
    assert 'last user said: "Hello, how are you?"' in (completion.choices[0].message.content or "")
    sent = last_upstream_request(mock_upstream)
    assert sent.path == "/v1/chat/completions"
    assert sent.body == {
        "model": "gpt-4o-mini",
        "max_tokens": 50,
        "temperature": 0.3,
        "messages": [{"role": "user", "content": "Hello, how are you?"}],
    }
    assert sent.headers["Authorization"] == f"Bearer {OPENAI_KEY}"


def test_stream_with_usage(openai_client: openai.OpenAI) -> None:
    """Streaming relays the chunks; include_usage gives a final usage chunk with no choices."""
    chunks = list(
        openai_client.chat.completions.create(
            model="gpt-4o-mini",
            stream=True,
            stream_options={"include_usage": True},
            messages=[{"role": "user", "content": "Tell me a short story"}],
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert 'last user said: "Tell me a short story"' in text
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert len(chunks) > 5


def test_stream_without_usage_has_no_usage_chunk(openai_client: openai.OpenAI) -> None:
    """Without include_usage the client gets no usage chunk."""
    chunks = list(
        openai_client.chat.completions.create(
            model="gpt-4o-mini", stream=True, messages=[{"role": "user", "content": "hi"}]
        )
    )
    assert all(c.choices for c in chunks)


def test_tool_call_round_trip(openai_client: openai.OpenAI) -> None:
    """A streamed tool call, then its result, through the gateway."""
    with openai_client.chat.completions.stream(
        model="gpt-4o-mini", tools=[WEATHER_TOOL], messages=[{"role": "user", "content": "weather in Paris"}]
    ) as stream:
        first = stream.get_final_completion()
    call = first.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather" and first.choices[0].finish_reason == "tool_calls"
    second = openai_client.chat.completions.create(
        model="gpt-4o-mini",
        tools=[WEATHER_TOOL],
        messages=[
            {"role": "user", "content": "weather in Paris"},
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "18C and sunny"},
        ],
    )
    assert (second.choices[0].message.content or "").startswith("tool result received: 18C and sunny.")


def test_other_providers_routes(openai_client: openai.OpenAI, mock_upstream: ServerThread) -> None:
    """A bare local model goes without a key; an Azure deployment uses its URL shape and api-key header."""
    openai_client.chat.completions.create(model="llama3.1", messages=[{"role": "user", "content": "hi"}])
    sent = last_upstream_request(mock_upstream)
    assert sent.body["model"] == "llama3.1" and "Authorization" not in sent.headers
    openai_client.chat.completions.create(
        model="azure_openai/gpt-4o-deployment", messages=[{"role": "user", "content": "hi"}]
    )
    sent = last_upstream_request(mock_upstream)
    assert sent.path == "/openai/deployments/gpt-4o-deployment/chat/completions"
    assert sent.headers["api-key"] == OPENAI_KEY and "Authorization" not in sent.headers


def test_default_provider_when_model_missing(gateway: ServerThread, mock_upstream: ServerThread) -> None:
    """A request without a model goes to the default: true provider."""
    response = http.post(f"{gateway.url}/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]})
    assert response.status == 200
    assert last_upstream_request(mock_upstream).body["model"] == "gpt-4o-mini"


def test_unknown_model_is_404_listing_models(openai_client: openai.OpenAI) -> None:
    """An unknown model is the SDK's NotFoundError whose message lists the configured models; never the default."""
    with pytest.raises(openai.NotFoundError) as caught:
        openai_client.chat.completions.create(
            model="nonexistent-model", messages=[{"role": "user", "content": "Hello"}]
        )
    assert caught.value.code == "model_not_found"
    assert "nonexistent-model" in caught.value.message and "fast-model" in caught.value.message


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "We could not parse the JSON body of your request"),
        (b"[1, 2]", "The request body must be a JSON object, not an array."),
        (b'{"model": "gpt-4o-mini"}', "Missing required parameter: 'messages'."),
        (
            b'{"model": "gpt-4o-mini", "messages": "hi"}',
            "Invalid type for 'messages': expected an array, but got a string instead.",
        ),
        (b'{"model": "gpt-4o-mini", "messages": []}', "Invalid 'messages': empty array."),
        (
            b'{"model": "gpt-4o-mini", "messages": [{"content": "x"}]}',
            "Missing required parameter: 'messages[0].role'.",
        ),
        (b'{"model": "gpt-4o-mini", "messages": [{"role": "wizard", "content": "x"}]}', "Invalid value: 'wizard'."),
        (
            b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}',
            "Invalid type for 'stream': expected a boolean",
        ),
        (
            b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "max_tokens": "lots"}',
            "Invalid type for 'max_tokens': expected an integer",
        ),
        (b'{"model": 7, "messages": [{"role": "user", "content": "x"}]}', "Invalid type for 'model'"),
    ],
)
def test_bad_input_is_400_in_openai_format(gateway: ServerThread, raw: bytes, message: str) -> None:
    """Malformed or mistyped bodies get a 400 OpenAI error body naming the problem."""
    response = http.post(f"{gateway.url}/v1/chat/completions", raw=raw)
    assert response.status == 400
    error = response.json()["error"]
    assert message in error["message"] and error["type"] == "invalid_request_error"


def test_bad_input_raises_bad_request_in_sdk(openai_client: openai.OpenAI) -> None:
    """The SDK sees BadRequestError for a wrong type."""
    with pytest.raises(openai.BadRequestError):
        openai_client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}], temperature="hot"
        )  # type: ignore[arg-type]


def test_upstream_errors_relayed_with_status(openai_client: openai.OpenAI) -> None:
    """A provider's 429 and 500 reach the client with their status and an OpenAI error body."""
    with pytest.raises(openai.RateLimitError) as caught:
        openai_client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "[[fault:429]] x"}]
        )
    assert caught.value.code == "rate_limit_exceeded"
    with pytest.raises(openai.InternalServerError):
        openai_client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "[[fault:500]] y"}]
        )


def test_unreachable_upstream_is_502() -> None:
    """A provider nobody listens on gives a 502 OpenAI error."""
    from plano_proxy.proxy.app import create_app
    from plano_proxy.proxy.config import parse_config

    config = parse_config("model_providers:\n  - {model: vllm/m, base_url: 'http://127.0.0.1:9'}\n", {})
    server = ServerThread(lambda: create_app(config))
    try:
        response = http.post(
            f"{server.url}/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "x"}]}
        )
    finally:
        server.close()
    assert response.status == 502
    assert response.json()["error"]["code"] == "upstream_unreachable"


@pytest.mark.parametrize("timeouts", ["{first_byte: 200ms}", "{idle: 200ms}"])
def test_slow_upstream_is_504(mock_upstream: ServerThread, timeouts: str) -> None:
    """A provider that does not answer within first_byte gives a 504 OpenAI error; the idle timeout, when shorter,
    bounds the wait for the first byte too."""
    from plano_proxy.proxy.app import create_app
    from plano_proxy.proxy.config import parse_config

    config = parse_config(
        f"model_providers:\n  - {{model: vllm/m, base_url: '{mock_upstream.url}', timeouts: {timeouts}}}\n", {}
    )
    server = ServerThread(lambda: create_app(config))
    try:
        response = http.post(
            f"{server.url}/v1/chat/completions",
            {"model": "m", "messages": [{"role": "user", "content": "[[fault:slow-first-byte:2000]] x"}]},
        )
    finally:
        server.close()
    assert response.status == 504
    assert response.json()["error"]["code"] == "upstream_timeout"


def test_cut_stream_ends_with_error_chunk(openai_client: openai.OpenAI) -> None:
    """A provider stream cut mid-way ends with an OpenAI error chunk, which the SDK raises as APIError."""
    with pytest.raises(openai.APIError) as caught:
        for _ in openai_client.chat.completions.create(
            model="gpt-4o-mini", stream=True, messages=[{"role": "user", "content": "[[fault:cut]] a b c d e f g h"}]
        ):
            pass
    assert "ended unexpectedly" in caught.value.message


def test_models_list(openai_client: openai.OpenAI, gateway: ServerThread) -> None:
    """/v1/models lists qualified names, bare ids and aliases; Anthropic clients get Anthropic's shape."""
    ids = {model.id for model in openai_client.models.list()}
    assert {"openai/gpt-4o-mini", "gpt-4o-mini", "fast-model", "claude-sonnet-4-5", "llama3.1"} <= ids
    anthropic_shape = http.get(f"{gateway.url}/v1/models", headers={"anthropic-version": "2023-06-01"}).json()
    assert anthropic_shape["data"][0]["type"] == "model" and anthropic_shape["has_more"] is False


def test_unknown_route_is_openai_404(gateway: ServerThread) -> None:
    """An unknown URL is a 404 with an OpenAI error body, not aiohttp's text page."""
    response = http.get(f"{gateway.url}/v1/nothing-here")
    assert response.status == 404 and "Unknown request URL" in response.json()["error"]["message"]


def test_a_cookie_a_provider_sets_never_rides_on_a_later_request() -> None:
    """The gateway's one upstream session serves every caller, so it keeps no cookies: what a provider sets in one
    answer is not sent back with the next caller's request."""
    from aiohttp import web

    from plano_proxy.proxy.app import create_app
    from plano_proxy.proxy.config import parse_config

    seen: list[str | None] = []

    async def chat(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Cookie"))
        response = web.json_response({"id": "chatcmpl-1", "object": "chat.completion", "choices": []})
        response.set_cookie("session", "for-the-first-caller-only")
        return response

    def provider() -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", chat)
        return app

    upstream = ServerThread(provider)
    # By name, not by IP address: a cookie jar keeps no cookies of a bare IP address anyway.
    named = upstream.url.replace("127.0.0.1", "localhost")
    config = parse_config(
        f"model_providers:\n  - {{model: openai/gpt-4o-mini, access_key: k, base_url: '{named}/v1'}}\n", {}
    )
    gateway = ServerThread(lambda: create_app(config))
    try:
        for _ in range(2):
            body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
            assert http.post(f"{gateway.url}/v1/chat/completions", body).status == 200
        assert seen == [None, None]
    finally:
        gateway.close()
        upstream.close()
