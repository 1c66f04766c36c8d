"""The benchmark's chart: one PNG with a panel per measured budget, drawn from the raw results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure

DIRECT, GATEWAY, OTHER = "#9e9e9e", "#1f77b4", "#d62728"


def _bars(axes: Axes, labels: list[str], values: list[float], colors: list[str], fmt: str) -> None:
    bars = axes.bar(labels, values, color=colors)
    axes.bar_label(bars, labels=[fmt.format(value) for value in values], fontsize=8)
    axes.tick_params(axis="x", labelsize=8)


def _budget(axes: Axes, value: float, text: str) -> None:
    axes.axhline(value, color="black", linestyle="--", linewidth=1)
    axes.annotate(
        text, (1, value), xycoords=("axes fraction", "data"), xytext=(-2, 3), textcoords="offset points",
        ha="right", fontsize=8,
    )  # fmt: skip


def _ranged(axes: Axes, labels: list[str], figures: list[dict[str, Any]], fmt: str) -> None:
    """Bars at the medians, with the run-to-run range as error bars."""
    medians = [figure["median"] for figure in figures]
    below = [figure["median"] - figure["low"] for figure in figures]
    above = [figure["high"] - figure["median"] for figure in figures]
    bars = axes.bar(labels, medians, color=GATEWAY, yerr=[below, above], capsize=3)
    axes.bar_label(bars, labels=[fmt.format(value) for value in medians], fontsize=8, padding=2)
    axes.tick_params(axis="x", labelsize=8)


def _names(chat: dict[str, Any]) -> list[str]:
    return [name.replace(" (", "\n(").replace(", ", "\n") for name in chat]


def _latency(axes: Axes, chat: dict[str, Any]) -> None:
    _ranged(axes, _names(chat), [figures["added_latency_ms"] for figures in chat.values()], "{:.2f}")
    _budget(axes, 0.7, "relay 0.7 ms")
    _budget(axes, 1.0, "stored 1 ms")
    axes.set_title("non-streaming chat, added latency (ms): median, range", fontsize=9)


def _throughput(axes: Axes, chat: dict[str, Any], litellm: dict[str, Any]) -> None:
    first = next(iter(chat.values()))
    labels = ["direct", *_names(chat)]
    values = [first["direct_rps"], *(figures["gateway_rps"] for figures in chat.values())]
    colors = [DIRECT] + [GATEWAY] * len(chat)
    for workers, figures in litellm.items():
        if isinstance(figures, dict):
            labels.append(f"LiteLLM\n{workers} worker(s)")
            values.append(figures["rps"])
            colors.append(OTHER)
    _bars(axes, labels, values, colors, "{:,.0f}")
    axes.set_title("chat throughput at concurrency 64 (requests/s, medians)", fontsize=9)


def _streams(chat: dict[str, Any], responses: dict[str, Any], key: str) -> tuple[list[str], list[dict[str, Any]]]:
    labels = [*_names(chat), "Responses on\nAnthropic, stored"]
    return labels, [figures["stream"][key] for figures in chat.values()] + [responses[key]]


def _per_event(axes: Axes, chat: dict[str, Any], responses: dict[str, Any]) -> None:
    _ranged(axes, *_streams(chat, responses, "added_per_event_us"), "{:.1f}")
    _budget(axes, 20.0, "budget 20 µs")
    axes.set_title("added time per stream event (µs): median, range", fontsize=9)


def _first_token(axes: Axes, chat: dict[str, Any], responses: dict[str, Any]) -> None:
    _ranged(axes, *_streams(chat, responses, "added_ttft_ms"), "{:.2f}")
    _budget(axes, 2.0, "budget 2 ms")
    _budget(axes, 1.5, "Responses on Anthropic 1.5 ms")
    axes.set_title("added time to first token (ms): median, range", fontsize=9)


def _state(axes: Axes, state: list[dict[str, Any]], instructions: list[dict[str, Any]]) -> None:
    """Per store: the CPU-time ratio, the control (a first turn answered 1 ms later, over a first turn) and, when
    counted, the instruction ratio (one figure: the count is the same in every run)."""
    labels, spreads = [], []
    counted = {store["store"]: store["ratio"] for store in instructions}
    for store in state:
        labels += [f"{store['store']}\nCPU time", f"{store['store']}\ncontrol"]
        spreads += [store["cpu_ratio"], store["waited_ratio"]]
        if (ratio := counted.get(store["store"])) is not None:
            labels.append(f"{store['store']}\ninstructions")
            spreads.append({"median": ratio, "low": ratio, "high": ratio})
    _ranged(axes, labels, spreads, "{:.2f}×")
    _budget(axes, 1.3, "budget 1.3×")
    axes.set_ylim(bottom=0)
    axes.set_title("gateway per turn, depth 100 / depth 1 (control: 1 ms more wait / none)", fontsize=9)


def _memory(axes: Axes, memory: dict[str, dict[str, Any]]) -> None:
    labels = [path.replace(", ", "\n") for path in memory]
    values = [figures["kb_per_stream"] for figures in memory.values()]
    _bars(axes, labels, values, [GATEWAY] * len(values), "{:.1f}")
    _budget(axes, 150.0, "budget 150 KB")
    axes.set_title("resident memory per idle stream (KB)", fontsize=9)


def draw_chart(results: dict[str, Any], path: Path) -> None:
    figure = Figure(figsize=(18, 9))
    grid = figure.subplots(2, 3)
    _latency(grid[0][0], results["chat"])
    _throughput(grid[0][1], results["chat"], results["litellm"])
    _first_token(grid[0][2], results["chat"], results["responses_anthropic"])
    _per_event(grid[1][0], results["chat"], results["responses_anthropic"])
    _state(grid[1][1], results["state"], results.get("instructions", []))
    _memory(grid[1][2], results["memory"])
    met = sum(row["met"] is True for row in results["rows"])
    checked = sum(row["met"] is not None for row in results["rows"])
    figure.suptitle(
        "plano-proxy against the mock upstream called directly and LiteLLM's proxy (loopback), "
        f"{results['machine']['date']}: {met} of {checked} budgets met"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=100)
