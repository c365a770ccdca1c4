"""Learning curves: does more data of this kind help? Nested training subsets, one reading in plain words."""

from __future__ import annotations

import random


def nested_subsets(rows: list, fractions: list[float], seed: int) -> dict[float, list]:
    """Seeded subsets of the rows, each contained in the next larger one (25 % ⊂ 50 % ⊂ 100 %), so that the
    curve measures more data rather than different data."""
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    return {f: [rows[i] for i in sorted(order[: max(1, round(f * len(rows)))])] for f in sorted(fractions)}


def read_curve(points: list[dict], comparison: dict, metric: str) -> str:
    """What the last step of the curve says about collecting more data of this kind."""
    small, large = points[-2], points[-1]
    change = comparison["gain"]
    span = (
        f"going from {small['train_rows']} to {large['train_rows']} training rows changed validation {metric} by "
        f"{change:+.3f} (95 % CI {comparison['ci_low']:+.3f} to {comparison['ci_high']:+.3f}, p = "
        f"{comparison['p_value']:.2g})"
    )
    if comparison["ci_low"] > 0:
        return f"More data of this kind is likely to help: {span}, and the curve is still rising."
    if comparison["ci_high"] < 0:
        return (
            f"More data of this kind is not likely to help: {span}; the larger set did worse, which points at "
            "noisy or conflicting rows (run `tunewise audit`) or at a training budget too small for it."
        )
    return (
        f"More data of this kind is not likely to help much: {span}, inside the noise. Better data (an audit and "
        "curation), a different base model or a different method are the likelier gains."
    )
