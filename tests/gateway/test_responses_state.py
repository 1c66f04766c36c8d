"""Responses API with server-side state, through the gateway, with the official openai SDK.

The mock upstream's echo ("heard N messages … earlier user texts: […]") proves that the whole history reached the
provider while the client sent only the new turn.
"""

from __future__ import annotations

import re
from typing import Any

import openai
import pytest
from mock_upstream import REQUESTS
from support import http
from support.gateway import GatewayFactory
from support.servers import ServerThread

MODELS = ["gpt-4o-mini", "gpt-4o", "claude-sonnet-4-5"]
"""A Chat Completions upstream, a native Responses upstream and an Anthropic upstream."""
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def heard(text: str) -> tuple[int, list[str]]:
    match = re.search(r"heard (\d+) messages .*?last user said: (\".*?\"); earlier user texts: (\[.*\])", text)
    assert match is not None, text
    import json

    return int(match.group(1)), [*json.loads(match.group(3)), json.loads(match.group(2))]


@pytest.fixture
def client(make_gateway: GatewayFactory, store_kind: str) -> openai.OpenAI:
    gateway = make_gateway(store_kind)
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="test-key", max_retries=0)


@pytest.mark.parametrize("model", MODELS)
def test_chain_sends_full_history(client: openai.OpenAI, model: str) -> None:
    """Three turns with previous_response_id: the provider hears every earlier user text."""
    first = client.responses.create(model=model, input="My name is Alice and I like Python")
    second = client.responses.create(model=model, input="What is my name?", previous_response_id=first.id)
    third = client.responses.create(model=model, input="And my language?", previous_response_id=second.id)
    count, texts = heard(third.output_text)
    assert texts == ["My name is Alice and I like Python", "What is my name?", "And my language?"]
    assert count == 5
    assert third.previous_response_id == second.id


def test_fork_from_earlier_response(client: openai.OpenAI) -> None:
    """Two continuations of the same response each see only their own branch."""
    root = client.responses.create(model="gpt-4o-mini", input="root")
    branch_a = client.responses.create(model="gpt-4o-mini", input="a", previous_response_id=root.id)
    branch_b = client.responses.create(model="gpt-4o-mini", input="b", previous_response_id=root.id)
    assert heard(branch_a.output_text)[1] == ["root", "a"]
    assert heard(branch_b.output_text)[1] == ["root", "b"]


def test_streaming_chain_and_replay(client: openai.OpenAI) -> None:
    """A streamed turn can be continued at once, retrieved, and its events replayed after a sequence number."""
    with client.responses.stream(model="claude-sonnet-4-5", input="first") as stream:
        first = stream.get_final_response()
    with client.responses.stream(model="claude-sonnet-4-5", input="second", previous_response_id=first.id) as stream:
        events = list(stream)
        second = stream.get_final_response()
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert heard(second.output_text)[1] == ["first", "second"]
    stored = client.responses.retrieve(second.id)
    assert stored.output_text == second.output_text and stored.status == "completed"
    replay = list(client.responses.retrieve(second.id, stream=True, starting_after=2))
    assert [e.sequence_number for e in replay] == list(range(3, len(events)))
    assert replay[-1].type == "response.completed"


def test_instructions_and_tools_not_carried_over(client: openai.OpenAI, mock_upstream: ServerThread) -> None:
    """The next turn sends neither the previous instructions nor its tools upstream."""
    first = client.responses.create(model="gpt-4o-mini", instructions="Speak like a pirate", input="hi")
    second = client.responses.create(model="gpt-4o-mini", input="again", previous_response_id=first.id)
    assert "system: yes" in first.output_text and "system: no" in second.output_text
    assert second.instructions is None


def test_tool_round_trip_with_only_the_output(client: openai.OpenAI) -> None:
    """After a function call, the next turn sends only the function_call_output; the call comes from the store."""
    first = client.responses.create(model="claude-sonnet-4-5", input="weather in Oslo", tools=[WEATHER])
    call = next(item for item in first.output if item.type == "function_call")
    second = client.responses.create(
        model="claude-sonnet-4-5",
        previous_response_id=first.id,
        tools=[WEATHER],
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "4C and rain"}],
    )
    assert second.output_text.startswith("tool result received: 4C and rain.")


def test_cross_provider_continuation_with_thinking_and_tools(client: openai.OpenAI) -> None:
    """Claude with reasoning and a tool call, then GPT, then Claude again: the history follows in canonical form."""
    first = client.responses.create(
        model="claude-sonnet-4-5", input="weather in Rome", tools=[WEATHER], reasoning={"effort": "low"}
    )
    assert [item.type for item in first.output] == ["reasoning", "function_call"]
    call = first.output[1]
    second = client.responses.create(
        model="gpt-4o-mini",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "25C"}],
    )
    assert second.output_text.startswith("tool result received: 25C.")
    third = client.responses.create(
        model="claude-sonnet-4-5", previous_response_id=second.id, input="thanks", reasoning={"effort": "low"}
    )
    assert heard(third.output_text)[1] == ["weather in Rome", "thanks"]


def test_conversation_appends_items(client: openai.OpenAI) -> None:
    """Turns on a conversation see its items; the response names its conversation; items list the turns."""
    conversation = client.conversations.create(
        items=[{"type": "message", "role": "user", "content": "I am Bob"}], metadata={"topic": "names"}
    )
    first = client.responses.create(model="gpt-4o", input="Who am I?", conversation=conversation.id)
    assert first.conversation is not None and first.conversation.id == conversation.id
    second = client.responses.create(model="gpt-4o-mini", input="Sure?", conversation={"id": conversation.id})
    assert heard(second.output_text)[1] == ["I am Bob", "Who am I?", "Sure?"]
    items = list(client.conversations.items.list(conversation.id, order="asc"))
    assert [item.type for item in items] == ["message"] * 5
    assert client.conversations.retrieve(conversation.id).metadata == {"topic": "names"}


def test_errors_for_state(client: openai.OpenAI) -> None:
    """Unknown, deleted and store:false ids are 400 previous_response_not_found; both state params are 400."""
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="gpt-4o-mini", input="x", previous_response_id="resp_unknown")
    assert caught.value.code == "previous_response_not_found"
    assert caught.value.message.endswith("Previous response with id 'resp_unknown' not found.")
    unstored = client.responses.create(model="gpt-4o-mini", input="x", store=False)
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model="gpt-4o-mini", input="y", previous_response_id=unstored.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(unstored.id)
    kept = client.responses.create(model="gpt-4o-mini", input="x")
    client.responses.delete(kept.id)
    with pytest.raises(openai.NotFoundError) as missing:
        client.responses.retrieve(kept.id)
    assert missing.value.message.endswith(f"Response with id '{kept.id}' not found.")
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model="gpt-4o-mini", input="y", previous_response_id=kept.id)
    conversation = client.conversations.create()
    with pytest.raises(openai.BadRequestError) as both:
        client.responses.create(
            model="gpt-4o-mini", input="z", previous_response_id=kept.id, conversation=conversation.id
        )
    assert both.value.code == "mutually_exclusive_parameters"
    deleted = client.conversations.create()
    client.conversations.delete(deleted.id)
    for unknown in ("conv_" + "ab" * 24, deleted.id):  # ids shaped like minted ones must exist (named ones start)
        with pytest.raises(openai.NotFoundError):
            client.responses.create(model="gpt-4o-mini", input="z", conversation=unknown)


def test_input_items_paging(client: openai.OpenAI) -> None:
    """input_items pages with after/limit/order like OpenAI's list objects."""
    response = client.responses.create(
        model="gpt-4o-mini", input=[{"role": "user", "content": f"m{i}"} for i in range(5)]
    )
    page = client.responses.input_items.list(response.id, limit=2, order="asc")
    assert [item.content[0].text for item in page.data] == ["m0", "m1"] and page.has_more
    everything = [item.content[0].text for item in client.responses.input_items.list(response.id, order="asc", limit=2)]
    assert everything == [f"m{i}" for i in range(5)]
    newest_first = client.responses.input_items.list(response.id).data
    assert newest_first[0].content[0].text == "m4"


def test_stateless_without_storage(make_gateway: GatewayFactory) -> None:
    """Without state_storage, Responses work statelessly and continuing is a clear 400."""
    gateway = make_gateway(storage=None)
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
    assert client.responses.create(model="gpt-4o-mini", input="hello").output_text
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="gpt-4o-mini", input="again", previous_response_id="resp_x")
    assert "state storage is not configured" in caught.value.message


def test_a_native_upstream_gets_each_history_whole_as_chains_grow_and_fork(
    client: openai.OpenAI, mock_upstream: ServerThread
) -> None:
    """Every turn's upstream input is the stored chain plus the new input, ids dropped, however it was reached: a
    chain growing turn by turn, the same response continued several times, and a fork from the middle."""
    assert mock_upstream.app is not None

    def sent() -> list[tuple[str, str]]:
        body = mock_upstream.app[REQUESTS][-1].body
        assert body["store"] is False and not any("id" in item for item in body["input"])
        return [(item["role"], item["content"][0]["text"]) for item in body["input"]]

    turns: list[tuple[str, str, str]] = []  # (response id, user text, answer)
    for n in range(6):
        previous = turns[-1][0] if turns else None
        response = client.responses.create(model="gpt-4o", input=f"turn {n}", previous_response_id=previous)
        assert sent() == [*_said(turns), ("user", f"turn {n}")]
        turns.append((response.id, f"turn {n}", response.output_text))
    for n in range(3):
        client.responses.create(model="gpt-4o", input=f"again {n}", previous_response_id=turns[-1][0])
        assert sent() == [*_said(turns), ("user", f"again {n}")]
    client.responses.create(model="gpt-4o", input="from the middle", previous_response_id=turns[2][0])
    assert sent() == [*_said(turns[:3]), ("user", "from the middle")]


def _said(turns: list[tuple[str, str, str]]) -> list[tuple[str, str]]:
    return [said for _, question, answer in turns for said in (("user", question), ("assistant", answer))]


def test_only_new_items_are_stored(make_gateway: GatewayFactory, mock_upstream: ServerThread) -> None:
    """Each turn sends the whole history upstream while the client sends one message."""
    gateway = make_gateway("sqlite")
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k", max_retries=0)
    previous = None
    for turn in range(4):
        response = client.responses.create(model="gpt-4o-mini", input=f"turn {turn}", previous_response_id=previous)
        previous = response.id
    assert mock_upstream.app is not None
    sent = mock_upstream.app[REQUESTS][-1].body["messages"]
    assert [m["content"] for m in sent if m["role"] == "user"] == [
        [{"type": "text", "text": f"turn {i}"}] for i in range(4)
    ] or [m["content"] for m in sent if m["role"] == "user"] == [f"turn {i}" for i in range(4)]


def test_unknown_model_is_400_on_model(client: openai.OpenAI) -> None:
    """The Responses API reports an unknown model as 400 with param model, listing the configured ones."""
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="gpt-9", input="x")
    assert caught.value.param == "model" and "fast-model" in caught.value.message


def test_restart_keeps_sqlite_state(make_gateway: GatewayFactory, tmp_path) -> None:
    """A new gateway on the same SQLite file continues a conversation started before."""
    first_gateway = make_gateway("sqlite", path=tmp_path)
    client = openai.OpenAI(base_url=f"{first_gateway.url}/v1", api_key="k", max_retries=0)
    first = client.responses.create(model="gpt-4o-mini", input="remember me")
    first_gateway.close()
    second_gateway = make_gateway("sqlite", path=tmp_path)
    client = openai.OpenAI(base_url=f"{second_gateway.url}/v1", api_key="k", max_retries=0)
    again = client.responses.create(model="gpt-4o-mini", input="do you?", previous_response_id=first.id)
    assert heard(again.output_text)[1] == ["remember me", "do you?"]


def test_bad_responses_input_is_400(make_gateway: GatewayFactory) -> None:
    """Malformed Responses bodies are 400s in OpenAI's format."""
    gateway = make_gateway("memory")
    response = http.post(f"{gateway.url}/v1/responses", {"model": "gpt-4o-mini", "input": 5})
    assert response.status == 400 and response.json()["error"]["type"] == "invalid_request_error"


def test_failure_after_first_byte_is_stored_as_failed(make_gateway) -> None:
    """A provider stream that breaks mid-way ends with response.failed, and that failed response is stored with its
    partial output."""
    client = openai.OpenAI(base_url=f"{make_gateway('sqlite').url}/v1", api_key="k", max_retries=0)
    with client.responses.stream(
        model="gpt-4o-mini", input="[[fault:cut]] one two three four five six seven"
    ) as stream:
        events = list(stream)
    assert events[-1].type == "response.failed"
    stored = client.responses.retrieve(events[-1].response.id)
    assert stored.status == "failed" and stored.error is not None
    assert stored.output and stored.output[0].content[0].text.startswith("mock-gpt-4o-mini")


def test_item_reference_resolves_to_a_stored_item(client: openai.OpenAI) -> None:
    """An item_reference in a follow-up turn is replaced by the stored item it names; an unknown one is a 404."""
    first = client.responses.create(model="gpt-4o-mini", input="remember the word tangerine")
    items = client.responses.input_items.list(first.id)
    stored_id = items.data[0].id
    follow_up = client.responses.create(
        model="gpt-4o-mini",
        input=[{"type": "item_reference", "id": stored_id}, {"role": "user", "content": "again"}],
        previous_response_id=first.id,
    )
    assert heard(follow_up.output_text)[1] == ["remember the word tangerine", "remember the word tangerine", "again"]
    with pytest.raises(openai.NotFoundError, match="msg_unknown"):
        client.responses.create(
            model="gpt-4o-mini",
            input=[{"type": "item_reference", "id": "msg_unknown"}],
            previous_response_id=first.id,
        )


def sent_to_upstream(mock: ServerThread) -> list[dict[str, Any]]:
    """The Chat Completions messages of the last request the mock upstream received."""
    assert mock.app is not None
    messages: list[dict[str, Any]] = mock.app[REQUESTS][-1].body["messages"]
    return messages


def test_item_reference_finds_an_output_item_of_an_unrelated_response(
    client: openai.OpenAI, mock_upstream: ServerThread
) -> None:
    """A turn continuing nothing may reference the output items of any earlier response of the caller (a function
    call, and a message referenced without its type): the provider gets those items."""
    asked = client.responses.create(model="claude-sonnet-4-5", input="weather in Oslo", tools=[WEATHER])
    call = next(item for item in asked.output if item.type == "function_call")
    answered = client.responses.create(
        model="gpt-4o-mini",
        tools=[WEATHER],
        input=[
            {"type": "item_reference", "id": call.id},
            {"type": "function_call_output", "call_id": call.call_id, "output": "4C and rain"},
        ],
    )
    assert answered.output_text.startswith("tool result received: 4C and rain.")
    calls = [message["tool_calls"] for message in sent_to_upstream(mock_upstream) if message.get("tool_calls")]
    assert [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in calls[0]] == [
        (call.call_id, "get_weather", call.arguments)
    ]
    unrelated = client.responses.create(model="gpt-4o-mini", input="remember the word tangerine")
    client.responses.create(
        model="gpt-4o-mini", input=[{"id": unrelated.output[0].id}, {"role": "user", "content": "say it again"}]
    )
    sent = sent_to_upstream(mock_upstream)
    assert [message["role"] for message in sent] == ["assistant", "user"]
    content = sent[0]["content"]
    assert (content if isinstance(content, str) else "".join(part["text"] for part in content)) == unrelated.output_text


def test_item_reference_finds_an_item_of_a_conversation(client: openai.OpenAI) -> None:
    """Items of any conversation of the caller can be referenced from a turn outside it, until it is deleted."""
    conversation = client.conversations.create(
        items=[{"type": "message", "role": "user", "content": "the code word is mango"}]
    )
    seed = client.conversations.items.list(conversation.id).data[0].id
    turn = client.responses.create(model="gpt-4o-mini", input="and banana", conversation=conversation.id)
    said = client.responses.input_items.list(turn.id).data[0].id
    answer = client.responses.create(
        model="gpt-4o-mini",
        input=[
            {"type": "item_reference", "id": seed},
            {"type": "item_reference", "id": said},
            {"role": "user", "content": "which fruits?"},
        ],
    )
    assert heard(answer.output_text)[1] == ["the code word is mango", "and banana", "which fruits?"]
    forgotten = client.conversations.create(items=[{"type": "message", "role": "user", "content": "forget me"}])
    gone = client.conversations.items.list(forgotten.id).data[0].id
    client.conversations.delete(forgotten.id)
    with pytest.raises(openai.NotFoundError, match=f"Item with id '{gone}' not found."):
        client.responses.create(model="gpt-4o-mini", input=[{"type": "item_reference", "id": gone}])


def test_item_reference_to_another_keys_item_is_unknown(make_gateway: GatewayFactory, store_kind: str) -> None:
    """Another gateway key's response and conversation items are refused as unknown; their owner may use them."""
    keys = "gateway_keys:\n  - {name: team-a, key: key-team-a}\n  - {name: team-b, key: key-team-b}\n"
    gateway = make_gateway(store_kind, extra_yaml=keys)
    a = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="key-team-a", max_retries=0)
    b = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="key-team-b", max_retries=0)
    secret = a.responses.create(model="gpt-4o-mini", input="secret of team a")
    notes = a.conversations.create(items=[{"type": "message", "role": "user", "content": "team a notes"}])
    note = a.conversations.items.list(notes.id).data[0].id
    for item_id in (secret.output[0].id, note):
        reference = [{"type": "item_reference", "id": item_id}, {"role": "user", "content": "go on"}]
        with pytest.raises(openai.NotFoundError) as caught:
            b.responses.create(model="gpt-4o-mini", input=reference)
        assert caught.value.message.endswith(f"Item with id '{item_id}' not found.")
        assert a.responses.create(model="gpt-4o-mini", input=reference).status == "completed"


def test_chat_turns_not_stored_when_switched_off(make_gateway: GatewayFactory, tmp_path) -> None:
    """store_chat_turns: false relays chat completions unstored, yet a chat turn can still continue a stored
    Responses answer (without storing itself)."""
    extra = f"state_storage: {{type: sqlite, path: '{tmp_path / 'chat.db'}', store_chat_turns: false}}\n"
    gateway = make_gateway(None, extra_yaml=extra)
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="test-key", max_retries=0)
    relayed = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert relayed.id.startswith("chatcmpl-mock")  # the provider's own completion, byte for byte
    with pytest.raises(openai.BadRequestError, match=f"Previous response with id .{relayed.id}. not found"):
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "again"}], metadata={"response_id": relayed.id}
        )
    first = client.responses.create(model="gpt-4o-mini", input="My name is Alice")
    continued = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "What's my name?"}],
        metadata={"response_id": first.id},
    )
    assert 'earlier user texts: ["My name is Alice"]' in (continued.choices[0].message.content or "")
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(continued.id)
