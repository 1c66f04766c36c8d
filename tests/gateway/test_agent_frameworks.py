"""Agent frameworks keep their state on the gateway: pydantic-ai and the openai-agents SDK over several turns with a
tool call, sending only new turns. The mock upstream's echo proves the provider heard the whole history."""

from __future__ import annotations

import asyncio

import openai
import pytest
from agents import Agent, Runner, function_tool, set_tracing_disabled
from agents import OpenAIResponsesModel as AgentsResponsesModel
from agents.memory import OpenAIConversationsSession
from mock_upstream import REQUESTS
from pydantic_ai import Agent as PydanticAgent
from pydantic_ai.models.openai import OpenAIResponsesModel, OpenAIResponsesModelSettings
from pydantic_ai.providers.openai import OpenAIProvider
from support.servers import ServerThread

# The SDK would otherwise send traces to OpenAI's own servers; tests stay on loopback.
set_tracing_disabled(True)


def user_texts_heard(mock: ServerThread) -> list[str]:
    """The user texts of the last request the provider received."""
    assert mock.app is not None
    body = mock.app[REQUESTS][-1].body
    return [
        m["content"] if isinstance(m["content"], str) else m["content"][0]["text"]
        for m in body["messages"]
        if m["role"] == "user"
    ]


def upstream_count(mock: ServerThread) -> int:
    assert mock.app is not None
    return len(mock.app[REQUESTS])


@pytest.mark.parametrize("setting", ["previous_response_id", "conversation"])
def test_pydantic_ai_state_on_the_gateway(gateway: ServerThread, mock_upstream: ServerThread, setting: str) -> None:
    """pydantic-ai with openai_previous_response_id='auto' or openai_conversation_id: three turns and a tool call."""
    client = openai.AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key="k")
    model = OpenAIResponsesModel("gpt-4o-mini", provider=OpenAIProvider(openai_client=client))
    calls: list[str] = []
    if setting == "previous_response_id":
        settings = OpenAIResponsesModelSettings(openai_previous_response_id="auto")
    else:
        conversation = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="k").conversations.create()
        settings = OpenAIResponsesModelSettings(openai_conversation_id=conversation.id)
    agent = PydanticAgent(model, model_settings=settings)

    @agent.tool_plain
    def lookup(city: str) -> str:
        """Weather for a city."""
        calls.append(city)
        return "sunny"

    async def run() -> None:
        history = None
        for text in ("my name is Ada", "weather in Lyon", "what did I say first?"):
            result = await agent.run(text, message_history=history)
            history = result.all_messages()
        assert "tool result received: sunny." in str(history)
        await client.close()

    asyncio.run(run())
    assert calls
    assert user_texts_heard(mock_upstream)[0] == "my name is Ada"
    assert user_texts_heard(mock_upstream)[-1] == "what did I say first?"


def test_openai_agents_previous_response_id_and_conversation(
    gateway: ServerThread, mock_upstream: ServerThread
) -> None:
    """openai-agents with previous_response_id chaining and with a Conversations session, tool call included."""
    client = openai.AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key="k")
    seen: list[str] = []

    @function_tool
    def lookup(city: str) -> str:
        """Weather for a city."""
        seen.append(city)
        return "windy"

    agent = Agent(
        name="helper", instructions="Be brief.", model=AgentsResponsesModel("gpt-4o-mini", client), tools=[lookup]
    )

    async def run() -> None:
        first = await Runner.run(agent, "my name is Grace")
        second = await Runner.run(agent, "weather in Nice", previous_response_id=first.last_response_id)
        third = await Runner.run(agent, "what is my name?", previous_response_id=second.last_response_id)
        assert "my name is Grace" in third.final_output
        session = OpenAIConversationsSession(openai_client=client)
        await Runner.run(agent, "I live in Rome", session=session)
        again = await Runner.run(agent, "where do I live?", session=session)
        assert "I live in Rome" in again.final_output
        await client.close()

    asyncio.run(run())
    # The mock calls the offered tool on every user turn, with that turn's text as argument.
    assert seen == ["my name is Grace", "weather in Nice", "what is my name?", "I live in Rome", "where do I live?"]
