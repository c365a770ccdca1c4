"""Sampling test rows with eval.max_rows, and error bars for intervals that miss their point estimate."""

from __future__ import annotations

from tunewise.data.split import sample_rows as eval_sample
from tunewise.report.plots import metric_bars


def test_eval_sample_draws_across_a_sorted_file_and_is_reproducible():
    rows = [{"label": f"intent_{i // 40}", "i": i} for i in range(77 * 40)]  # sorted by label, like Banking77
    sample = eval_sample(rows, 770, seed=42)
    assert len(sample) == 770 and len({r["label"] for r in sample}) == 77  # the first 770 would hold 20 intents
    assert [r["i"] for r in sample] == sorted(r["i"] for r in sample)  # file order kept
    assert sample == eval_sample(rows, 770, seed=42) != eval_sample(rows, 770, seed=7)
    assert eval_sample(rows, None, 42) is rows and eval_sample(rows[:5], 10, 42) == rows[:5]


def test_metric_bars_draw_a_bootstrap_interval_that_misses_the_estimate():
    # macro-F1 0.340 with a resampled interval [0.346, 0.409]: seen on 770 Banking77 test rows
    metrics = {
        "base": {"macro_f1": 0.104, "macro_f1_ci": [0.097, 0.125]},
        "tuned": {"macro_f1": 0.340, "macro_f1_ci": [0.346, 0.409]},
    }
    assert metric_bars(metrics, ["macro_f1"])[:4] == b"\x89PNG"
