"""How a metric is written for people, the same in the terminal and in a model card."""

from __future__ import annotations


def duration(seconds: float) -> str:
    """A length of time for people: minutes from one minute on, else seconds, e.g. "8.5 min", "50.0 s"."""
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


def size(count: int | None) -> str:
    """A byte count for people: GiB from one GiB on, else MiB; "-" when it is unknown."""
    if count is None:
        return "-"
    return f"{count / 2**30:.2f} GiB" if count >= 2**30 else f"{count / 2**20:.0f} MiB"


def planned_memory(memory: dict | None) -> str:
    """A full run's planned training peak (`tunewise.select.cost.planned_memory`), marked where it does not fit
    the device; "-" for a candidate that trains nothing or that the plan cannot read."""
    if not memory:
        return "-"
    return size(memory["planned_peak_bytes"]) + ("" if memory["fits"] else " (too big)")


def with_interval(metrics: dict, key: str) -> str:
    """A metric with its 95 % interval when there is one, e.g. "0.938 [0.904, 0.967]"; "-" when it is missing."""
    if key not in metrics:
        return "-"
    interval = metrics.get(f"{key}_ci")
    return f"{metrics[key]:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]" if interval else f"{metrics[key]:.3f}"
