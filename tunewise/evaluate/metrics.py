"""Task metrics from the libraries that define them: scikit-learn, rouge-score, sacrebleu."""

from __future__ import annotations


def classification_metrics(references: list[str], predictions: list[str]) -> dict:
    """Accuracy and macro-F1 over the labels that occur in the references or the predictions."""
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "accuracy": float(accuracy_score(references, predictions)),
        "macro_f1": float(f1_score(references, predictions, average="macro", zero_division=0)),
        "n": len(references),
    }


def generation_metrics(references: list[str], predictions: list[str]) -> dict:
    import sacrebleu
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    totals = {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
    for reference, prediction in zip(references, predictions, strict=True):
        scores = scorer.score(reference, prediction)
        for key in totals:
            totals[key] += scores[key].fmeasure
    n = max(len(references), 1)
    return {
        **{key: value / n for key, value in totals.items()},
        "bleu": sacrebleu.corpus_bleu(predictions, [references]).score,
        "chrf": sacrebleu.corpus_chrf(predictions, [references]).score,
        "exact_match": sum(r.strip() == p.strip() for r, p in zip(references, predictions, strict=True)) / n,
        "n": len(references),
    }
