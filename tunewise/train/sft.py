"""Supervised fine-tuning (LoRA or full) with transformers' Trainer: loss on answer tokens only,
validation loss every `eval_steps`, early stopping, and only the best checkpoint kept.
"""

from __future__ import annotations

import functools
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

from tunewise._io import replace_dir
from tunewise.errors import TunewiseError
from tunewise.models.precision import resolve_precision
from tunewise.models.prompts import Renderer, encode_example
from tunewise.models.registry import code_options
from tunewise.rundir import CHECKPOINT, CHECKPOINTS, TRAIN_LOG
from tunewise.train.batching import answer_aligned_batch, answer_loss, pack_answer_batch
from tunewise.train.guards import MetricsLog, RichProgress, TimeSplit, early_stopping, watchers
from tunewise.train.lora import AdapterInputsUncast, base_options, with_adapters
from tunewise.train.plan import peak_memory_bytes


@dataclass
class TrainResult:
    checkpoint: Path
    best_step: int | None
    best_val_loss: float | None
    steps: int
    stopped_early: bool
    truncated_rows: int
    train_tokens: int | None  # tokens of the tokenised training set (None where TRL tokenises)
    seconds: float | None = None  # the Trainer's train_runtime: optimizer steps and the validation passes between
    examples_per_second: float | None = None  # training examples per train_runtime second
    tokens_per_second: float | None = None  # examples/s times the training set's mean tokens per example
    time_split: dict | None = None  # train_runtime by part: steps, evaluation, checkpoints, other (guards.TimeSplit)
    peak_memory: dict | None = None  # the training's measured peak (peak_memory()), to check train.plan's estimate


def encode_all(renderer: Renderer, conversations: list[tuple[list[dict], str]], max_length: int):
    """Tokenise every (messages, answer) once; return (examples, number truncated)."""
    examples, truncated = [], 0
    for messages, answer in conversations:
        example, cut = encode_example(renderer, messages, answer, max_length)
        examples.append(example)
        truncated += cut
    return examples, truncated


def check_attention(train_cfg) -> None:
    """train.attention: flash_attention_2 and train.liger need a CUDA GPU and their package; said before any work."""
    import importlib.util

    if train_cfg.attention == "flash_attention_2":
        if not torch.cuda.is_available():
            raise TunewiseError("train.attention: flash_attention_2 needs a CUDA GPU (use auto, eager or sdpa here)")
        if importlib.util.find_spec("flash_attn") is None:
            raise TunewiseError(
                "train.attention: flash_attention_2 needs the flash-attn package: pip install flash-attn"
            )
    if train_cfg.liger:
        if not torch.cuda.is_available():
            raise TunewiseError("train.liger: Liger's kernels are Triton kernels for CUDA GPUs (set it false here)")
        if importlib.util.find_spec("liger_kernel") is None:
            raise TunewiseError("train.liger: needs the liger-kernel package: pip install liger-kernel")


def resolve_attention(attention: str) -> str:
    """'auto' becomes sdpa on a GPU and eager on a CPU (measured faster there for rows of 40-340 tokens)."""
    if attention == "auto":
        return "sdpa" if torch.cuda.is_available() else "eager"
    return attention


def frozen_base_dtype(train_cfg, precision: str) -> torch.dtype:
    """The dtype a base is loaded in: with adapters (LoRA) the frozen base is held in the training's half precision
    (bf16, or fp16 on a GPU without bf16: half the memory, no per-step casts); full fine-tuning keeps fp32 master
    weights under autocast. QLoRA's 4-bit base comes from base_options instead."""
    half = {"bf16": torch.bfloat16, "fp16": torch.float16}
    return half.get(precision, torch.float32) if train_cfg.adapters else torch.float32


def load_trainable_model(model_path: str, train_cfg, precision: str):
    """The model to train: LoRA keeps its frozen base in bf16 or fp16 when training in it (half the memory, no
    per-step weight casts) and QLoRA in 4-bit NF4, while PEFT keeps the adapter weights in fp32; full fine-tuning
    keeps fp32 master weights under autocast."""
    attention = resolve_attention(train_cfg.attention)
    model = AutoModelForCausalLM.from_pretrained(
        model_path,
        dtype=frozen_base_dtype(train_cfg, precision),
        attn_implementation=attention,
        **base_options(train_cfg, precision),
        **code_options(model_path),
    )
    model.config.use_cache = False  # training needs no KV cache, and packed rows are only recognised without one
    # Answer-aligned batches keep a strided slice of the last positions; a strided 3-D input sends the output
    # layer to a batched matmul that copies its 49k-row weight per example (measured: 3x slower steps).
    model.get_output_embeddings().register_forward_pre_hook(lambda _, args: (args[0].contiguous(), *args[1:]))
    return with_adapters(model, train_cfg) if train_cfg.adapters else model


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
    callbacks, resume_from = guard_callbacks(train_cfg, out_dir, resume)
    trainer = build_trainer(model_path, renderer, train_set, val_set, train_cfg, seed, out_dir / CHECKPOINTS, callbacks)
    train_tokens = sum(len(e["input_ids"]) for e in train_set)
    return train_and_keep_best(trainer, renderer.tokenizer, out_dir, resume_from, truncated, train_tokens)


def guard_callbacks(train_cfg, out_dir: Path, resume: bool) -> tuple[list, Path | None]:
    """The callbacks every tunewise training runs with (metrics.jsonl, progress bar, early stopping), and the
    checkpoint to resume from (with ``resume``: the last complete one under out_dir/checkpoints)."""
    resume_from = last_complete_checkpoint(out_dir / CHECKPOINTS) if resume else None
    resumed_step = int(resume_from.name.rsplit("-", 1)[1]) if resume_from else None
    callbacks = [
        MetricsLog(out_dir / TRAIN_LOG, resumed_step),
        RichProgress(),
        TimeSplit(),
        AdapterInputsUncast(),
        *early_stopping(train_cfg),
        *watchers(),
    ]
    return callbacks, resume_from


def train_and_keep_best(
    trainer: Trainer, tokenizer, out_dir: Path, resume_from: Path | None, truncated: int, train_tokens: int | None
) -> TrainResult:
    """Train (or resume), keep the best checkpoint as out_dir/checkpoint, and say what happened."""
    trainer.remove_callback(PrinterCallback)  # our progress bar and metrics.jsonl replace its raw dict prints
    output = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    state = trainer.state
    seconds, args = output.metrics.get("train_runtime"), trainer.args
    # the steps taken (early stopping included), not the planned ones the Trainer's own rate assumes; a resumed run
    # timed only its own part of them, so it gives no rate
    examples = 0 if resume_from else state.global_step * args.per_device_train_batch_size
    per_second = examples * args.gradient_accumulation_steps * args.world_size / seconds if seconds else None
    rows = len(trainer.train_dataset) if trainer.train_dataset is not None else 0
    tokens_per_second = per_second * train_tokens / rows if per_second and train_tokens and rows else None
    checkpoint = save_best(trainer, tokenizer, out_dir, Path(trainer.args.output_dir))
    best_step = int(state.best_model_checkpoint.rsplit("-", 1)[1]) if state.best_model_checkpoint else None
    return TrainResult(
        checkpoint=checkpoint,
        best_step=best_step,
        best_val_loss=state.best_metric,
        steps=state.global_step,
        stopped_early=state.global_step < state.max_steps,
        truncated_rows=truncated,
        train_tokens=train_tokens,
        seconds=round(seconds, 1) if seconds is not None else None,
        examples_per_second=round(per_second, 2) if per_second else None,
        tokens_per_second=round(tokens_per_second, 1) if tokens_per_second else None,
        time_split=next((c.split() for c in trainer.callback_handler.callbacks if isinstance(c, TimeSplit)), None),
        peak_memory=peak_memory(),
    )


def peak_memory() -> dict:
    """The training process's peak memory so far (plan.peak_memory_bytes), and what measured it."""
    measure = "torch.cuda.max_memory_allocated" if torch.cuda.is_available() else "peak resident set (VmHWM)"
    return {"bytes": peak_memory_bytes(), "measure": measure}


def save_best(trainer: Trainer, tokenizer, out_dir: Path, work: Path) -> Path:
    """Write the best weights (the Trainer restored them: load_best_model_at_end) to out_dir/checkpoint, which
    appears only once complete. Under `accelerate launch` every process takes part in the save (FSDP gathers
    the sharded weights); the main process writes and swaps the folder in."""
    checkpoint, staging = out_dir / CHECKPOINT, out_dir / f".{CHECKPOINT}.staging"
    if trainer.is_world_process_zero():
        shutil.rmtree(staging, ignore_errors=True)  # left by a killed run
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(staging))
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(str(staging))
        replace_dir(staging, checkpoint)
        shutil.rmtree(work, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    return checkpoint


def build_trainer(
    model_path: str, renderer: Renderer, train_set, val_set, train_cfg, seed: int, work: Path, callbacks=(), **overrides
) -> Trainer:
    """A transformers Trainer set up the tunewise way (see `training_arguments`); ``overrides`` replace
    individual TrainingArguments."""
    precision = resolve_precision(train_cfg.precision)
    args = training_arguments(
        train_cfg,
        seed,
        work,
        precision,
        train_sampling_strategy="group_by_length"
        if train_cfg.group_by_length and train_cfg.batching != "packed"
        else "random",
        neftune_noise_alpha=train_cfg.neftune_alpha,
        prediction_loss_only=True,
        **overrides,
    )
    return Trainer(
        model=load_trainable_model(model_path, train_cfg, precision),
        args=args,
        train_dataset=train_set,
        eval_dataset=val_set,
        data_collator=_collator(train_cfg.batching, renderer.tokenizer),
        compute_loss_func=None if train_cfg.batching == "padded" else answer_loss,
        callbacks=list(callbacks),
    )


def _collator(batching: str, tokenizer):
    if batching == "packed":
        return pack_answer_batch
    if batching == "aligned":
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        return functools.partial(answer_aligned_batch, pad_id=pad_id)
    return DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100)


def check_trackers(names: list[str]) -> None:
    """Fail before training, in one line, when a tracker named in train.report_to is not installed."""
    from transformers.integrations import get_available_reporting_integrations

    installed = get_available_reporting_integrations()
    for name in names:
        if name not in installed:
            raise TunewiseError(
                f"train.report_to: '{name}' is not installed here (installed trackers: "
                f"{', '.join(installed) or 'none'}; e.g. pip install {name})"
            )


def training_arguments(train_cfg, seed: int, work: Path, precision: str, args_class=TrainingArguments, **specific):
    """The arguments every tunewise training shares (validation cadence, early-stopping bookkeeping, precision,
    tracking); ``args_class`` may be a TRL config, ``specific`` adds or replaces arguments."""
    check_trackers(train_cfg.report_to)
    check_optimizer(train_cfg.optimizer)
    shared = dict(
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
        report_to=train_cfg.report_to or "none",
        seed=seed,
        data_seed=seed,
        disable_tqdm=True,
        dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
        use_cpu=not torch.cuda.is_available(),  # transformers refuses bf16 without a GPU unless told
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        activation_checkpointing=train_cfg.gradient_checkpointing,
        use_liger_kernel=train_cfg.liger,
        **({"optim": train_cfg.optimizer} if train_cfg.optimizer else {}),
    )
    return args_class(**{**shared, **specific})


def check_optimizer(optimizer: str | None) -> None:
    """An 8-bit optimizer needs bitsandbytes: said before any work, in one line."""
    import importlib.util

    if optimizer and "8bit" in optimizer and importlib.util.find_spec("bitsandbytes") is None:
        raise TunewiseError(
            f"train.optimizer: {optimizer} needs bitsandbytes, which is not installed (pip install bitsandbytes; "
            "it runs on CUDA GPUs and, in recent versions, on some CPUs)"
        )
