"""Why tunewise computes the macro-F1 interval from per-class counts: its 500 bootstrap resamples, as scikit-learn's
f1_score called once per resample (what metric_ci does) vs all resamples at once (stats.macro_f1_ci). Both give the
same interval (tests/evaluate/test_stats.py); every classification metrics table computes one.

Usage: .venv/bin/python benchmarks/macro_f1_bootstrap.py [--rows 240 4500] [--classes 6 150]
Writes benchmarks/results/macro_f1_bootstrap.json (scripts/figures.py puts it in docs/figures.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

from tunewise.evaluate.stats import macro_f1_ci, metric_ci

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import record  # noqa: E402 - benchmarks/record.py, beside this script


def seconds(fn) -> tuple[float, list[float]]:
    start = time.perf_counter()
    found = fn()
    return time.perf_counter() - start, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[240, 4500])
    parser.add_argument("--classes", type=int, nargs="+", default=[6, 150])
    args = parser.parse_args()
    figures = {}
    for rows, classes in zip(args.rows, args.classes, strict=True):
        rng = np.random.default_rng(0)
        refs = [f"c{i}" for i in rng.integers(0, classes, rows)]
        preds = [r if rng.random() < 0.8 else f"c{rng.integers(0, classes)}" for r in refs]
        per_call, slow = seconds(
            lambda r=refs, p=preds: metric_ci(
                lambda a, b: float(f1_score(a, b, average="macro", zero_division=0)), r, p
            )
        )
        counted, fast = seconds(lambda r=refs, p=preds: macro_f1_ci(r, p))
        assert np.allclose(slow, fast), (slow, fast)
        print(
            f"{rows} rows, {classes} classes: f1_score per resample {per_call:.2f} s, counts {counted:.3f} s, "
            f"{per_call / counted:.0f}x; interval {fast[0]:.4f}-{fast[1]:.4f} both ways"
        )
        figures[f"{rows} rows, {classes} classes"] = {
            "f1_score per resample (s)": round(per_call, 3),
            "per-class counts (s)": round(counted, 4),
            "speed-up": round(per_call / counted, 1),
        }
    record("macro_f1_bootstrap", figures, note="500 resamples, the same interval both ways")


if __name__ == "__main__":
    main()
