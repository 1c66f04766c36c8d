"""Gateway-minted compaction items: the summary blob, its expansion per provider, and the summarisation request."""

from __future__ import annotations

import pytest

from plano_proxy.transformers.canonical import CanonicalRequest
from plano_proxy.transformers.compaction import (
    SUMMARY_PREAMBLE,
    compacted_output,
    expand_compactions,
    pack_summary,
    summary_request,
    unpack_summary,
)
from plano_proxy.transformers.ids import SequentialIds


def user(text: str) -> dict[str, object]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def test_summary_round_trips_and_foreign_blobs_are_not_read() -> None:
    """Only a blob with the gateway's prefix and intact content gives a summary back."""
    assert unpack_summary(pack_summary("Alice likes Python. ✓")) == "Alice likes Python. ✓"
    for foreign in ("gAAAAB-openai", "plano.compaction.v1:not base64!", pack_summary("x")[:-4], None, 7):
        assert unpack_summary(foreign) is None


@pytest.mark.parametrize("native_openai", [True, False])
def test_expansion_per_provider(native_openai: bool) -> None:
    """Ours becomes the summary as a user message for every provider; a foreign one stays for OpenAI only."""
    ours = {"id": "cmp_1", "type": "compaction", "encrypted_content": pack_summary("Alice likes Python.")}
    foreign = {"type": "compaction", "encrypted_content": "gAAAAB-openai"}
    request = CanonicalRequest(model="m", items=(ours, foreign, user("next")))
    expanded = expand_compactions(request, native_openai=native_openai).items
    assert expanded[0] == user(SUMMARY_PREAMBLE + "Alice likes Python.")
    assert expanded[1:] == ((foreign, user("next")) if native_openai else (user("next"),))
    plain = CanonicalRequest(model="m", items=(user("hi"),))
    assert expand_compactions(plain, native_openai=native_openai) is plain


def test_summary_request_is_one_transcript_message() -> None:
    """Every item kind reads as text in one user message, tool calls named, an earlier summary included."""
    items = (
        {"type": "compaction", "encrypted_content": pack_summary("Earlier: Alice.")},
        user("Weather?"),
        {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
        {"type": "reasoning", "summary": [], "encrypted_content": "secret"},
        {"type": "web_search_call", "id": "ws_1", "status": "completed"},
    )
    asked = summary_request(CanonicalRequest(model="m", items=items, instructions="Be brief."))
    (message,) = asked.items
    text = message["content"][0]["text"]
    for expected in (
        "[instructions]\nBe brief.",
        "[summary of the conversation before]\nEarlier: Alice.",
        "[user]\nWeather?",
        '[assistant called get_weather]\n{"city": "Paris"}',
        "[result of get_weather]\nsunny",
        '[web_search_call]\n{"type":"web_search_call","status":"completed"}',
    ):
        assert expected in text
    assert "secret" not in text and asked.instructions and asked.model == "m"


def test_compacted_output_keeps_user_messages_then_the_item() -> None:
    """Only user messages are kept (with their ids), followed by the compaction item carrying the summary."""
    items = [{"id": "msg_a", **user("one")}, {"type": "message", "role": "assistant", "content": []}, user("two")]
    output = compacted_output(items, "the summary", SequentialIds())
    assert [(item["id"], item["type"]) for item in output] == [
        ("msg_a", "message"),
        ("msg_0001", "message"),
        ("cmp_0002", "compaction"),
    ]
    assert output[1]["status"] == "completed" and output[1]["content"] == user("two")["content"]
    assert unpack_summary(output[2]["encrypted_content"]) == "the summary"
