"""The evaluation stage of a run: the base model (optional) and the fine-tuned checkpoint on one split, with
metrics and intervals, the paired comparison, slices, the forgetting probe, an optional judge and the warnings
that qualify the numbers."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

from tunewise._io import atomic_write_json, atomic_write_jsonl
from tunewise.data.formats import classifier_text, input_text, prompt_messages, to_conversation
from tunewise.data.split import class_labels, sample_rows
from tunewise.errors import TunewiseError
from tunewise.evaluate.baselines import baseline_names, run_baseline
from tunewise.evaluate.forgetting import forgetting_probe
from tunewise.evaluate.judge import JUDGE_RUBRIC, judge_pairs
from tunewise.evaluate.metrics import (
    calibration,
    classification_metrics,
    compare_scores,
    custom_metrics,
    generation_metrics,
    row_scores,
)
from tunewise.evaluate.predict import answer, predict_classes
from tunewise.evaluate.preference import accuracy_of, compare_preference, pair_logprobs
from tunewise.evaluate.slices import slice_fields, slice_metrics
from tunewise.evaluate.verdict import evidence_warnings
from tunewise.models.loading import load_classifier, load_for_eval, model_and_renderer
from tunewise.models.precision import resolve_eval_precision
from tunewise.models.registry import is_encoder, run_cache_dir
from tunewise.rundir import HEAD_LABELS, METRICS, PREDICTIONS


def evaluate_stage(cfg, model_path, renderer, splits, task, checkpoint: Path, out: Path, split: str = "test") -> dict:
    """Evaluate the base model (optional) and the fine-tuned checkpoint on one split; writes out/metrics.json and
    out/predictions.jsonl and returns the metrics."""
    rows = sample_rows(splits[split], cfg.eval.max_rows, cfg.seed)
    if not rows:
        raise TunewiseError(f"the {split} split is empty: raise split.test or give data.test_path")
    if task == "preference":
        metrics = {"split": split, "task": task, **evaluate_preference(cfg, model_path, renderer, rows, checkpoint)}
        metrics["warnings"] = evidence_warnings(task, metrics, cfg.eval.min_test_rows)
        atomic_write_json(out / METRICS, metrics)
        return metrics
    labels = class_labels(cfg, splits) if task == "classification" else None
    predictions, speed, models, top = {}, {}, {}, None
    encoder = is_encoder(cfg.model.name)
    if cfg.eval.compare_base and not encoder:  # the base answers as text (zero-shot), whatever the tuned objective
        models["base"] = load_for_eval(model_path, None, cfg)
        predictions["base"], speed["base"] = _timed(lambda: predict(cfg, models["base"], renderer, rows, task, labels))
    if cfg.train.objective_for(task) == "classify":
        head = load_head(cfg, model_path, renderer, checkpoint)
        (predictions["tuned"], top), speed["tuned"] = _timed(lambda: classify_rows(cfg, head, renderer, rows))
    else:
        models["tuned"] = load_for_eval(model_path, checkpoint, cfg)
        predictions["tuned"], speed["tuned"] = _timed(
            lambda: predict(cfg, models["tuned"], renderer, rows, task, labels)
        )
    references = reference_answers(cfg, rows, task)
    scores = {name: row_scores(task, references, preds) for name, preds in predictions.items()}
    metrics: dict = {"split": split, "task": task}
    if encoder:
        metrics["base_skipped"] = (
            f"{cfg.model.name} is an encoder: untuned it has no classes to answer with; its frozen embeddings with a "
            "logistic regression are the embedding_lr baseline"
        )
    for name, preds in predictions.items():
        metrics[name] = {**score(task, references, preds), **custom_metrics(cfg.eval.metrics, references, preds)}
    # measured, so kept apart from the scores (which the seed reproduces)
    metrics["rows_per_second"] = {name: round(len(rows) / max(seconds, 1e-9), 1) for name, seconds in speed.items()}
    if "base" in predictions:
        metrics["comparison"] = compare_scores(task, scores["base"], scores["tuned"])
    baseline_answers = {}
    if split == "test":  # baselines tune on the validation split, so they are scored on the test split only
        metrics["baselines"], baseline_answers = _baselines(cfg, splits, rows, task, references, scores["tuned"])
    metrics["slices"] = _slices(rows, task, cfg.eval.slice_by, scores)
    if top is not None:
        confidences = [row[0][1] for row in top]
        metrics["calibration"] = calibration(confidences, [score == 1 for score in scores["tuned"]])
    if cfg.eval.forgetting_probe and "base" in models and "tuned" in models:  # a head has no text to forget
        metrics["forgetting"] = forgetting_probe(models["base"], models["tuned"], renderer.tokenizer)
    if cfg.eval.judge and "base" in predictions and task != "classification":
        metrics["judge"] = _judge(cfg, rows, task, predictions["base"], predictions["tuned"])
    metrics["warnings"] = evidence_warnings(task, metrics, cfg.eval.min_test_rows) + _unseen_labels(rows, labels)
    atomic_write_jsonl(
        out / PREDICTIONS,
        [
            {
                "input": input_text(r, task),
                "reference": ref,
                **{k: v[i] for k, v in predictions.items()},
                **({"tuned_top": top[i]} if top is not None else {}),
                **({"baselines": {k: v[i] for k, v in baseline_answers.items()}} if baseline_answers else {}),
                "meta": r.get("meta", {}),
            }
            for i, (r, ref) in enumerate(zip(rows, references, strict=True))
        ],
    )
    atomic_write_json(out / METRICS, metrics)
    return metrics


def load_head(cfg, model_path, renderer, checkpoint: Path):
    """A fine-tuned classification head, its classes in the order the training wrote beside the checkpoint."""
    labels = json.loads((checkpoint.parent / HEAD_LABELS).read_text(encoding="utf-8"))
    return load_classifier(model_path, checkpoint, cfg, labels, renderer.tokenizer.pad_token_id)


def classify_rows(cfg, head, renderer, rows: list[dict], top: int = 3):
    """The head's labels for the rows, and the top classes with their probabilities per row."""
    texts = [classifier_text(r, cfg.model.instruction) for r in rows]
    return predict_classes(head, renderer.tokenizer, texts, cfg.eval.batch_size, cfg.model.max_length, top=top)


def tuned_answers(cfg, model_path, renderer, checkpoint: Path, rows: list[dict], task: str, labels) -> list[str]:
    """The fine-tuned model's answers, by the objective it was trained with."""
    return tuned_predictions(cfg, model_path, renderer, checkpoint, rows, task, labels)[0]


def tuned_predictions(cfg, model_path, renderer, checkpoint: Path, rows: list[dict], task: str, labels):
    """The fine-tuned model's answers, and for a classification head the top classes with their probabilities
    per row (None otherwise)."""
    return model_predictions(cfg, load_tuned(cfg, model_path, renderer, checkpoint, task), renderer, rows, task, labels)


def load_tuned(cfg, model_path, renderer, checkpoint: Path, task: str):
    """The fine-tuned model as evaluation loads it: the classification head, or the causal LM with its adapters
    merged, in the evaluation dtype."""
    if cfg.train.objective_for(task) == "classify":
        return load_head(cfg, model_path, renderer, checkpoint)
    return load_for_eval(model_path, checkpoint, cfg)


def model_predictions(cfg, model, renderer, rows: list[dict], task: str, labels):
    """A loaded fine-tuned model's answers (by its objective), and a head's top classes per row (None otherwise)."""
    if cfg.train.objective_for(task) == "classify":
        return classify_rows(cfg, model, renderer, rows)
    return predict(cfg, model, renderer, rows, task, labels), None


def _timed(work):
    """What ``work()`` returns, and the seconds it took."""
    started = time.perf_counter()
    found = work()
    return found, time.perf_counter() - started


def _baselines(cfg, splits, rows, task, references, tuned_scores) -> tuple[dict, dict]:
    """Each baseline's metrics on the same rows, its cost, and the paired comparison of the tuned model with it."""
    cache_dir = run_cache_dir(cfg)
    found, answers = {}, {}
    for name in baseline_names(cfg.eval.baselines, task):
        result = run_baseline(name, splits, rows, task, cache_dir)
        answers[name] = result.pop("predictions")
        row = row_scores(task, references, answers[name])
        found[name] = {**score(task, references, answers[name]), **result}
        found[name]["comparison"] = compare_scores(task, row, tuned_scores)  # gain = tuned minus this baseline
    return found, answers


def _unseen_labels(rows: list[dict], labels: list[str] | None) -> list[str]:
    """Test labels no training or validation row carries: no model here can predict them, so they count as wrong."""
    if labels is None:
        return []
    known = set(labels)
    unseen = Counter(r["label"] for r in rows if r["label"] not in known)
    if not unseen:
        return []
    named = ", ".join(f"{label} ({count} rows)" for label, count in sorted(unseen.items()))
    return [f"test labels never seen in training: {named}; those rows count as wrong"]


def _slices(rows: list[dict], task: str, slice_by, scores: dict) -> list[dict]:
    """The tuned model's score per slice, worst first, with the base model's score beside each."""
    fields = slice_fields(rows, task, slice_by)
    found = slice_metrics(rows, scores["tuned"], fields)
    if "base" in scores:
        base_score = {(s["field"], s["value"]): s["score"] for s in slice_metrics(rows, scores["base"], fields)}
        for each in found:
            each["base_score"] = base_score[(each["field"], each["value"])]
    return found


def evaluate_preference(cfg, model_path, renderer, rows: list[dict], checkpoint: Path) -> dict:
    """Preference accuracy on held-out pairs. The tuned model is scored by DPO's implicit reward against the
    base model (what preference tuning changed), the base model by its own likelihood (what it prefers
    before tuning); the tuned model's likelihood preference is reported too."""
    from tunewise.train.dpo import fit_preference_row

    rows = [fit_preference_row(renderer, r, cfg.model.max_length)[0] for r in rows]  # as DPO saw them
    scored_in = resolve_eval_precision(cfg.eval.precision, task="preference")  # fp32 under auto: FP32_EVALUATION
    cfg = cfg.model_copy(update={"eval": cfg.eval.model_copy(update={"precision": scored_in})})
    base_model, tuned_model = load_for_eval(model_path, None, cfg), load_for_eval(model_path, checkpoint, cfg)
    base = pair_logprobs(base_model, renderer, rows, cfg.eval.batch_size)
    tuned = pair_logprobs(tuned_model, renderer, rows, cfg.eval.batch_size)
    base_likelihood, tuned_likelihood = accuracy_of(base), accuracy_of(tuned)
    implicit = accuracy_of(tuned, reference=base)

    def public(scores: dict) -> dict:
        return {k: v for k, v in scores.items() if k != "per_row"}

    def with_likelihood(scores: dict, likelihood: dict) -> dict:
        return public(scores) | {
            "likelihood_preference_accuracy": likelihood["preference_accuracy"],
            "likelihood_preference_accuracy_ci": likelihood["preference_accuracy_ci"],
        }

    found = {
        "base": with_likelihood(base_likelihood, base_likelihood),
        "tuned": with_likelihood(implicit, tuned_likelihood),
        "comparison": compare_preference(base_likelihood, implicit),
        "likelihood_comparison": compare_preference(base_likelihood, tuned_likelihood),
        "slices": [],
    }
    if cfg.eval.forgetting_probe:
        found["forgetting"] = forgetting_probe(base_model, tuned_model, renderer.tokenizer)
    return found


def _judge(cfg, rows: list[dict], task: str, base: list[str], tuned: list[str]) -> dict:
    """Base (system 1) vs fine-tuned (system 2) as seen by the configured judge model."""
    judge_cfg = cfg.eval.judge
    count = judge_cfg.max_rows or len(rows)
    model_path, renderer = model_and_renderer(cfg, judge_cfg.model)
    prompts = ["\n".join(m["content"] for m in to_conversation(r, task, cfg.model.instruction)[0]) for r in rows]
    verdicts = judge_pairs(
        load_for_eval(model_path, None, cfg),
        renderer,
        prompts[:count],
        base[:count],
        tuned[:count],
        judge_cfg.rubric or JUDGE_RUBRIC,
    )
    return {"model": judge_cfg.model, "systems": ["base", "tuned"], **verdicts}


def reference_answers(cfg, rows: list[dict], task: str) -> list:
    """Each row's reference answer, or its list of references when eval.references names more fields."""
    firsts = [to_conversation(r, task)[1] for r in rows]
    if not cfg.eval.references or task == "classification":
        return firsts
    found = []
    for row, first in zip(rows, firsts, strict=True):
        extra = [row.get("meta", {}).get(field) for field in cfg.eval.references]
        found.append([first] + [text for text in extra if isinstance(text, str) and text.strip()])
    return found


def predict(cfg, model, renderer, rows: list[dict], task: str, labels: list[str] | None) -> list[str]:
    """The model's answers: a label (constrained decoding) for classification, generated text otherwise."""
    prompts = [prompt_messages(r, task, cfg.model.instruction) for r in rows]
    return answer(model, renderer, prompts, task, labels, cfg.eval.max_new_tokens, cfg.eval.batch_size)


def score(task: str, references, predictions) -> dict:
    if task == "classification":
        return classification_metrics(references, predictions)
    return generation_metrics(references, predictions)
