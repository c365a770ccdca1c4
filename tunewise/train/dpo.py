"""Preference tuning with DPO (TRL's DPOTrainer) on (prompt, chosen, rejected) rows, under the same guards as
supervised fine-tuning: validation loss every `eval_steps`, early stopping, the best checkpoint kept,
metrics.jsonl, resume. With LoRA the reference model is the base with the adapter switched off (no copy).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from transformers import set_seed

from tunewise.models.precision import resolve_precision
from tunewise.models.prompts import Renderer
from tunewise.rundir import CHECKPOINTS
from tunewise.train.sft import (
    TrainResult,
    guard_callbacks,
    load_trainable_model,
    train_and_keep_best,
    training_arguments,
)

END_OF_TURN_ALLOWANCE = 4  # tokens the template adds after an answer (e.g. "<|im_end|>\n")


def fit_preference_row(renderer: Renderer, row: dict, max_length: int) -> tuple[dict, bool]:
    """The row cut to fit `max_length` tokens: the prompt to at most half of it, from the left (the turn being
    answered stays), then each answer from the right. No pair is dropped for being long. Returns (row, whether
    the prompt was cut)."""
    prompt, cut = _fitting_prompt(renderer, row["prompt"], max_length // 2)
    room = max_length - len(renderer.prompt_ids([{"role": "user", "content": prompt}]))
    fitted = {**row, "prompt": prompt}
    for side in ("chosen", "rejected"):
        ids = renderer.tokenizer(row[side], add_special_tokens=False)["input_ids"]
        keep = max(room - END_OF_TURN_ALLOWANCE, 1)
        fitted[side] = renderer.tokenizer.decode(ids[:keep]) if len(ids) > keep else row[side]
    return fitted, cut


def preference_rows(renderer: Renderer, rows: list[dict], max_length: int) -> tuple[list[dict], int]:
    """Rows in TRL's format (conversational with a chat template, plain strings otherwise), fitted to
    `max_length` (see fit_preference_row); returns (rows, number of prompts cut)."""
    converted, cut = [], 0
    for original in rows:
        row, was_cut = fit_preference_row(renderer, original, max_length)
        cut += was_cut
        prompt = row["prompt"]
        messages = renderer.with_system([{"role": "user", "content": prompt}])
        if renderer.chat:
            converted.append(
                {
                    "prompt": messages,
                    "chosen": [{"role": "assistant", "content": row["chosen"]}],
                    "rejected": [{"role": "assistant", "content": row["rejected"]}],
                }
            )
        else:
            converted.append(
                {
                    "prompt": renderer.prompt_text(messages),
                    "chosen": renderer.answer_text(messages, row["chosen"]),
                    "rejected": renderer.answer_text(messages, row["rejected"]),
                }
            )
    return converted, cut


def _fitting_prompt(renderer: Renderer, text: str, budget: int) -> tuple[str, bool]:
    overhead = len(renderer.prompt_ids([{"role": "user", "content": ""}]))
    ids = renderer.tokenizer(text, add_special_tokens=False)["input_ids"]
    room = max(budget - overhead, 1)
    if len(ids) <= room:
        return text, False
    return renderer.tokenizer.decode(ids[-room:]), True  # keep the end: the turn being answered


def preference_tune(
    model_path: str,
    renderer: Renderer,
    train_rows: list[dict],
    val_rows: list[dict],
    train_cfg,
    max_length: int,
    seed: int,
    out_dir: Path,
    resume: bool = False,
) -> TrainResult:
    """DPO-tune ``model_path`` on preference rows; write metrics.jsonl and the best checkpoint under ``out_dir``."""
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    set_seed(seed)
    train_set, cut = preference_rows(renderer, train_rows, max_length)
    val_set, _ = preference_rows(renderer, val_rows, max_length)
    precision = resolve_precision(train_cfg.precision)
    callbacks, resume_from = guard_callbacks(train_cfg, out_dir, resume)
    args = training_arguments(
        train_cfg,
        seed,
        out_dir / CHECKPOINTS,
        precision,
        DPOConfig,
        beta=train_cfg.dpo_beta,
        max_length=max_length,
    )
    with _quiet_datasets():  # TRL tokenises through datasets.map: four bars for a second's work, in every log
        trainer = DPOTrainer(
            model=load_trainable_model(model_path, train_cfg, precision),
            args=args,
            train_dataset=Dataset.from_list(train_set),
            eval_dataset=Dataset.from_list(val_set),
            processing_class=renderer.tokenizer,
            callbacks=callbacks,
        )
    return train_and_keep_best(trainer, renderer.tokenizer, out_dir, resume_from, cut, train_tokens=None)


@contextlib.contextmanager
def _quiet_datasets():
    import datasets

    shown = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if shown:
            datasets.enable_progress_bars()
