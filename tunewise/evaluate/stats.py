"""Uncertainty and paired comparison: bootstrap confidence intervals, McNemar's exact test, paired bootstrap."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

LEVEL = 0.95


def _resamples(n: int, rounds: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(rounds, n))


def _interval(values: np.ndarray) -> list[float]:
    tail = (1 - LEVEL) / 2 * 100
    return [float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))]


def mean_ci(per_row: list[float], rounds: int = 2000, seed: int = 0) -> list[float]:
    """95 % bootstrap interval of a mean of per-row scores (accuracy, ROUGE-L, exact match)."""
    values = np.asarray(per_row, dtype=float)
    return _interval(values[_resamples(len(values), rounds, seed)].mean(axis=1))


def metric_ci(
    score: Callable[[list, list], float], references: list, predictions: list, rounds: int = 500, seed: int = 0
) -> list[float]:
    """95 % bootstrap interval of a corpus-level metric (e.g. macro-F1), recomputed on each resample."""
    refs, preds = np.asarray(references, dtype=object), np.asarray(predictions, dtype=object)
    samples = [score(list(refs[i]), list(preds[i])) for i in _resamples(len(refs), rounds, seed)]
    return _interval(np.asarray(samples))


def macro_f1_ci(references: list, predictions: list, rounds: int = 500, seed: int = 0) -> list[float]:
    """``metric_ci`` of scikit-learn's macro-F1 (``f1_score(average="macro", zero_division=0)``: the labels present in
    each resample's references or predictions), on the same resamples, computed for all resamples at once from
    per-class counts. Calling f1_score 500 times took 3.5 s of a 14 s run of a small model, per metric table
    (benchmarks/macro_f1_bootstrap.py); tests/evaluate/test_stats.py checks it equals f1_score on every resample."""
    labels = {label: i for i, label in enumerate(sorted(set(references) | set(predictions)))}
    truth = np.asarray([labels[r] for r in references])
    guess = np.asarray([labels[p] for p in predictions])
    k = len(labels)
    picks = _resamples(len(truth), rounds, seed)
    offset = np.arange(rounds)[:, None] * k
    t, g = (truth[picks] + offset).ravel(), (guess[picks] + offset).ravel()
    counted = rounds * k
    hits = np.bincount(t[t == g], minlength=counted).reshape(rounds, k)
    either = (np.bincount(t, minlength=counted) + np.bincount(g, minlength=counted)).reshape(rounds, k)
    present = either > 0
    f1 = np.divide(2 * hits, either, out=np.zeros(either.shape), where=present)
    return _interval(f1.sum(axis=1) / present.sum(axis=1))


def mcnemar(correct_a: list[bool], correct_b: list[bool]) -> dict:
    """McNemar's exact test: do systems A and B err on the same rows as often as chance would allow?"""
    from scipy.stats import binomtest

    a, b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    p_value = binomtest(only_b, only_a + only_b, 0.5).pvalue if only_a + only_b else 1.0
    return {"test": "mcnemar_exact", "only_base_right": only_a, "only_tuned_right": only_b, "p_value": float(p_value)}


def paired_difference(per_row_a: list[float], per_row_b: list[float], rounds: int = 2000, seed: int = 0) -> dict:
    """Mean of B - A over the same rows, its 95 % paired-bootstrap interval and a two-sided bootstrap p-value."""
    diff = np.asarray(per_row_b, float) - np.asarray(per_row_a, float)
    means = diff[_resamples(len(diff), rounds, seed)].mean(axis=1)
    centred = means - diff.mean()  # the null distribution: same spread, no effect
    p_value = float((np.abs(centred) >= abs(diff.mean())).mean())
    low, high = _interval(means)
    return {"gain": float(diff.mean()), "ci_low": low, "ci_high": high, "p_value": max(p_value, 1 / rounds)}


def minimum_detectable_effect(per_row_difference, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest mean paired difference a two-sided test at ``alpha`` finds with probability ``power`` on
    this many rows, given the spread of the observed per-row differences (normal approximation)."""
    from scipy.stats import norm

    diff = np.asarray(per_row_difference, float)
    if len(diff) < 2:
        return float("inf")
    spread = diff.std(ddof=1)
    if spread == 0:  # every row differs by the same amount: assume one row that breaks ranks
        spread = np.r_[diff[1:], diff[0] + 1.0].std(ddof=1)
    return float((norm.ppf(1 - alpha / 2) + norm.ppf(power)) * spread / np.sqrt(max(len(diff), 1)))
