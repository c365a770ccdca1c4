"""Cheap baselines a fine-tune must beat, fitted on the run's own training split (a knob tuned on its validation
split) and scored on exactly the test rows the tuned model is scored on:

- ``majority``: the most common training label (classification);
- ``embedding_lr``: frozen all-MiniLM-L6-v2 sentence embeddings + scikit-learn's LogisticRegression, its C chosen
  on the validation split (classification);
- ``retrieval``: the training answer of the nearest training prompt by embedding (completion and chat; strong
  wherever answers are templated).

Each returns its predictions and its cost: seconds to fit (embedding the training rows included) and the rows per
second it serves (embedding the served rows included; a cached embedding counts the seconds it took to compute).
"""

from __future__ import annotations

import time
from collections import Counter

import numpy as np

from tunewise.data.embed import embed_cached
from tunewise.data.formats import input_text, to_conversation
from tunewise.errors import TunewiseError

APPLIES_TO = {
    "majority": ("classification",),
    "embedding_lr": ("classification",),
    "retrieval": ("completion", "chat"),
}
C_GRID = (0.1, 1.0, 10.0, 100.0)  # LogisticRegression's inverse regularisation, chosen on the validation split


def baseline_names(wanted: list[str] | None, task: str) -> list[str]:
    """eval.baselines, or every baseline that applies to the task; a named one that does not apply is an error."""
    if wanted is None:
        return [name for name, tasks in APPLIES_TO.items() if task in tasks]
    for name in wanted:
        if task not in APPLIES_TO[name]:
            raise TunewiseError(
                f"config: eval.baselines: '{name}' does not apply to {task} data "
                f"(it applies to {', '.join(APPLIES_TO[name])})"
            )
    return list(dict.fromkeys(wanted))


def run_baseline(name: str, splits: dict, rows: list[dict], task: str, cache_dir) -> dict:
    """Fit one baseline on splits['train'] (tuned on splits['validation']) and answer ``rows``:
    {predictions, fit_seconds, rows_per_second, settings}."""
    return BASELINES[name](splits, rows, task, cache_dir)


def majority(splits: dict, rows: list[dict], task: str, cache_dir) -> dict:
    started = time.perf_counter()
    counts = Counter(r["label"] for r in splits["train"])
    label = min(counts, key=lambda lab: (-counts[lab], lab))  # ties: the first label in sorted order
    fit = time.perf_counter() - started
    started = time.perf_counter()
    predictions = [label for _ in rows]
    serve = time.perf_counter() - started
    return _result(predictions, fit, serve, {"label": label})


def embedding_lr(splits: dict, rows: list[dict], task: str, cache_dir) -> dict:
    best, best_score, fit, (test, test_s) = _fit_embedding_lr(splits, rows, task, cache_dir)
    started = time.perf_counter()
    predictions = [str(label) for label in best.predict(test)]
    serve = test_s + time.perf_counter() - started
    return _result(predictions, fit, serve, {"C": best.C, "validation_accuracy": round(best_score, 4)})


def embedding_lr_probabilities(splits: dict, rows: list[dict], task: str, cache_dir):
    """The embedding baseline's class probabilities for ``rows``: (its classes, one row of probabilities each, the
    rows' unit embeddings)."""
    best, _, _, (vectors, _) = _fit_embedding_lr(splits, rows, task, cache_dir)
    return [str(label) for label in best.classes_], best.predict_proba(vectors), vectors


def _fit_embedding_lr(splits: dict, rows: list[dict], task: str, cache_dir):
    """LogisticRegression on frozen embeddings of the training split, C chosen on the validation split; returns
    (the model, its validation accuracy, seconds to fit, (the rows' embeddings, seconds they took))."""
    from sklearn.linear_model import LogisticRegression

    (train, train_s), (validation, validation_s), embedded = (
        embed_cached([input_text(r, task) for r in part], cache_dir)
        for part in (splits["train"], splits["validation"], rows)
    )
    labels = [r["label"] for r in splits["train"]]
    truth = np.array([r["label"] for r in splits["validation"]])
    started = time.perf_counter()
    best, best_score = None, -1.0
    for c in C_GRID:
        model = LogisticRegression(C=c, max_iter=2000).fit(train, labels)
        score = float(np.mean(model.predict(validation) == truth))
        if score > best_score:
            best, best_score = model, score
    return best, best_score, train_s + validation_s + time.perf_counter() - started, embedded


def retrieval(splits: dict, rows: list[dict], task: str, cache_dir) -> dict:
    train_vectors, fit = embed_cached([input_text(r, task) for r in splits["train"]], cache_dir)
    answers = [to_conversation(r, task)[1] for r in splits["train"]]
    test_vectors, test_s = embed_cached([input_text(r, task) for r in rows], cache_dir)
    started = time.perf_counter()
    nearest = np.argmax(test_vectors @ train_vectors.T, axis=1)  # unit vectors: the dot product is the cosine
    predictions = [answers[i] for i in nearest.tolist()]
    serve = test_s + time.perf_counter() - started
    return _result(predictions, fit, serve, {"neighbours": 1})


BASELINES = {"majority": majority, "embedding_lr": embedding_lr, "retrieval": retrieval}


def _result(predictions: list[str], fit_seconds: float, serve_seconds: float, settings: dict) -> dict:
    return {
        "predictions": predictions,
        "fit_seconds": round(fit_seconds, 3),
        "rows_per_second": round(len(predictions) / max(serve_seconds, 1e-9), 1),
        "settings": settings,
    }
