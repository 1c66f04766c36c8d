"""The benchmark's table: each budget of DESIGN.md §6 (as issue 14 set them) worked out from the raw results of one
run; a figure taken in several runs shows its median, which the budget is checked on, and its run-to-run range."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Row:
    section: str
    figure: str
    shown: str
    budget: str
    met: bool | None
    """None when the figure has no budget of its own or could not be measured in this run."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def shown(figure: dict[str, Any], unit: str, digits: int = 3) -> str:
    """A figure taken in several runs: its median, then the run-to-run range."""
    return f"{figure['median']:.{digits}f} {unit} ({figure['low']:.{digits}f}–{figure['high']:.{digits}f})"


def _percent(figure: dict[str, Any]) -> str:
    return f"{figure['median']:.0%} ({figure['low']:.0%}–{figure['high']:.0%})"


def _stream_rows(section: str, stream: dict[str, Any], ttft_budget: float) -> list[Row]:
    ttft, per_event = stream["added_ttft_ms"], stream["added_per_event_us"]
    return [
        Row(
            section,
            f"added time to first token (median of {len(ttft['runs'])} alternating rounds)",
            shown(ttft, "ms"),
            f"≤ {ttft_budget:g} ms",
            ttft["median"] <= ttft_budget,
        ),
        Row(
            section,
            f"added time per event, {stream['events']:,}-event stream",
            shown(per_event, "µs", 1),
            "≤ 20 µs",
            per_event["median"] <= 20.0,
        ),
    ]


# (added latency ms, throughput ratio) budgets: the byte relay, and the shipped configuration (chat turns stored).
_RELAY = (0.7, 0.40)
_STORED = (1.0, 0.30)


def _versus_litellm(section: str, chat: dict[str, Any], other: dict[str, Any] | None) -> Row:
    """Throughput over LiteLLM's at the same worker count; each is taken as a share of the mock's direct throughput
    in its own alternating runs, so a machine slower in one phase than in the other does not tilt the ratio."""
    if other is None:
        return Row(section, "throughput, gateway / LiteLLM", "not measured", "≥ 20×", None)
    ours, theirs = chat["rps_ratio"], other["rps_ratio"]
    versus = ours["median"] / theirs["median"]
    low, high = ours["low"] / theirs["high"], ours["high"] / theirs["low"]
    figure = f"{chat['gateway_rps']:,.0f} / {other['rps']:,.0f} rps = {versus:.1f}× ({low:.1f}–{high:.1f})"
    return Row(section, "throughput at concurrency 64, gateway / LiteLLM", figure, "≥ 20×", versus >= 20.0)


def _chat_rows(name: str, chat: dict[str, Any], litellm: dict[str, Any]) -> list[Row]:
    section = f"chat {name}"
    added, ratio = chat["added_latency_ms"], chat["rps_ratio"]
    latency_budget, ratio_budget = _STORED if chat["stored"] else _RELAY
    rows = [
        Row(
            section,
            f"added latency, non-streaming (median of {len(added['runs'])} alternating batches)",
            shown(added, "ms"),
            f"≤ {latency_budget:g} ms",
            added["median"] <= latency_budget,
        ),
        Row(
            section,
            f"throughput at concurrency 64, gateway / direct (median of {len(ratio['runs'])} alternating runs)",
            f"{chat['gateway_rps']:,.0f} / {chat['direct_rps']:,.0f} rps, {_percent(ratio)}",
            f"≥ {ratio_budget:.0%}",
            ratio["median"] >= ratio_budget,
        ),
        _versus_litellm(section, chat, litellm.get(str(chat["workers"]))),
    ]
    waits = chat.get("commit_wait_ms")
    if waits is not None:
        text = ", ".join(f"{value:.3f} ms {phase.replace('_', ' ')}" for phase, value in waits.items() if value)
        rows.append(Row(section, "mean wait for the durable commit (acknowledged = durable)", text, "–", None))
    return rows + _stream_rows(section, chat["stream"], 2.0)


def _state_rows(state: list[dict[str, Any]], instructions: dict[str, dict[str, Any]]) -> list[Row]:
    """Per store; with `instructions` (callgrind's counts, see `bench_depth_instructions`), the work alone too, shown
    beside the CPU time but not a budget of its own."""
    rows = []
    for store in state:
        depths = store["depths"]
        first, last = depths[1]["gateway_cpu_ms"], depths[100]["gateway_cpu_ms"]
        ratio = store["cpu_ratio"]
        section = f"state, {store['store']}"
        rows.append(
            Row(
                section,
                f"gateway CPU time per turn, depth 100 / depth 1 (median of {len(ratio['runs'])} alternating rounds)",
                f"{last:.3f} / {first:.3f} ms, {ratio['median']:.2f}× ({ratio['low']:.2f}–{ratio['high']:.2f})",
                "≤ 1.3×",
                ratio["median"] <= 1.3,
            )
        )
        if (counted := instructions.get(store["store"])) is not None:
            rows.append(
                Row(
                    section,
                    "gateway instructions per turn (callgrind, the work alone), depth 100 / depth 1",
                    f"{min(counted['deep']) / 1e6:.3f} / {min(counted['first']) / 1e6:.3f} M, {counted['ratio']:.2f}×",
                    "–",
                    None,
                )
            )
        waited = store["waited_ratio"]
        rows.append(
            Row(
                section,
                "control: gateway CPU time per turn, depth 1 answered 1 ms later / depth 1 (same work, more waiting)",
                f"{store['waited_cpu_ms']:.3f} / {first:.3f} ms, {waited['median']:.2f}× "
                f"({waited['low']:.2f}–{waited['high']:.2f})",
                "–",
                None,
            )
        )
        first, last = depths[1]["gateway_ms"], depths[100]["gateway_ms"]
        rows.append(
            Row(
                section,
                "added latency per turn, depth 100 / depth 1",
                f"{last:.3f} / {first:.3f} ms = {last / first:.2f}×",
                "–",
                None,
            )
        )
        if depths[10]["stored_bytes"] is None:
            rows.append(Row(section, "stored bytes per turn", "not kept on disk", "linear", None))
            continue
        early = depths[10]["stored_bytes"] / 9
        late = depths[100]["stored_bytes"] / 99
        rows.append(
            Row(
                section,
                "stored bytes per turn, turns 1-9 vs 1-99",
                f"{early:,.0f} vs {late:,.0f} B",
                "linear",
                abs(late / early - 1) <= 0.1,
            )
        )
    return rows


def _memory_rows(memory: dict[str, dict[str, Any]]) -> list[Row]:
    return [
        Row(
            f"memory, {path}",
            f"resident memory per open idle stream, {figures['streams']:,} streams (one run)",
            f"{figures['kb_per_stream']:.1f} KB",
            "≤ 150 KB",
            figures["kb_per_stream"] <= 150.0,
        )
        for path, figures in memory.items()
    ]


def budget_rows(results: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for name, figures in results["chat"].items():
        rows += _chat_rows(name, figures, results["litellm"])
    rows += _stream_rows("Responses stream on Anthropic, stored", results["responses_anthropic"], 1.5)
    rows += _state_rows(results["state"], {store["store"]: store for store in results.get("instructions", [])})
    rows += _memory_rows(results["memory"])
    return rows


def format_table(rows: list[Row]) -> str:
    widths = [max(len(getattr(row, name)) for row in rows) for name in ("section", "figure", "shown", "budget")]
    verdict = {True: "met", False: "NOT MET", None: "-"}
    lines = []
    for row in rows:
        cells = (row.section, row.figure, row.shown, row.budget)
        lines.append(
            "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)) + "  " + verdict[row.met]
        )
    met = sum(row.met is True for row in rows)
    checked = sum(row.met is not None for row in rows)
    lines.append(f"{met} of {checked} budgets met")
    return "\n".join(lines)


def markdown_table(rows: list[Row]) -> str:
    verdict = {True: "met", False: "**not met**", None: "–"}
    lines = ["| section | figure | measured | budget | |", "|---|---|---|---|---|"]
    lines += [f"| {r.section} | {r.figure} | {r.shown} | {r.budget} | {verdict[r.met]} |" for r in rows]
    met = sum(row.met is True for row in rows)
    checked = sum(row.met is not None for row in rows)
    return "\n".join(lines) + f"\n\n{met} of {checked} budgets met.\n"
