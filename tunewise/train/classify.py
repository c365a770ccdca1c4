"""Fine-tuning with a classification head (transformers' AutoModelForSequenceClassification): the last hidden
state of the last token goes through a linear layer to one logit per class, and the loss is one cross-entropy
over the classes per example. With LoRA (PEFT's SEQ_CLS task) the head is trained in full beside the adapters.
The same guards as every tunewise training: validation loss every `eval_steps`, early stopping, the best
checkpoint kept, metrics.jsonl, resume."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import DataCollatorWithPadding, Trainer, set_seed

from tunewise._io import atomic_write_json
from tunewise.models.loading import classifier_from_base
from tunewise.models.prompts import classifier_ids
from tunewise.rundir import HEAD_LABELS
from tunewise.train.lora import apply_lora
from tunewise.train.sft import (
    TrainResult,
    guard_callbacks,
    resolve_attention,
    resolve_precision,
    train_and_keep_best,
    training_arguments,
)


def classify_tune(
    model_path: str,
    tokenizer,
    train_rows: list[tuple[str, str]],
    validation_rows: list[tuple[str, str]],
    labels: list[str],
    train_cfg,
    max_length: int,
    seed: int,
    out_dir: Path,
    resume: bool = False,
) -> TrainResult:
    """Train a head (and LoRA adapters, or every weight) on (text, label) rows; write out_dir/checkpoint,
    out_dir/labels.json and out_dir/metrics.jsonl."""
    set_seed(seed)
    index = {label: i for i, label in enumerate(labels)}
    train_set, truncated = encode_rows(tokenizer, train_rows, index, max_length)
    validation_set, _ = encode_rows(tokenizer, validation_rows, index, max_length)
    atomic_write_json(out_dir / HEAD_LABELS, labels)
    callbacks, resume_from = guard_callbacks(train_cfg, out_dir, resume)
    precision = resolve_precision(train_cfg.precision)
    trainer = Trainer(
        model=load_classifier_for_training(model_path, tokenizer, labels, train_cfg, precision),
        args=training_arguments(
            train_cfg,
            seed,
            out_dir / "checkpoints",
            precision,
            train_sampling_strategy="group_by_length" if train_cfg.group_by_length else "random",
            prediction_loss_only=True,
        ),
        train_dataset=train_set,
        eval_dataset=validation_set,
        data_collator=DataCollatorWithPadding(tokenizer),
        callbacks=callbacks,
    )
    tokens = sum(len(e["input_ids"]) for e in train_set)
    return train_and_keep_best(trainer, tokenizer, out_dir, resume_from, truncated, tokens)


def encode_rows(tokenizer, rows: list[tuple[str, str]], index: dict[str, int], max_length: int):
    """Token ids and the class number of each (text, label); a label outside ``index`` is a bug upstream."""
    examples, truncated = [], 0
    for text, label in rows:
        ids, cut = classifier_ids(tokenizer, text, max_length)
        examples.append({"input_ids": ids, "labels": index[label]})
        truncated += cut
    return examples, truncated


def load_classifier_for_training(model_path: str, tokenizer, labels: list[str], train_cfg, precision: str):
    """The base model with a new head of len(labels) outputs. LoRA keeps the frozen base in bf16 when training in
    bf16, as the generative path does; the head and the adapters are trainable and kept in fp32."""
    frozen_bf16 = precision == "bf16" and train_cfg.method == "lora"
    model = classifier_from_base(
        model_path,
        labels,
        torch.bfloat16 if frozen_bf16 else torch.float32,
        attn_implementation=resolve_attention(train_cfg.attention),
    )
    model.config.pad_token_id = tokenizer.pad_token_id  # the head pools the last token that is not padding
    model.config.use_cache = False
    if train_cfg.method != "lora":
        return model
    model = apply_lora(model, train_cfg.lora, task_type="SEQ_CLS")
    for parameter in model.parameters():
        if parameter.requires_grad:
            parameter.data = parameter.data.float()
    return model
