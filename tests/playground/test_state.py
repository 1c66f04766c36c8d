"""The playground in a browser, with stored state: reloading, the side list, opening and forking stored turns,
background answers resumed after a reload and cancelled, and a key that sees only its own state."""

from __future__ import annotations

import re
from typing import Any

from support import http
from support.playground import PlaygroundPage
from support.servers import ServerThread

KEYS = "gateway_keys:\n  - {name: team-a, key: key-team-a}\n  - {name: team-b, key: key-team-b}\n"


def test_reload_keeps_the_conversation_and_the_side_list_opens_it(playground: ServerThread, new_page: Any) -> None:
    """A chat kept in a conversation is still on screen after a reload and goes on from it; the side list shows the
    conversation, and opening it shows every turn with the model and provider that answered it."""
    ui = PlaygroundPage(new_page(), playground.url).open()
    ui.choose(context="conversation", model="gpt-4o-mini")
    ui.send("Plan a trip to Lisbon")
    ui.wait_turn(0)
    ui.choose(model="claude-sonnet-4-5")
    ui.send("Three days, please")
    ui.wait_turn(1)
    assert "conversation conv_" in ui.page.inner_text("#chat-state")
    ui.reload()
    assert ui.turn_count() == 2 and "Three days, please" in ui.turn(1).inner_text()
    ui.send("And a fourth?")
    ui.wait_turn(2)
    assert "mock-claude-sonnet-4-5 heard 5 messages" in ui.answer(2)
    ui.page.click("#new-chat")
    assert ui.turn_count() == 0
    ui.page.locator("#conversations .stored-item").first.wait_for()
    assert ui.stored("conversations") == ["Plan a trip to Lisbon"]
    ui.page.click("#conversations .stored-item")
    ui.wait_turn(2)
    heads = [ui.turn(i).locator(".turn-head").inner_text() for i in range(3)]
    assert "gpt-4o-mini" in heads[0] and "openai/gpt-4o-mini" in heads[0] and "stored" in heads[0]
    assert all("anthropic/claude-sonnet-4-5" in head for head in heads[1:])
    assert ui.page.get_attribute("#conversations .stored-item", "aria-current") == "true"
    ui.send("One more")
    ui.wait_turn(3)
    assert "heard 7 messages" in ui.answer(3)


def test_fork_from_turn_one(playground: ServerThread, new_page: Any, screenshot: Any) -> None:
    """Forking the first turn of a stored chain continues from that response: the next turn hears turn 1 and not
    what came after it, and the side list then shows both chains."""
    ui = PlaygroundPage(new_page(), playground.url).open()
    ui.send("My name is Alice")
    ui.wait_turn(0)
    ui.send("I live in Paris")
    ui.wait_turn(1)
    ui.page.click("#new-chat")
    ui.page.locator("#chains .stored-item").first.wait_for()
    ui.page.click("#chains .stored-item")
    ui.wait_turn(1)
    ui.turn(0).get_by_role("button", name="Fork from turn 1").click()
    assert ui.turn_count() == 1 and "forked from turn 1" in ui.page.inner_text("#chat-state")
    ui.choose(model="claude-sonnet-4-5")
    ui.send("Where do I live?")
    ui.wait_turn(1)
    assert "heard 3 messages" in ui.answer(1) and 'earlier user texts: ["My name is Alice"]' in ui.answer(1)
    ui.page.wait_for_function("() => document.querySelectorAll('#chains .stored-item').length === 2")
    assert sorted(ui.stored("chains")) == ["I live in Paris", "Where do I live?"]
    screenshot(ui.page, "fork")


def test_a_background_answer_resumes_after_a_reload(playground: ServerThread, new_page: Any) -> None:
    """Reloading in the middle of a background answer picks its stream up after the last event seen
    (starting_after), so the answer ends whole, each event once and in order."""
    ui = PlaygroundPage(new_page(), playground.url).open()
    ui.page.check("#background")
    ui.send("Take your time [[events:60]][[delay:40]]")
    ui.wait_answer_contains(0, "w8")
    ui.reload()
    assert ui.turn_count() == 1
    ui.wait_turn(0, timeout=15_000)
    words = ui.answer(0).split()
    assert words == [f"w{i}" for i in range(60)]
    inspector = ui.inspect(0)
    resumed = inspector.locator(".resume").inner_text()
    after = int(re.search(r"starting_after=(\d+)", resumed).group(1))  # type: ignore[union-attr]
    sequence = [int(s) for s in inspector.locator(".event").evaluate_all("items => items.map(i => i.dataset.seq)")]
    assert sequence == list(range(len(sequence))) and 8 < after < sequence[-1]
    assert ui.page.locator("#inspector .events > li").nth(after + 1).get_attribute("class") == "resume"
    assert inspector.locator(".event .type").last.inner_text() == "response.completed"


def test_cancel_a_background_answer(playground: ServerThread, new_page: Any) -> None:
    """Cancel stops a background answer on the gateway: the turn and the stored response are cancelled."""
    ui = PlaygroundPage(new_page(), playground.url).open()
    ui.page.check("#background")
    ui.send("A very long wait [[events:400]][[delay:25]]")
    ui.wait_answer_contains(0, "w3")
    ui.turn(0).get_by_role("button", name="Cancel turn 1").click()
    ui.wait_turn(0, "cancelled")
    response_id = ui.inspect(0).locator('.fact[data-fact="Response id"] dd').inner_text()
    assert http.get(f"{playground.url}/v1/responses/{response_id}").json()["status"] == "cancelled"


def test_a_key_sees_only_its_own_state(make_gateway: Any, new_page: Any) -> None:
    """With gateway keys the page asks for a key, keeps it in session storage only, and lists only what that key
    stored: another key's conversations and chains are not there."""
    guarded = make_gateway("sqlite", extra_yaml=KEYS)
    first = PlaygroundPage(new_page(), guarded.url)
    first.page.goto(f"{guarded.url}/")
    assert first.page.locator("#key-dialog").is_visible()
    first.open(key="key-team-a")
    assert first.page.inner_text("#whoami") == "key: team-a"
    first.choose(context="conversation")
    first.send("Team A's secret plan")
    first.wait_turn(0)
    first.page.click("#new-chat")
    first.page.locator("#conversations .stored-item").first.wait_for()
    assert first.stored("conversations") == ["Team A's secret plan"]
    assert first.session_storage()["plano.playground.key"] == "key-team-a"
    assert first.page.evaluate("() => localStorage.length") == 0 and first.page.context.cookies() == []

    second = PlaygroundPage(new_page(), guarded.url).open(key="key-team-b")
    second.page.locator("#conversations li").first.wait_for()
    assert second.page.inner_text("#conversations") == "None yet."
    assert second.page.inner_text("#chains") == "None yet."
    second.send("Team B here")
    second.wait_turn(0)
    assert "earlier user texts: []" in second.answer(0)
    second.page.locator("#chains .stored-item").first.wait_for()
    assert second.stored("chains") == ["Team B here"]
    assert "Team A" not in second.page.inner_text("#side")


def test_without_state_storage_the_browser_sends_the_history(make_gateway: Any, new_page: Any) -> None:
    """On a gateway that stores nothing, only history the browser sends is offered, and it carries the chat across
    client APIs; the side list says why it is empty."""
    stateless = make_gateway(None)
    ui = PlaygroundPage(new_page(), stateless.url).open()
    assert ui.page.locator("#context").input_value() == "history"
    assert ui.page.locator('#context option[value="conversation"]').is_disabled()
    assert ui.page.locator("#background").is_disabled()
    assert "No state storage" in ui.page.inner_text("#conversations")
    ui.send("My name is Alice")
    ui.wait_turn(0)
    ui.choose(api="chat", model="claude-sonnet-4-5")
    ui.send("What's my name?")
    ui.wait_turn(1)
    assert "mock-claude-sonnet-4-5 heard 3 messages" in ui.answer(1)
    assert 'earlier user texts: ["My name is Alice"]' in ui.answer(1)
