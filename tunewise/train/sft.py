"""Supervised fine-tuning (LoRA or full) with transformers' Trainer: loss on answer tokens only,
validation loss every `eval_steps`, early stopping, and only the best checkpoint kept.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import (
    AutoModelForCausalLM,
    DataCollatorForSeq2Seq,
    PrinterCallback,
    Trainer,
    TrainingArguments,
    set_seed,
)

from tunewise._io import atomic_dir
from tunewise.errors import TunewiseError
from tunewise.models.prompts import Renderer, encode_example
from tunewise.train.guards import MetricsLog, RichProgress, early_stopping
from tunewise.train.lora import apply_lora


@dataclass
class TrainResult:
    checkpoint: Path
    best_step: int | None
    best_val_loss: float | None
    steps: int
    stopped_early: bool
    truncated_rows: int
    train_tokens: int


def encode_all(renderer: Renderer, conversations: list[tuple[list[dict], str]], max_length: int):
    """Tokenise every (messages, answer) once; return (examples, number truncated)."""
    examples, truncated = [], 0
    for messages, answer in conversations:
        example, cut = encode_example(renderer, messages, answer, max_length)
        examples.append(example)
        truncated += cut
    return examples, truncated


def precision_flags(precision: str) -> dict:
    """bf16 mixed precision on a GPU that supports it under 'auto'; fp32 elsewhere."""
    cuda = torch.cuda.is_available()
    if precision == "fp16" and not cuda:
        raise TunewiseError("train.precision: fp16 needs a CUDA GPU (use fp32 or bf16 on a CPU)")
    if precision == "auto":
        precision = "bf16" if cuda and torch.cuda.is_bf16_supported() else "fp32"
    return {"bf16": precision == "bf16", "fp16": precision == "fp16"}


def last_complete_checkpoint(work: Path) -> Path | None:
    """The newest checkpoint-N folder whose trainer state was written (a killed save leaves none)."""
    found = [p for p in work.glob("checkpoint-*") if (p / "trainer_state.json").is_file()] if work.is_dir() else []
    return max(found, key=lambda p: int(p.name.rsplit("-", 1)[1]), default=None)


def fine_tune(
    model_path: str,
    renderer: Renderer,
    train_conv,
    val_conv,
    train_cfg,
    max_length: int,
    seed: int,
    out_dir: Path,
    resume: bool = False,
) -> TrainResult:
    """Fine-tune ``model_path`` on the conversations; write metrics.jsonl and the best checkpoint under ``out_dir``.
    With ``resume``, training continues from the last complete checkpoint of an interrupted run."""
    set_seed(seed)
    train_set, truncated = encode_all(renderer, train_conv, max_length)
    val_set, _ = encode_all(renderer, val_conv, max_length)
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    if train_cfg.method == "lora":
        model = apply_lora(model, train_cfg.lora)
    work = out_dir / "checkpoints"
    resume_from = last_complete_checkpoint(work) if resume else None
    resumed_step = int(resume_from.name.rsplit("-", 1)[1]) if resume_from else None
    trainer = Trainer(
        model=model,
        args=_training_arguments(train_cfg, seed, work),
        train_dataset=train_set,
        eval_dataset=val_set,
        data_collator=DataCollatorForSeq2Seq(renderer.tokenizer, padding=True, label_pad_token_id=-100),
        callbacks=[MetricsLog(out_dir / "metrics.jsonl", resumed_step), RichProgress(), *early_stopping(train_cfg)],
    )
    trainer.remove_callback(PrinterCallback)  # our progress bar and metrics.jsonl replace its raw dict prints
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    state = trainer.state
    checkpoint = out_dir / "checkpoint"
    with atomic_dir(checkpoint) as tmp:  # trainer.model holds the best weights (load_best_model_at_end)
        trainer.save_model(str(tmp))
        renderer.tokenizer.save_pretrained(str(tmp))
    shutil.rmtree(work, ignore_errors=True)
    best_step = int(state.best_model_checkpoint.rsplit("-", 1)[1]) if state.best_model_checkpoint else None
    return TrainResult(
        checkpoint=checkpoint,
        best_step=best_step,
        best_val_loss=state.best_metric,
        steps=state.global_step,
        stopped_early=state.global_step < state.max_steps,
        truncated_rows=truncated,
        train_tokens=sum(len(e["input_ids"]) for e in train_set),
    )


def _training_arguments(train_cfg, seed: int, work: Path) -> TrainingArguments:
    return TrainingArguments(
        output_dir=str(work),
        per_device_train_batch_size=train_cfg.batch_size,
        per_device_eval_batch_size=train_cfg.batch_size * 2,
        gradient_accumulation_steps=train_cfg.gradient_accumulation,
        learning_rate=train_cfg.learning_rate,
        weight_decay=train_cfg.weight_decay,
        warmup_steps=train_cfg.warmup_ratio,
        lr_scheduler_type=train_cfg.lr_scheduler,
        num_train_epochs=train_cfg.epochs,
        max_steps=train_cfg.max_steps or -1,
        eval_strategy="steps",
        eval_steps=train_cfg.eval_steps,
        save_strategy="steps",
        save_steps=train_cfg.eval_steps,
        save_total_limit=2,
        save_only_model=train_cfg.method == "full",
        load_best_model_at_end=True,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        logging_steps=train_cfg.logging_steps,
        train_sampling_strategy="group_by_length" if train_cfg.group_by_length else "random",
        report_to=train_cfg.report_to or "none",
        seed=seed,
        data_seed=seed,
        disable_tqdm=True,
        dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
        **precision_flags(train_cfg.precision),
    )
