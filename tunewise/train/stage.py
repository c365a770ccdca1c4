"""The training stage of a run: the training and validation splits as the method's examples, then fit."""

from __future__ import annotations

from pathlib import Path

from tunewise._io import atomic_write_json
from tunewise._progress import console
from tunewise.data.formats import classifier_text, to_conversation
from tunewise.data.split import class_labels, sample_rows
from tunewise.models.registry import is_encoder, run_cache_dir
from tunewise.rundir import CHECKPOINT, CHECKPOINTS, TRAIN_RESULT, read_json
from tunewise.train.classify import classify_tune
from tunewise.train.dpo import preference_tune
from tunewise.train.sft import TrainResult, fine_tune, last_complete_checkpoint


def train_stage(cfg, model_path, renderer, splits, task, out: Path, resume: bool = False) -> TrainResult:
    """Fine-tune on the training split with validation loss on a sample of the validation split (training never
    reads the test split); writes out/result.json beside the checkpoint and the training log. With ``resume``,
    a training that had finished (the run was interrupted after it) is not repeated."""
    if resume and _finished_training(out):
        return TrainResult(**{**read_json(out / TRAIN_RESULT), "checkpoint": out / CHECKPOINT})
    if cfg.train.batch_size == "auto":  # a run has resolved it already; a search's trial or a learning curve not
        cfg = _resolved_batch(cfg, model_path, renderer, splits, task)
    splits = {**splits, "validation": sample_rows(splits["validation"], cfg.train.validation_rows, cfg.seed)}
    if cfg.train.objective_for(task) == "classify":
        result = _classify(cfg, model_path, renderer, splits, out, resume)
    else:
        result = _tune(cfg, model_path, renderer, splits, task, out, resume)
    checkpoint = str(result.checkpoint.relative_to(out.parent))
    atomic_write_json(out / TRAIN_RESULT, {**result.__dict__, "checkpoint": checkpoint})
    return result


def _resolved_batch(cfg, model_path, renderer, splits, task):
    """train.batch_size: auto as the memory plan resolves it on this device (its effective batch's own size where
    the model's config cannot be planned)."""
    from tunewise.train.plan import plan_run, with_batch

    try:
        found = plan_run(cfg, model_path, renderer, splits, task)
    except (AttributeError, KeyError, ValueError, TypeError):
        found = None
    return with_batch(cfg, found)


def _finished_training(out: Path) -> bool:
    return (out / TRAIN_RESULT).is_file() and (out / CHECKPOINT).is_dir()


def resumable(out: Path) -> bool:
    """Whether a training folder holds work worth resuming: a complete checkpoint or a finished training."""
    return _finished_training(out) or last_complete_checkpoint(out / CHECKPOINTS) is not None


def _classify(cfg, model_path, renderer, splits, out: Path, resume: bool) -> TrainResult:
    """A classification head over the base model, on (text, label) rows."""
    labels = class_labels(cfg, splits)
    rows = {
        name: [(classifier_text(r, cfg.model.instruction), r["label"]) for r in splits[name]]
        for name in ("train", "validation")
    }
    limit = cfg.model.max_length
    result = classify_tune(
        model_path,
        renderer.tokenizer,
        rows["train"],
        rows["validation"],
        labels,
        cfg.train,
        limit,
        cfg.seed,
        out,
        resume,
        encoder=is_encoder(cfg.model.name),
        cache_dir=run_cache_dir(cfg),
    )
    if result.truncated_rows:
        console.print(
            f"[yellow]warning[/] {result.truncated_rows} training texts were longer than {limit} tokens and cut"
        )
    return result


def _tune(cfg, model_path, renderer, splits, task, out: Path, resume: bool) -> TrainResult:
    """Supervised fine-tuning of the answer as text, or DPO on preference pairs."""
    limit = cfg.model.max_length
    if task == "preference":
        train, validation = splits["train"], splits["validation"]
        tune, cut = preference_tune, f"prompts were longer than half of model.max_length={limit} and were cut"
    else:
        train, validation = (
            [to_conversation(r, task, cfg.model.instruction, cfg.data.train_on) for r in splits[name]]
            for name in ("train", "validation")
        )
        tune, cut = fine_tune, f"rows were longer than model.max_length={limit} and were truncated"
    result = tune(model_path, renderer, train, validation, cfg.train, limit, cfg.seed, out, resume)
    if result.truncated_rows:
        console.print(f"[yellow]warning[/] {result.truncated_rows} training {cut}")
    return result
