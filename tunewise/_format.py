"""How a metric is written for people, the same in the terminal and in a model card."""

from __future__ import annotations


def duration(seconds: float) -> str:
    """A length of time for people: minutes from one minute on, else seconds, e.g. "8.5 min", "50.0 s"."""
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


def with_interval(metrics: dict, key: str) -> str:
    """A metric with its 95 % interval when there is one, e.g. "0.938 [0.904, 0.967]"; "-" when it is missing."""
    if key not in metrics:
        return "-"
    interval = metrics.get(f"{key}_ci")
    return f"{metrics[key]:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]" if interval else f"{metrics[key]:.3f}"
