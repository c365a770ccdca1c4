"""Fine-tuning with a classification head (transformers' AutoModelForSequenceClassification): the last hidden
state of the last token goes through a linear layer to one logit per class, and the loss is one cross-entropy
over the classes per example. With LoRA (PEFT's SEQ_CLS task) the head is trained in full beside the adapters.
The same guards as every tunewise training: validation loss every `eval_steps`, early stopping, the best
checkpoint kept, metrics.jsonl, resume.

A registry encoder (minilm-l6) is trained in full with a mean-pooling head (`tunewise.models.encoder`), the head
started from a logistic regression on the frozen embeddings: linear probing, then fine-tuning."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from transformers import DataCollatorWithPadding, Trainer, set_seed

from tunewise._io import atomic_write_json
from tunewise._progress import console
from tunewise.data.embed import embed_cached
from tunewise.models.encoder import encoder_classifier, set_head
from tunewise.models.loading import classifier_from_base
from tunewise.models.precision import head_in_fp32, resolve_precision
from tunewise.models.prompts import classifier_ids
from tunewise.rundir import CHECKPOINTS, HEAD_LABELS
from tunewise.train.lora import base_options, with_adapters
from tunewise.train.sft import (
    TrainResult,
    frozen_base_dtype,
    guard_callbacks,
    resolve_attention,
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
    encoder: bool = False,
    cache_dir: Path | None = None,
) -> TrainResult:
    """Train a head (and LoRA adapters, or every weight) on (text, label) rows; write out_dir/checkpoint,
    out_dir/labels.json and out_dir/metrics.jsonl. ``encoder``: ``model_path`` is a registry encoder, trained in
    full (``train_cfg`` is then ``TrainConfig.for_encoder()``); ``cache_dir`` keeps its frozen embeddings."""
    set_seed(seed)
    index = {label: i for i, label in enumerate(labels)}
    train_set, truncated = encode_rows(tokenizer, train_rows, index, max_length)
    validation_set, _ = encode_rows(tokenizer, validation_rows, index, max_length)
    atomic_write_json(out_dir / HEAD_LABELS, labels)
    callbacks, resume_from = guard_callbacks(train_cfg, out_dir, resume)
    precision = resolve_precision(train_cfg.precision)
    if encoder:
        model = encoder_for_training(model_path, train_rows, labels, train_cfg, cache_dir)
    else:
        model = load_classifier_for_training(model_path, tokenizer, labels, train_cfg, precision)
    trainer = Trainer(
        model=model,
        args=training_arguments(
            train_cfg,
            seed,
            out_dir / CHECKPOINTS,
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
    """The base model with a new head of len(labels) outputs. LoRA keeps the frozen base in the training's half
    precision, as the generative path does (`frozen_base_dtype`); the head and the adapters are trainable and kept
    in fp32, and the head computes the logits in fp32 under autocast."""
    model = classifier_from_base(
        model_path,
        labels,
        frozen_base_dtype(train_cfg, precision),
        attn_implementation=resolve_attention(train_cfg.attention),
        **base_options(train_cfg, precision),
    )
    model.config.pad_token_id = tokenizer.pad_token_id  # the head pools the last token that is not padding
    model.config.use_cache = False
    if not train_cfg.adapters:
        return head_in_fp32(model)
    model = with_adapters(model, train_cfg, task_type="SEQ_CLS")
    for parameter in model.parameters():
        if parameter.requires_grad:
            parameter.data = parameter.data.float()
    return head_in_fp32(model)


PROBE_C = 10.0  # the logistic regression's inverse regularisation: best of {0.1, 1, 10, 100} on Banking77's validation


def encoder_for_training(model_path: str, rows: list[tuple[str, str]], labels: list[str], train_cfg, cache_dir):
    """The encoder with a new mean-pooling head, started from a linear probe when the recipe says so."""
    from accelerate import PartialState

    model = encoder_classifier(model_path, labels)
    if train_cfg.encoder.linear_probe_start and len({label for _, label in rows}) > 1:
        # under `accelerate launch` the main process embeds first; the others then read the embedding cache
        with (
            PartialState(cpu=not torch.cuda.is_available()).main_process_first(),
            console.status("encoder: fitting the head on the frozen embeddings (linear probe)"),
        ):
            weight, bias = linear_probe([text for text, _ in rows], [label for _, label in rows], labels, cache_dir)
        set_head(model, weight, bias)
    return head_in_fp32(model)


def linear_probe(texts: list[str], row_labels: list[str], labels: list[str], cache_dir) -> tuple:
    """A multinomial logistic regression on the frozen (unit-length, mean-pooled) embeddings, as a head's weight
    and bias in ``labels`` order. A class with no training row gets a zero weight and a bias below every other."""
    from sklearn.linear_model import LogisticRegression

    vectors, _ = embed_cached(texts, cache_dir)
    fitted = LogisticRegression(C=PROBE_C, max_iter=2000).fit(vectors, row_labels)
    coef, intercept = fitted.coef_, fitted.intercept_
    if len(fitted.classes_) == 2:  # scikit-learn keeps one weight row for two classes: p = sigmoid(w.x + b)
        coef, intercept = np.vstack([-coef / 2, coef / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
    found = {label: i for i, label in enumerate(fitted.classes_.tolist())}
    weight = np.zeros((len(labels), vectors.shape[1]), dtype=np.float32)
    bias = np.full(len(labels), float(intercept.min()) - 10.0, dtype=np.float32)
    for i, label in enumerate(labels):
        if label in found:
            weight[i], bias[i] = coef[found[label]], intercept[found[label]]
    return weight, bias
