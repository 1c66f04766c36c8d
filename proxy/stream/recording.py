"""Keeping a relayed chat answer as it goes by: the bytes a stored chat turn is recorded as.

The answer reaches the client as the provider sent it, with one change: the completion's ``id`` is the gateway's.
The turn is stored under that id, and a provider's own ids are not unique (some OpenAI-compatible servers count
them up from a small number), so ``"<provider's id>"`` is replaced by ``"<gateway's id>"`` wherever it stands, as a
JSON string: inside a string value the quotes around it would be escaped. Everything else passes untouched.

A stream is handled in whole lines, so an id split across two network chunks is still found. Its end (from the chunk
that carries a ``finish_reason``, or ``[DONE]`` when none does) is held back, so that the client sees the end of the
answer only after the recorded turn is committed, as the translated path holds back its finish chunk.
"""

from __future__ import annotations

from typing import Any

import orjson

_FINISH = b'"finish_reason"'
_DONE = (b"data: [DONE]", b"data:[DONE]")


class ChatStreamRecording:
    """``feed(chunk) -> bytes`` to send now; at the upstream's end, `finish()`, then `answer` is the record and
    `release()` the held-back end to send once it is committed."""

    def __init__(self, completion_id: str) -> None:
        self._new = orjson.dumps(completion_id)
        self._old: bytes | None = None
        self._looked = False
        self._partial = b""
        self._sent: list[bytes] = []
        self._held: list[bytes] = []
        self.finish_reason: str | None = None

    @property
    def complete(self) -> bool:
        """Whether the answer reached its end and carries the gateway's id, so that it is worth keeping."""
        return bool(self._held) and self._old is not None

    @property
    def answer(self) -> bytes:
        return b"".join(self._sent + self._held)

    def feed(self, chunk: bytes) -> bytes:
        data = self._partial + chunk if self._partial else chunk
        end = data.rfind(b"\n") + 1
        self._partial = data[end:]
        return self._lines(data[:end]) if end else b""

    def finish(self) -> None:
        """The upstream ended: a last line without its line break belongs to the end."""
        if self._partial:
            self._held.append(self._rewritten(self._partial))
            self._partial = b""

    def release(self) -> bytes:
        """The held-back end of the answer (all of what is left, when the stream was cut)."""
        return b"".join(self._held) + self._partial

    def _lines(self, lines: bytes) -> bytes:
        lines = self._rewritten(lines)
        if self._held:
            self._held.append(lines)
            return b""
        end = self._end_at(lines)
        if end < 0:
            self._sent.append(lines)
            return lines
        start = lines.rfind(b"\n", 0, end) + 1
        self._sent.append(lines[:start])
        self._held.append(lines[start:])
        return lines[:start]

    def _rewritten(self, lines: bytes) -> bytes:
        if not self._looked:
            self._old = _first_id(lines)
            self._looked = self._old is not None or b"data:" in lines
        return lines.replace(self._old, self._new) if self._old is not None else lines

    def _end_at(self, lines: bytes) -> int:
        """Where the end of the answer starts in these lines: a non-null ``finish_reason``, or ``[DONE]``; -1."""
        at = lines.find(_FINISH)
        while at >= 0:
            value = at + len(_FINISH)
            while lines[value : value + 1] in (b" ", b":"):
                value += 1
            if lines[value : value + 1] == b'"':
                self.finish_reason = lines[value + 1 : lines.find(b'"', value + 1)].decode(errors="replace")
                return at
            at = lines.find(_FINISH, value)
        found = [at for at in (lines.find(done) for done in _DONE) if at >= 0]
        return min(found, default=-1)


def _first_id(lines: bytes) -> bytes | None:
    """The completion's id as it is written in the stream (a JSON string), from its first ``data:`` line."""
    for line in lines.split(b"\n"):
        if line.startswith(b"data:"):
            return _id_of(line[5:])
    return None


def _id_of(raw: bytes) -> bytes | None:
    try:
        return _written_id(orjson.loads(raw))
    except orjson.JSONDecodeError:
        return None


def _written_id(payload: Any) -> bytes | None:
    completion_id = payload.get("id") if isinstance(payload, dict) else None
    return orjson.dumps(completion_id) if isinstance(completion_id, str) and completion_id else None


def recorded_completion(body: bytes, completion_id: str) -> tuple[bytes, dict[str, Any] | None]:
    """A whole ``chat.completion`` with the gateway's id, and the body as parsed (None when it is not a completion
    with an id of its own, which is then passed on as it came and not kept)."""
    try:
        payload: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body, None
    old = _written_id(payload)
    if old is None:
        return body, None
    return body.replace(old, orjson.dumps(completion_id)), payload


def finish_reason_of(completion: dict[str, Any]) -> str | None:
    choices = completion.get("choices")
    first = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    reason = first.get("finish_reason")
    return reason if isinstance(reason, str) else None
