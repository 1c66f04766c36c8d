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
    axes.annotate(text, (0, value), xytext=(2, 3), textcoords="offset points", fontsize=8)


def _direct_then_gateways(chat: dict[str, Any], direct: str, gateway: str) -> tuple[list[str], list[float], list[str]]:
    """Bars for the first run's direct figure, then each gateway run's."""
    first = next(iter(chat.values()))
    labels = ["direct", *(name.replace(", ", "\n") for name in chat)]
    values = [first[direct], *(figures[gateway] for figures in chat.values())]
    return labels, values, [DIRECT] + [GATEWAY] * len(chat)


def _latency(axes: Axes, chat: dict[str, Any]) -> None:
    _bars(axes, *_direct_then_gateways(chat, "direct_latency_ms", "gateway_latency_ms"), "{:.2f}")
    axes.set_title("non-streaming chat, median latency (ms)", fontsize=9)


def _throughput(axes: Axes, chat: dict[str, Any], litellm: dict[str, Any]) -> None:
    labels, values, colors = _direct_then_gateways(chat, "direct_rps", "gateway_rps")
    for workers, figures in litellm.items():
        if isinstance(figures, dict):
            labels.append(f"LiteLLM\n{workers} worker(s)")
            values.append(figures["rps"])
            colors.append(OTHER)
    _bars(axes, labels, values, colors, "{:,.0f}")
    axes.set_title("chat throughput at concurrency 64 (requests/s)", fontsize=9)


def _per_event(axes: Axes, chat: dict[str, Any], responses: dict[str, float]) -> None:
    def added(stream: dict[str, float]) -> float:
        return (stream["gateway_stream_ms"] - stream["direct_stream_ms"]) * 1000 / stream["events"]

    labels = [name.replace(", ", "\n") for name in chat] + ["Responses on\nAnthropic, stored"]
    values = [added(figures["stream"]) for figures in chat.values()] + [added(responses)]
    _bars(axes, labels, values, [GATEWAY] * len(values), "{:.1f}")
    _budget(axes, 20.0, "budget 20 µs")
    axes.set_title("added time per stream event (µs)", fontsize=9)


def _state(axes: Axes, state: list[dict[str, Any]]) -> None:
    for store in state:
        depths = sorted(store["depths"], key=int)
        axes.plot(
            [int(d) for d in depths],
            [store["depths"][d]["gateway_cpu_ms"] for d in depths],
            marker="o",
            label=store["store"],
        )
    axes.set_xscale("log")
    axes.set_ylim(bottom=0)
    axes.set_xlabel("depth (turns of history)", fontsize=8)
    axes.legend(fontsize=8)
    axes.set_title("stateful turn, gateway CPU time per turn (ms)", fontsize=9)


def _memory(axes: Axes, memory: dict[str, dict[str, Any]]) -> None:
    labels = [path.replace(", ", "\n") for path in memory]
    values = [figures["kb_per_stream"] for figures in memory.values()]
    _bars(axes, labels, values, [GATEWAY] * len(values), "{:.1f}")
    _budget(axes, 150.0, "budget 150 KB")
    axes.set_title("resident memory per idle stream (KB)", fontsize=9)


def draw_chart(results: dict[str, Any], path: Path) -> None:
    figure = Figure(figsize=(15, 8))
    grid = figure.subplots(2, 3)
    _latency(grid[0][0], results["chat"])
    _throughput(grid[0][1], results["chat"], results["litellm"])
    _per_event(grid[0][2], results["chat"], results["responses_anthropic"])
    _state(grid[1][0], results["state"])
    _memory(grid[1][1], results["memory"])
    grid[1][2].axis("off")
    met = sum(row["met"] is True for row in results["rows"])
    checked = sum(row["met"] is not None for row in results["rows"])
    grid[1][2].text(0, 0.5, f"{met} of {checked} budgets met\n{results['machine']['date']}", fontsize=11)
    figure.suptitle("plano-proxy against the mock upstream called directly and LiteLLM's proxy (loopback)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
