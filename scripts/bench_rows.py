"""The benchmark's table: each budget of DESIGN.md §6 worked out from the raw results of one run."""

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


def _stream_rows(section: str, stream: dict[str, float]) -> list[Row]:
    ttft = stream["gateway_ttft_ms"] - stream["direct_ttft_ms"]
    per_event = (stream["gateway_stream_ms"] - stream["direct_stream_ms"]) * 1000 / stream["events"]
    return [
        Row(section, "added time to first token (median)", f"{ttft:.3f} ms", "≤ 2 ms", ttft <= 2.0),
        Row(
            section,
            f"added time per event, {stream['events']:,}-event stream",
            f"{per_event:.1f} µs",
            "≤ 20 µs",
            per_event <= 20.0,
        ),
    ]


def _chat_rows(name: str, chat: dict[str, Any], litellm: dict[str, Any]) -> list[Row]:
    section = f"chat {name}"
    added = chat["gateway_latency_ms"] - chat["direct_latency_ms"]
    ratio = chat["rps_ratio"]
    rows = [
        Row(section, "added latency, non-streaming (median)", f"{added:.3f} ms", "≤ 1 ms", added <= 1.0),
        Row(
            section,
            "throughput at concurrency 64, gateway / direct (median of 3 alternating runs)",
            f"{chat['gateway_rps']:,.0f} / {chat['direct_rps']:,.0f} rps, {ratio:.0%}",
            "≥ 35 %",
            ratio >= 0.35,
        ),
    ]
    other = litellm.get(str(chat["workers"]))
    if not chat["stored"]:
        if other is None:
            rows.append(Row(section, "throughput, gateway / LiteLLM", "not measured", "≥ 20×", None))
        else:
            versus = chat["gateway_rps"] / other["rps"]
            rows.append(
                Row(
                    section,
                    "throughput at concurrency 64, gateway / LiteLLM",
                    f"{chat['gateway_rps']:,.0f} / {other['rps']:,.0f} rps = {versus:.1f}×",
                    "≥ 20×",
                    versus >= 20.0,
                )
            )
    return rows + _stream_rows(section, chat["stream"])


def _state_rows(state: list[dict[str, Any]]) -> list[Row]:
    rows = []
    for store in state:
        depths = store["depths"]
        first, last = depths[1]["gateway_cpu_ms"], depths[100]["gateway_cpu_ms"]
        section = f"state, {store['store']}"
        rows.append(
            Row(
                section,
                "gateway CPU time per turn, depth 100 / depth 1",
                f"{last:.3f} / {first:.3f} ms = {last / first:.2f}×",
                "≤ 1.5×",
                last / first <= 1.5,
            )
        )
        first, last = depths[1]["gateway_ms"], depths[100]["gateway_ms"]
        rows.append(
            Row(
                section,
                "added latency per turn, depth 100 / depth 1",
                f"{last:.3f} / {first:.3f} ms = {last / first:.2f}×",
                "(≤ 1.5×)",
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
            f"resident memory per open idle stream, {figures['streams']:,} streams",
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
    rows += _stream_rows("Responses stream on Anthropic, stored", results["responses_anthropic"])
    rows += _state_rows(results["state"])
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
