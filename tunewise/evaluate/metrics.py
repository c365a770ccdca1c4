"""Task metrics from the libraries that define them (scikit-learn, rouge-score, sacrebleu), each headline
metric with a 95 % bootstrap interval, and a paired test of the tuned model against the base model."""

from __future__ import annotations

from tunewise.evaluate.stats import mcnemar, mean_ci, metric_ci, paired_difference


def _macro_f1(references: list[str], predictions: list[str]) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(references, predictions, average="macro", zero_division=0))


def classification_metrics(references: list[str], predictions: list[str]) -> dict:
    """Accuracy and macro-F1 over the labels that occur in the references or the predictions, with 95 % CIs."""
    correct = [r == p for r, p in zip(references, predictions, strict=True)]
    return {
        "accuracy": sum(correct) / len(correct),
        "accuracy_ci": mean_ci(correct),
        "macro_f1": _macro_f1(references, predictions),
        "macro_f1_ci": metric_ci(_macro_f1, references, predictions),
        "n": len(references),
    }


def rouge_rows(references: list[str], predictions: list[str]) -> dict[str, list[float]]:
    """Per-row ROUGE-1/2/L F-measures."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    rows = {"rouge1": [], "rouge2": [], "rougeL": []}
    for reference, prediction in zip(references, predictions, strict=True):
        scores = scorer.score(reference, prediction)
        for key, values in rows.items():
            values.append(scores[key].fmeasure)
    return rows


def generation_metrics(references: list[str], predictions: list[str]) -> dict:
    import sacrebleu

    per_row = rouge_rows(references, predictions)
    n = max(len(references), 1)
    return {
        **{key: sum(values) / n for key, values in per_row.items()},
        "rougeL_ci": mean_ci(per_row["rougeL"]),
        "bleu": sacrebleu.corpus_bleu(predictions, [references]).score,
        "chrf": sacrebleu.corpus_chrf(predictions, [references]).score,
        "exact_match": sum(r.strip() == p.strip() for r, p in zip(references, predictions, strict=True)) / n,
        "n": len(references),
    }


def compare(task: str, references: list[str], base: list[str], tuned: list[str]) -> dict:
    """Tuned vs base on the same rows: the gain, its 95 % paired-bootstrap interval and a p-value."""
    if task == "classification":
        base_right = [r == p for r, p in zip(references, base, strict=True)]
        tuned_right = [r == p for r, p in zip(references, tuned, strict=True)]
        difference = paired_difference(base_right, tuned_right)
        return {"metric": "accuracy", **difference, **mcnemar(base_right, tuned_right)}
    difference = paired_difference(rouge_rows(references, base)["rougeL"], rouge_rows(references, tuned)["rougeL"])
    return {"metric": "rougeL", "test": "paired_bootstrap", **difference}
