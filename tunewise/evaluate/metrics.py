"""Task metrics from the libraries that define them (scikit-learn, rouge-score, sacrebleu), each headline
metric with a 95 % bootstrap interval, and a paired test of the tuned model against the base model."""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Callable

import numpy as np

from tunewise.errors import TunewiseError
from tunewise.evaluate.stats import (
    macro_f1_ci,
    mcnemar,
    mean_ci,
    metric_ci,
    minimum_detectable_effect,
    paired_difference,
)

References = list[str] | list[list[str]]


def headline_keys(task: str, short: bool = False) -> list[str]:
    """The metrics shown for a task, most important first (``short``: the ones worth a chart or a terminal)."""
    if task == "classification":
        return ["accuracy", "macro_f1"]
    if task == "preference":
        return ["preference_accuracy", "likelihood_preference_accuracy"]
    return ["rougeL", "rouge1", "chrf"] if short else ["rougeL", "rouge1", "rouge2", "bleu", "chrf", "exact_match"]


def _macro_f1(references: list[str], predictions: list[str]) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(references, predictions, average="macro", zero_division=0))


def classification_metrics(references: list[str], predictions: list[str]) -> dict:
    """Accuracy and macro-F1 (with 95 % CIs), per-class precision/recall/F1 and the confusion matrix, over
    the labels that occur in the references or the predictions."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    labels = sorted(set(references) | set(predictions))
    correct = [r == p for r, p in zip(references, predictions, strict=True)]
    precision, recall, f1, support = precision_recall_fscore_support(
        references, predictions, labels=labels, zero_division=0
    )
    return {
        "accuracy": sum(correct) / len(correct),
        "accuracy_ci": mean_ci(correct),
        "macro_f1": _macro_f1(references, predictions),
        "macro_f1_ci": macro_f1_ci(references, predictions),
        "n": len(references),
        "majority_share": Counter(references).most_common(1)[0][1] / len(references),
        "per_class": [
            {"label": label, "precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
        ],
        "confusion": {
            "labels": labels,
            "matrix": confusion_matrix(references, predictions, labels=labels).tolist(),  # rows: true label
        },
    }


def as_reference_lists(references: References) -> list[list[str]]:
    return [[r] if isinstance(r, str) else list(r) for r in references]


def rouge_rows(references: References, predictions: list[str]) -> dict[str, list[float]]:
    """Per-row ROUGE-1/2/L F-measures; with several references, the best-matching one counts."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    rows = {"rouge1": [], "rouge2": [], "rougeL": []}
    for refs, prediction in zip(as_reference_lists(references), predictions, strict=True):
        scores = scorer.score_multi(refs, prediction)
        for key, values in rows.items():
            values.append(scores[key].fmeasure)
    return rows


def generation_metrics(references: References, predictions: list[str]) -> dict:
    """ROUGE-1/2/L, BLEU, chrF, exact match and length statistics; every reference of a row counts."""
    import sacrebleu

    ref_lists = as_reference_lists(references)
    per_row = rouge_rows(ref_lists, predictions)
    width = max(len(refs) for refs in ref_lists)
    # sacrebleu wants one stream per reference position; a row with fewer references repeats its first
    # (a repeated reference changes neither clipped n-gram counts nor the closest reference length).
    streams = [[refs[i] if i < len(refs) else refs[0] for refs in ref_lists] for i in range(width)]
    n = len(predictions)
    prediction_words = [len(p.split()) for p in predictions]
    reference_words = [np.mean([len(r.split()) for r in refs]) for refs in ref_lists]
    return {
        **{key: sum(values) / n for key, values in per_row.items()},
        "rougeL_ci": mean_ci(per_row["rougeL"]),
        "bleu": sacrebleu.corpus_bleu(predictions, streams).score,
        "chrf": sacrebleu.corpus_chrf(predictions, streams).score,
        "exact_match": sum(
            p.strip() in {r.strip() for r in refs} for refs, p in zip(ref_lists, predictions, strict=True)
        )
        / n,
        "prediction_words": float(np.mean(prediction_words)),
        "reference_words": float(np.mean(reference_words)),
        "length_ratio": float(np.sum(prediction_words) / max(np.sum(reference_words), 1)),
        "empty_predictions": sum(not p.strip() for p in predictions),
        "references_per_row": width,
        "n": n,
    }


def row_scores(task: str, references: References, predictions: list[str]) -> list[float]:
    """The per-row score behind the headline metric: 1/0 correctness, or ROUGE-L."""
    if task == "classification":
        return [float(r == p) for r, p in zip(references, predictions, strict=True)]
    return rouge_rows(references, predictions)["rougeL"]


def compare(task: str, references: References, base: list[str], tuned: list[str]) -> dict:
    """Tuned vs base on the same rows: the gain, its 95 % paired-bootstrap interval, a p-value and the smallest
    gain this many rows could reliably detect (80 % power, 5 % two-sided)."""
    return compare_scores(task, row_scores(task, references, base), row_scores(task, references, tuned))


def compare_scores(task: str, base_rows: list[float], tuned_rows: list[float]) -> dict:
    """`compare` on per-row scores already computed (see `row_scores`)."""
    difference = paired_difference(base_rows, tuned_rows)
    mde = minimum_detectable_effect(np.subtract(tuned_rows, base_rows))
    if task == "classification":
        test = mcnemar([s == 1 for s in base_rows], [s == 1 for s in tuned_rows])
        return {"metric": "accuracy", **difference, **test, "mde": mde, "n": len(base_rows)}
    return {"metric": "rougeL", "test": "paired_bootstrap", **difference, "mde": mde, "n": len(base_rows)}


def custom_metrics(paths: list[str], references: References, predictions: list[str]) -> dict:
    """Metrics given by import path ("package.module:function"); each takes (references, predictions) and
    returns a number, reported with a bootstrap interval."""
    found = {}
    for path in paths:
        function = load_metric(path)
        name = path.rsplit(":", 1)[-1]
        try:
            found[name] = float(function(references, predictions))
            found[f"{name}_ci"] = metric_ci(function, references, predictions, rounds=200)
        except Exception as exc:  # noqa: BLE001 - a user's metric: report which one failed and why
            raise TunewiseError(f"eval.metrics: {path} failed: {type(exc).__name__}: {exc}") from None
    return found


def load_metric(path: str) -> Callable:
    module_name, _, attribute = path.partition(":")
    if not attribute:
        raise TunewiseError(f"eval.metrics: '{path}' is not of the form package.module:function")
    try:
        function = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise TunewiseError(f"eval.metrics: cannot import '{path}' ({exc})") from None
    if not callable(function):
        raise TunewiseError(f"eval.metrics: '{path}' is not a function")
    return function


def calibration(confidences: list[float], correct: list[bool], bins: int = 10) -> dict:
    """Expected calibration error (the row-weighted gap between confidence and accuracy over equal-width
    confidence bins) and the bins for a reliability plot."""
    found, total, n = [], 0.0, len(confidences)
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        members = [i for i, c in enumerate(confidences) if low < c <= high or (b == 0 and c == 0)]
        if not members:
            continue
        confidence = sum(confidences[i] for i in members) / len(members)
        accuracy = sum(bool(correct[i]) for i in members) / len(members)
        total += len(members) / n * abs(confidence - accuracy)
        found.append({"low": low, "high": high, "n": len(members), "confidence": confidence, "accuracy": accuracy})
    return {"ece": total, "bins": found}
