"""The training stage of a run: the training and validation splits as the method's examples, then fit."""

from __future__ import annotations

from pathlib import Path

from tunewise._io import atomic_write_json
from tunewise._progress import console
from tunewise.data.formats import to_conversation
from tunewise.data.split import sample_rows
from tunewise.train.dpo import preference_tune
from tunewise.train.sft import TrainResult, fine_tune


def train_stage(cfg, model_path, renderer, splits, task, out: Path, resume: bool = False) -> TrainResult:
    """Fine-tune on the training split with validation loss on a sample of the validation split (training never
    reads the test split); writes out/result.json beside the checkpoint and the training log."""
    limit = cfg.model.max_length
    splits = {**splits, "validation": sample_rows(splits["validation"], cfg.train.validation_rows, cfg.seed)}
    if task == "preference":
        train, validation = splits["train"], splits["validation"]
        tune, cut = preference_tune, f"prompts were longer than half of model.max_length={limit} and were cut"
    else:
        train, validation = (
            [to_conversation(r, task, cfg.model.instruction) for r in splits[name]] for name in ("train", "validation")
        )
        tune, cut = fine_tune, f"rows were longer than model.max_length={limit} and were truncated"
    result = tune(model_path, renderer, train, validation, cfg.train, limit, cfg.seed, out, resume)
    if result.truncated_rows:
        console.print(f"[yellow]warning[/] {result.truncated_rows} training {cut}")
    atomic_write_json(out / "result.json", {**result.__dict__, "checkpoint": str(result.checkpoint)})
    return result
