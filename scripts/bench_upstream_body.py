"""What a turn deep in a chain costs to build and serialise its body for a native Responses upstream.

A stateless upstream is sent the whole history on every turn. For chains of several depths, the script times a
turn's body in three cases (`plano_proxy.transformers.history_memo`):

- *history new*: a stored history the gateway has not sent before, every item copied without its id and serialised
  (what every turn cost before the memo);
- *chain grew*: the turn before was sent, and this history is that one plus its answer (a chain going on);
- *sent before*: this same history was sent before (a response continued again).

Times are medians, in µs of one core.

    python scripts/bench_upstream_body.py [--depths 1 10 100 1000] [--turns 500]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from collections.abc import Callable

import orjson

from plano_proxy.transformers.canonical import CanonicalRequest, Item
from plano_proxy.transformers.history_memo import HistoryMemo
from plano_proxy.transformers.responses_request import canonical_to_responses_request

WORDS = " ".join(f"w{n}" for n in range(20))


def history(depth: int) -> tuple[Item, ...]:
    """``depth`` turns as the stores keep them: a user message and an assistant message each, with their ids."""
    items: list[Item] = []
    for turn in range(depth):
        items.append(
            {
                "id": f"msg_{2 * turn:048x}",
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": f"turn {turn}"}],
            }
        )
        items.append(
            {
                "id": f"msg_{2 * turn + 1:048x}",
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": WORDS, "annotations": [], "logprobs": []}],
            }
        )
    return tuple(items)


def body_time(request: CanonicalRequest, memo_for: Callable[[], HistoryMemo], turns: int) -> float:
    """Median µs to build and serialise the body, each time with the memo `memo_for()` gives (made untimed)."""
    times = []
    for _ in range(turns):
        memo = memo_for()
        started = time.perf_counter()
        body = canonical_to_responses_request(request, upstream_model="gpt-4o-mini", histories=memo)
        orjson.dumps(body)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e6


def seeded(request: CanonicalRequest) -> HistoryMemo:
    """A memo that has sent `request` once."""
    memo = HistoryMemo()
    canonical_to_responses_request(request, upstream_model="gpt-4o-mini", histories=memo)
    return memo


def _same(memo: HistoryMemo) -> HistoryMemo:
    return memo


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--depths", type=int, nargs="+", default=[1, 10, 100, 1000])
    parser.add_argument("--turns", type=int, default=500)
    args = parser.parse_args()
    print(f"{'depth':>6} {'body bytes':>11} {'history new':>12} {'chain grew':>11} {'sent before':>12}  (µs)")
    new_input = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "next"}]}
    for depth in args.depths:
        stored = history(depth - 1)
        request = CanonicalRequest(model="gpt-4o-mini", items=(*stored, new_input), history=stored)
        # The turn before, whose history was this one but for its last turn.
        before = CanonicalRequest(model="gpt-4o-mini", items=stored[:-1], history=stored[:-2])
        warm = seeded(request)
        size = len(orjson.dumps(canonical_to_responses_request(request, upstream_model="gpt-4o-mini")))
        cold_us = body_time(request, HistoryMemo, args.turns)
        grew_us = body_time(request, functools.partial(seeded, before), args.turns)
        warm_us = body_time(request, functools.partial(_same, warm), args.turns)
        print(f"{depth:>6} {size:>11,} {cold_us:>12.1f} {grew_us:>11.1f} {warm_us:>12.1f}")


if __name__ == "__main__":
    main()
