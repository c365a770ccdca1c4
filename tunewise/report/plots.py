"""The report's figures as PNG bytes (matplotlib, no display needed)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
from matplotlib.ticker import FormatStrFormatter, MaxNLocator  # noqa: E402

BASE, TUNED, WARN = "#9aa5b1", "#2563eb", "#dc2626"


def _text(value) -> str:
    """Data text shown literally: matplotlib would read "$...$" as mathematics (and fail on bad TeX)."""
    return str(value).replace("$", r"\$")


def _error_bars(values: list[float], intervals: list) -> list[list[float]]:
    """matplotlib's [below, above] distances from each value to its interval's ends, never negative: a percentile
    bootstrap interval of a biased statistic (macro-F1 on a sample) can miss the point estimate."""
    return [
        [max(v - low, 0.0) for v, (low, _) in zip(values, intervals, strict=True)],
        [max(high - v, 0.0) for v, (_, high) in zip(values, intervals, strict=True)],
    ]


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()


def training_curves(train_log: list[dict], kept_step: int | None, stopped_early: bool) -> bytes | None:
    """Training and validation loss by step, with the kept checkpoint (and the early stop) marked."""
    train = [r for r in train_log if r.get("split") == "train"]
    validation = [r for r in train_log if r.get("split") == "validation"]
    if not train and not validation:
        return None
    figure, axis = plt.subplots(figsize=(7, 3.4))
    if train:
        axis.plot([r["step"] for r in train], [r["loss"] for r in train], color=BASE, label="training loss")
    if validation:
        axis.plot(
            [r["step"] for r in validation], [r["loss"] for r in validation], "o-", color=TUNED, label="validation loss"
        )
    if kept_step is not None:
        axis.axvline(kept_step, color="#16a34a", linestyle="--", label=f"kept checkpoint (step {kept_step})")
    if stopped_early and validation:
        axis.axvline(validation[-1]["step"], color=WARN, linestyle=":", label="early stop")
    axis.set_xlabel("step")
    axis.set_ylabel("loss")
    axis.set_yscale("log")
    axis.legend(frameon=False)
    axis.grid(alpha=0.3)
    return _png(figure)


def learning_curve_plot(points: list[dict], metric: str) -> bytes:
    """Validation score (with its 95 % interval) against the number of training rows."""
    figure, axis = plt.subplots(figsize=(5.2, 3.4))
    rows = [p["train_rows"] for p in points]
    scores = [p["score"] for p in points]
    axis.errorbar(
        rows, scores, yerr=_error_bars(scores, [p["score_ci"] for p in points]), marker="o", color=TUNED, capsize=4
    )
    axis.set_xscale("log", base=2)
    axis.set_xticks(rows, [str(n) for n in rows])
    axis.set_xlabel("training rows")
    axis.set_ylabel(f"validation {metric}")
    axis.set_title("learning curve")
    return _png(figure)


def metric_bars(metrics: dict, keys: list[str]) -> bytes:
    """Base vs tuned for the headline metrics, with 95 % intervals where known."""
    figure, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 3.2), squeeze=False)
    for axis, key in zip(axes[0], keys, strict=True):
        systems = [name for name in ("base", "tuned") if name in metrics]
        values = [metrics[name][key] for name in systems]
        intervals = [
            metrics[name].get(f"{key}_ci", [value, value]) for name, value in zip(systems, values, strict=True)
        ]
        axis.bar(
            systems,
            values,
            color=[BASE if s == "base" else TUNED for s in systems],
            yerr=_error_bars(values, intervals),
            capsize=6,
        )
        for index, value in enumerate(values):
            axis.text(index, value / 2, f"{value:.3f}", ha="center", color="white", fontweight="bold")
        axis.set_title(key)
        axis.set_ylim(0, max(1.0, max(values) * 1.15) if key not in ("bleu", "chrf") else max(values) * 1.3 + 1)
    return _png(figure)


def slice_bars(slices: list[dict], limit: int = 15) -> bytes | None:
    """The worst slices: tuned score with its interval, the base score as a dot."""
    shown = slices[:limit]
    if not shown:
        return None
    figure, axis = plt.subplots(figsize=(7, 0.38 * len(shown) + 1.2))
    names = [_text(f"{s['field']}={s['value']} (n={s['n']})") for s in shown][::-1]
    scores = [s["score"] for s in shown][::-1]
    errors = _error_bars(scores, [s["ci"] for s in shown][::-1])
    axis.barh(names, scores, xerr=errors, color=TUNED, capsize=3, label="fine-tuned (95 % CI)")
    if all("base_score" in s for s in shown):
        axis.plot([s["base_score"] for s in shown][::-1], names, "o", color=BASE, label="base")
    axis.set_xlim(0, 1.05)
    axis.set_xlabel("score")
    axis.legend(frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2)
    axis.grid(axis="x", alpha=0.3)
    return _png(figure)


def confusion_heatmap(confusion: dict, max_labels: int = 40) -> bytes | None:
    """Row-normalised confusion matrix (true label by row); skipped beyond ``max_labels`` labels."""
    import numpy as np

    labels, matrix = [_text(label) for label in confusion["labels"]], np.asarray(confusion["matrix"], float)
    if not labels or len(labels) > max_labels:
        return None
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = 2.5 + 0.32 * len(labels)
    figure, axis = plt.subplots(figsize=(size + 1.5, size))
    image = axis.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    axis.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=8)
    axis.set_yticks(range(len(labels)), labels, fontsize=8)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    for (row, column), count in np.ndenumerate(matrix):
        if count:
            colour = "white" if shares[row, column] > 0.5 else "black"
            axis.text(column, row, int(count), ha="center", va="center", fontsize=7, color=colour)
    figure.colorbar(image, ax=axis, fraction=0.04, label="share of the true label's rows")
    return _png(figure)


def separate_labels(figure, labels: list, gap: float = 2.0) -> None:
    """Move point labels (annotations in offset points) down, one at a time, until none covers another: two
    candidates of about the same score and cost would otherwise print their names over each other."""
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    placed = []
    for label in sorted(labels, key=lambda a: -a.xy[1]):  # the highest point keeps its place
        for _ in range(20):
            box = label.get_window_extent(renderer)
            covered = [other for other in placed if box.overlaps(other)]
            if not covered:
                break
            points = (box.y1 - min(other.y0 for other in covered)) * 72 / figure.dpi + gap
            x, y = label.xyann
            label.xyann = (x, y - points)
        placed.append(label.get_window_extent(renderer))


def selection_plot(selection: dict) -> bytes:
    """Left: validation score after the probe against serving cost per 1,000 requests, the Pareto front joined
    and the pick ringed. Right: each candidate's score zero-shot, few-shot and after the probe."""
    candidates, metric = selection["candidates"], selection["metric"]
    figure, (cost_axis, stage_axis) = plt.subplots(1, 2, figsize=(10, 3.8))
    priced = selection["price_per_hour"] > 0
    key = "cost_per_1k" if priced else "seconds_per_1k"
    front = sorted((c for c in candidates if c["pareto"]), key=lambda c: c[key])
    if len(front) > 1:
        cost_axis.plot([c[key] for c in front], [c["probe"]["score"] for c in front], "--", color=BASE, zorder=1)
    labels = []
    for candidate in candidates:
        score, (low, high) = candidate["probe"]["score"], candidate["probe"]["score_ci"]
        picked = candidate["name"] == selection["pick"]
        cost_axis.errorbar(
            candidate[key],
            score,
            yerr=_error_bars([score], [(low, high)]),
            fmt="o",
            capsize=4,
            color=TUNED if picked else BASE,
            markersize=9 if picked else 6,
            zorder=2,
        )
        label = f"{_text(candidate['name'])}\n{candidate['parameters'] / 1e6:.0f}M" + (" (pick)" if picked else "")
        labels.append(
            cost_axis.annotate(label, (candidate[key], score), textcoords="offset points", xytext=(8, -4), fontsize=8)
        )
    cost_axis.set_xlabel(
        f"serving cost per 1,000 requests ({_text(selection['currency'])})" if priced else "seconds per 1,000 requests"
    )
    cost_axis.set_ylabel(f"validation {metric} after the probe")
    cost_axis.set_title("quality vs cost (dashed: Pareto front)")
    cost_axis.margins(y=0.15)
    cost_axis.set_xlim(0, 1.45 * max(c[key] for c in candidates) or 1)  # from zero: cost ratios read true
    cost_axis.xaxis.set_major_locator(MaxNLocator(4))
    cost_axis.xaxis.set_major_formatter(FormatStrFormatter("%.2g"))
    cost_axis.grid(alpha=0.3)
    stages = [("zero_shot", "zero-shot"), ("few_shot", "few-shot"), ("probe", "after probe")]
    width = 0.8 / len(candidates)
    for index, candidate in enumerate(candidates):
        shown = [(label, candidate[stage]) for stage, label in stages if candidate.get(stage)]
        positions = [stages.index(next(s for s in stages if s[1] == label)) + index * width for label, _ in shown]
        values = [found["score"] for _, found in shown]
        errors = _error_bars(values, [found["score_ci"] for _, found in shown])
        picked = candidate["name"] == selection["pick"]
        stage_axis.bar(
            positions,
            values,
            width,
            yerr=errors,
            capsize=3,
            label=_text(candidate["name"]),
            color=TUNED if picked else BASE,
            alpha=1.0 if picked else 0.5 + 0.4 * index / len(candidates),
        )
    stage_axis.set_xticks([i + 0.4 - width / 2 for i in range(len(stages))], [label for _, label in stages])
    stage_axis.set_ylabel(f"validation {metric}")
    stage_axis.set_title("before and after the probe fine-tune")
    stage_axis.legend(frameon=False, fontsize=8)
    separate_labels(figure, labels)
    return _png(figure)


def reliability_plot(calibration: dict) -> bytes | None:
    """Accuracy against confidence per confidence bin (a calibrated head lies on the diagonal), bin sizes below."""
    bins = calibration.get("bins") or []
    if not bins:
        return None
    figure, (axis, counts) = plt.subplots(2, 1, figsize=(5, 5), height_ratios=[3, 1], sharex=True)
    middles = [(b["low"] + b["high"]) / 2 for b in bins]
    width = bins[0]["high"] - bins[0]["low"]
    axis.plot([0, 1], [0, 1], color=BASE, linestyle="--", label="perfect calibration")
    axis.bar(middles, [b["accuracy"] for b in bins], width=width * 0.9, color=TUNED, alpha=0.8, label="accuracy")
    axis.plot(middles, [b["confidence"] for b in bins], "o", color=WARN, label="mean confidence")
    axis.set_ylabel("accuracy")
    axis.set_title(f"reliability: expected calibration error {calibration['ece']:.3f}")
    axis.set_ylim(0, 1)
    axis.legend(frameon=False, loc="upper left")
    counts.bar(middles, [b["n"] for b in bins], width=width * 0.9, color=BASE)
    counts.set_xlabel("confidence of the top class")
    counts.set_ylabel("rows")
    counts.set_xlim(0, 1)
    return _png(figure)
