"""Driving the playground page in tests: a thin wrapper over a Playwright page that speaks in turns."""

from __future__ import annotations

from typing import Any


class PlaygroundPage:
    def __init__(self, page: Any, url: str) -> None:
        self.page = page
        self.url = url

    def open(self, key: str | None = None) -> PlaygroundPage:
        self.page.goto(f"{self.url}/")
        if key is not None:
            self.page.fill("#key-input", key)
            self.page.press("#key-input", "Enter")
        self.ready()
        return self

    def ready(self) -> None:
        """The page has its models (it asked the gateway, with the key if there is one)."""
        self.page.wait_for_function("() => document.querySelectorAll('#model option').length > 0")

    def reload(self) -> None:
        self.page.reload()
        self.ready()

    def choose(self, *, api: str | None = None, context: str | None = None, model: str | None = None) -> None:
        for field, value in (("api", api), ("context", context), ("model", model)):
            if value is not None:
                self.page.select_option(f"#{field}", value)

    def send(self, text: str) -> None:
        """Types the message and presses Enter, as a person does."""
        self.page.fill("#composer-text", text)
        self.page.press("#composer-text", "Enter")

    def turn(self, index: int) -> Any:
        return self.page.locator(f'li.turn[data-index="{index}"]')

    def wait_turn(self, index: int, status: str = "completed", timeout: float = 10_000) -> Any:
        self.page.wait_for_selector(f'li.turn[data-index="{index}"][data-status="{status}"]', timeout=timeout)
        return self.turn(index)

    def answer(self, index: int) -> str:
        text: str = self.turn(index).locator(".msg.assistant .markdown").last.inner_text()
        return text

    def wait_answer_contains(self, index: int, text: str, timeout: float = 10_000) -> None:
        self.page.wait_for_function(
            """([index, text]) => {
                const turn = document.querySelector(`li.turn[data-index="${index}"] .msg.assistant`);
                return turn !== null && turn.textContent.includes(text);
            }""",
            arg=[index, text],
            timeout=timeout,
        )

    def turn_count(self) -> int:
        count: int = self.page.locator("li.turn").count()
        return count

    def inspect(self, index: int) -> Any:
        self.turn(index).get_by_role("button", name=f"Inspect turn {index + 1}").click()
        inspector = self.page.locator("#inspector")
        inspector.wait_for(state="visible")
        return inspector

    def fact(self, name: str) -> str:
        text: str = self.page.locator(f'#inspector .fact[data-fact="{name}"] dd').inner_text()
        return text

    def stored(self, kind: str) -> list[str]:
        """Titles in the side list, as shown ("conversations" or "chains")."""
        titles: list[str] = self.page.locator(f"#{kind} .stored-title").all_inner_texts()
        return titles

    def session_storage(self) -> dict[str, str]:
        stored: dict[str, str] = self.page.evaluate("() => Object.fromEntries(Object.entries(sessionStorage))")
        return stored
