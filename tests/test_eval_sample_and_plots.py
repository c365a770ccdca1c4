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


def test_point_labels_that_would_cover_each_other_are_moved_apart():
    # the demo's selection: minilm-l6 (0.980, $0.00006) and embedding_lr (0.971, $0.00009) side by side
    import matplotlib.pyplot as plt

    from tunewise.report.plots import separate_labels

    figure, axis = plt.subplots(figsize=(5, 3.8))
    axis.set_xlim(0, 0.0007)
    axis.set_ylim(0.82, 1.02)
    points = {
        "minilm-l6\n23M (pick)": (0.00006, 0.980),
        "embedding_lr\n23M": (0.00009, 0.971),
        "far\n135M": (0.00044, 0.902),
    }
    labels = [
        axis.annotate(text, xy, textcoords="offset points", xytext=(8, -4), fontsize=8) for text, xy in points.items()
    ]
    renderer = figure.canvas.get_renderer()
    figure.canvas.draw()
    before = [label.get_window_extent(renderer) for label in labels]
    assert before[0].overlaps(before[1])  # as drawn before the fix
    separate_labels(figure, labels)
    after = [label.get_window_extent(renderer) for label in labels]
    assert not any(a.overlaps(b) for i, a in enumerate(after) for b in after[i + 1 :])
    assert labels[0].xyann == (8, -4) and labels[2].xyann == (8, -4)  # the highest, and one clear of the rest, stay
    assert labels[1].xyann[1] < -4  # the one below moved down
    plt.close(figure)
