"""How a metric is written for people, the same in the terminal and in a model card."""

from __future__ import annotations


def with_interval(metrics: dict, key: str) -> str:
    """A metric with its 95 % interval when there is one, e.g. "0.938 [0.904, 0.967]"; "-" when it is missing."""
    if key not in metrics:
        return "-"
    interval = metrics.get(f"{key}_ci")
    return f"{metrics[key]:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]" if interval else f"{metrics[key]:.3f}"
