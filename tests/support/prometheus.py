"""Reading a Prometheus scrape in tests."""

from __future__ import annotations


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus scrape (0 when absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{key}="{value}"' in line for key, value in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
