"""The playground in a browser, chatting: streaming, continuing on another provider and another client API, the
inspector, Stop, function calls, and a phone's width. Each test runs a real gateway and the mock upstream."""

from __future__ import annotations

import re
import time
from typing import Any

from mock_upstream import ABORTED
from support.gateway import ANTHROPIC_KEY, OPENAI_KEY
from support.playground import PlaygroundPage
from support.servers import ServerThread


def test_an_answer_streams_in_and_the_chat_continues(playground: ServerThread, new_page: Any) -> None:
    """Shift+Enter makes a new line and Enter sends; the answer shows while it streams, then the next turn continues
    from it (the mock says what it heard)."""
    ui = PlaygroundPage(new_page(), playground.url).open()
    box = ui.page.locator("#composer-text")
    box.fill("My name is Alice")
    box.press("Shift+Enter")
    box.type("[[events:40]][[delay:25]]")
    assert box.input_value() == "My name is Alice\n[[events:40]][[delay:25]]" and ui.turn_count() == 0
    box.press("Enter")
    ui.wait_answer_contains(0, "w5")
    partial = ui.answer(0)
    assert ui.turn(0).get_attribute("data-status") == "streaming" and "w39" not in partial
    ui.wait_turn(0)
    assert re.search(r"w0 w1 .* w39", ui.answer(0))
    assert ui.turn(0).locator(".msg.user").inner_text().endswith("My name is Alice\n[[events:40]][[delay:25]]")
    ui.send("What's my name?")
    ui.wait_turn(1)
    assert "mock-gpt-4o-mini heard 3 messages" in ui.answer(1)
    assert 'earlier user texts: ["My name is Alice\\n[[events:40]][[delay:25]]"]' in ui.answer(1)


def test_answers_render_markdown_safely_with_the_raw_text_a_click_away(playground: ServerThread, new_page: Any) -> None:
    """Code and emphasis are rendered, markup a model writes stays text, and Raw shows the text as it came."""
    ui = PlaygroundPage(new_page(), playground.url).open()
    ui.send("Run `x = 1` **now** <img src=x onerror=alert(1)>")
    answer = ui.wait_turn(0).locator(".msg.assistant")
    assert answer.locator(".markdown code").inner_text() == "x = 1"
    assert answer.locator(".markdown strong").inner_text() == "now"
    assert answer.locator("img").count() == 0 and "<img src=x onerror=alert(1)>" in ui.answer(0)
    answer.get_by_role("button", name="Raw").click()
    assert "`x = 1` **now**" in answer.locator("pre.raw").inner_text()
    answer.get_by_role("button", name="Rendered").click()
    assert answer.locator(".markdown code").count() == 1
    html = ui.page.evaluate(
        """async () => {
            const { renderMarkdown } = await import("/playground/markdown.js");
            const box = document.createElement("div");
            box.append(renderMarkdown("# Title\\n```py\\nprint('<b>')\\n```\\n- one\\n- two\\n\\n[docs](https://example.org) <b>x</b>"));
            return box.innerHTML;
        }"""
    )
    assert "<pre><code data-language=\"py\">print('&lt;b&gt;')</code></pre>" in html
    assert "<ul><li>one</li><li>two</li></ul>" in html and "&lt;b&gt;x&lt;/b&gt;" in html
    assert '<a href="https://example.org" rel="noopener noreferrer" target="_blank">docs</a>' in html


def test_switching_provider_and_client_api_keeps_the_conversation(
    playground: ServerThread, new_page: Any, screenshot: Any
) -> None:
    """A GPT turn, then a Claude turn that hears it (previous_response_id), then Anthropic Messages with the history
    the browser sends, on GPT again: every turn hears all the earlier ones, and each names who answered it."""
    ui = PlaygroundPage(new_page(), playground.url).open()
    ui.choose(model="gpt-4o-mini")
    ui.send("My name is Alice")
    ui.wait_turn(0)
    ui.choose(model="claude-sonnet-4-5")
    ui.send("What's my name?")
    claude = ui.wait_turn(1)
    assert "mock-claude-sonnet-4-5 heard 3 messages" in ui.answer(1)
    assert 'earlier user texts: ["My name is Alice"]' in ui.answer(1)
    assert claude.locator(".turn-provider").inner_text() == "anthropic/claude-sonnet-4-5"
    assert ui.turn(0).locator(".turn-provider").inner_text() == "openai/gpt-4o-mini"
    ui.choose(api="messages", model="gpt-4o")
    assert ui.page.locator("#context").input_value() == "history"
    ui.send("And where do I live?")
    third = ui.wait_turn(2)
    assert "mock-gpt-4o heard 5 messages" in ui.answer(2)
    assert 'earlier user texts: ["My name is Alice", "What\'s my name?"]' in ui.answer(2)
    assert "Anthropic Messages · history" in third.locator(".turn-via").inner_text()
    screenshot(ui.page, "switch-provider")


def test_the_inspector_shows_a_streamed_turn(playground: ServerThread, new_page: Any, screenshot: Any) -> None:
    """Every event in order with its sequence number and arrival time, timings and tokens, the request the page
    sent and the Anthropic request the gateway made of it, and curl without the key."""
    ui = PlaygroundPage(new_page(), playground.url).open()
    ui.choose(model="claude-sonnet-4-5")
    ui.send("Count for me [[events:24]][[delay:15]]")
    ui.wait_turn(0)
    inspector = ui.inspect(0)
    events = inspector.locator(".event")
    sequence = [int(seq) for seq in events.evaluate_all("items => items.map(item => item.dataset.seq)")]
    assert sequence == list(range(len(sequence))) and len(sequence) > 24
    types = inspector.locator(".event .type").all_inner_texts()
    assert types[0] == "response.created" and types[-1] == "response.completed"
    assert types.count("response.output_text.delta") == 24
    arrivals = [int(t[1:-3]) for t in inspector.locator(".event .at").all_inner_texts()]
    assert arrivals == sorted(arrivals) and arrivals[-1] - arrivals[0] >= 15 * 20
    assert ui.fact("Time to first token").endswith(" ms") and ui.fact("Total time").endswith(" ms")
    assert ui.fact("Tokens out") == "24" and int(ui.fact("Tokens in")) > 0
    assert float(ui.fact("Tokens per second")) > 0 and ui.fact("Provider") == "anthropic/claude-sonnet-4-5"
    upstream = inspector.locator(".inspector-upstream")
    upstream.locator(".request-line").wait_for()
    assert re.search(r"POST \S+/v1/messages \(anthropic/claude-sonnet-4-5, messages\)", upstream.inner_text())
    assert '"max_tokens"' in upstream.inner_text() and '"input"' not in upstream.inner_text()
    curl = inspector.locator("pre.curl").inner_text()
    assert curl.startswith("curl -N") and "/v1/responses" in curl and '"stream":true' in curl
    screenshot(ui.page, "inspector")
    events.first.locator("summary").click()
    assert '"sequence_number": 0' in events.first.locator("pre").inner_text()


def test_stop_aborts_the_stream_and_the_provider_call(
    playground: ServerThread, mock_upstream: ServerThread, new_page: Any
) -> None:
    """Stop ends the turn where it was, and the gateway stops the provider's stream right away."""
    assert mock_upstream.app is not None
    aborted = len(mock_upstream.app[ABORTED])
    ui = PlaygroundPage(new_page(), playground.url).open()
    ui.send("A long answer [[events:400]][[delay:25]]")
    ui.wait_answer_contains(0, "w3")
    ui.page.click("#stop")
    ui.wait_turn(0, "stopped")
    deadline = time.monotonic() + 3
    while len(mock_upstream.app[ABORTED]) == aborted and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(mock_upstream.app[ABORTED]) == aborted + 1
    assert "w399" not in ui.answer(0) and ui.page.locator("#send").is_enabled()
    ui.send("Still there?")
    ui.wait_turn(1)
    assert "Still there?" in ui.answer(1)


def test_function_calls_and_outputs_typed_by_hand(playground: ServerThread, new_page: Any) -> None:
    """An example tool offered with one click is called with its arguments shown; the output typed by hand goes back
    as function_call_output (Responses) and, after switching API, as tool_result (Anthropic Messages)."""
    ui = PlaygroundPage(new_page(), playground.url).open()
    ui.page.click("button[data-tool=get_weather]")
    assert ui.page.get_attribute("button[data-tool=get_weather]", "aria-pressed") == "true"
    ui.send("Weather in Paris?")
    call = ui.wait_turn(0)
    assert call.locator(".call-name").inner_text() == "get_weather"
    assert '"city": "Weather in Paris?"' in call.locator(".call-args").inner_text()
    call.locator("form.outputs textarea").fill("Sunny, 21 C")
    call.get_by_role("button", name="Send outputs").click()
    ui.wait_turn(1)
    assert ui.answer(1).startswith("tool result received: Sunny, 21 C.")
    assert ui.turn(1).locator(".tool-output").inner_text().endswith("Sunny, 21 C")
    ui.choose(api="messages", model="claude-sonnet-4-5")
    ui.send("And in Rome?")
    second = ui.wait_turn(2)
    assert second.locator(".call-name").inner_text() == "get_weather"
    second.locator("form.outputs textarea").fill("Cloudy")
    second.get_by_role("button", name="Send outputs").click()
    ui.wait_turn(3)
    assert ui.answer(3).startswith("tool result received: Cloudy.")
    assert "tool results: 2" in ui.answer(3)


def test_keyboard_only(playground: ServerThread, new_page: Any) -> None:
    """The page can be used with the keyboard alone: the message box has the focus, Enter sends, Shift+Tab reaches
    the turn's buttons, Enter opens the inspector and Escape closes it."""
    ui = PlaygroundPage(new_page(), playground.url).open()
    page = ui.page
    assert page.evaluate("() => document.activeElement.id") == "composer-text"
    page.keyboard.type("Typed, not clicked")
    page.keyboard.press("Enter")
    ui.wait_turn(0)
    page.focus("#composer-text")
    for _ in range(6):
        page.keyboard.press("Shift+Tab")
        if page.evaluate("() => document.activeElement.getAttribute('aria-label')") == "Inspect turn 1":
            break
    page.keyboard.press("Enter")
    page.locator("#inspector").wait_for(state="visible")
    page.keyboard.press("Escape")
    page.locator("#inspector").wait_for(state="hidden")


def test_readable_on_a_phone(playground: ServerThread, new_page: Any) -> None:
    """At a phone's width nothing runs off the side, and the stored list opens from its button."""
    ui = PlaygroundPage(new_page({"width": 390, "height": 844}), playground.url).open()
    ui.send("A question from a phone, with a rather long sentence to wrap")
    ui.wait_turn(0)
    ui.inspect(0)
    assert ui.page.evaluate("document.documentElement.scrollWidth") <= 390
    assert not ui.page.locator("#side").is_visible()
    ui.page.click("#toggle-side")
    ui.page.locator("#chains .stored-item").first.wait_for()
    assert ui.stored("chains") == ["A question from a phone, with a rather long sentence to wrap"]


def test_provider_keys_never_reach_the_page(playground: ServerThread, new_page: Any) -> None:
    """Nothing the page receives, on a turn translated to another provider and in its inspector, holds a provider
    key."""
    page = new_page()
    bodies: list[bytes] = []
    page.on("response", lambda response: bodies.append(_body(response)))
    ui = PlaygroundPage(page, playground.url).open()
    ui.choose(model="claude-sonnet-4-5")
    ui.send("Hello")
    ui.wait_turn(0)
    ui.inspect(0).locator(".inspector-upstream .request-line").wait_for()
    received = b"".join(bodies)
    assert b"/v1/messages" in received
    assert OPENAI_KEY.encode() not in received and ANTHROPIC_KEY.encode() not in received


def _body(response: Any) -> bytes:
    try:
        body: bytes = response.body()
    except Exception:  # a streamed answer's body is not kept by the browser
        return b""
    return body
