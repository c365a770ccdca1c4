"""Memory options as the libraries' own switches: activation (gradient) checkpointing recomputes the forward pass
and changes no loss; the optimizer is the Trainer's `optim`; an 8-bit one without bitsandbytes is a clear error."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch
from transformers import TrainerCallback

from tests.conftest import classification_rows, write_jsonl
from tests.test_pipeline import make_config
from tunewise.config import load_config
from tunewise.data.split import write_split
from tunewise.errors import TunewiseError
from tunewise.models.loading import model_and_renderer
from tunewise.train.guards import watching
from tunewise.train.stage import train_stage


class Seen(TrainerCallback):
    """What the Trainer trained with: the model's checkpointing flag and the optimizer's class."""

    def on_train_begin(self, args, state, control, model=None, optimizer=None, **kwargs):
        self.checkpointing = bool(getattr(model, "is_gradient_checkpointing", False))
        self.optimizer = type(getattr(optimizer, "optimizer", optimizer)).__name__


def train(tmp_path, tiny_model_dir, name, overrides, objective="generate"):
    write_jsonl(tmp_path / "intents.jsonl", classification_rows())
    config = make_config(tmp_path, tiny_model_dir, "intents.jsonl")
    base = ["train.max_steps=4", "train.precision=fp32", "train.eval_steps=4", f"train.objective={objective}"]
    cfg = load_config(config, base + overrides)
    model_path, renderer = model_and_renderer(cfg)
    splits, task = write_split(cfg, tmp_path / name / "split")
    seen = Seen()
    with watching(seen):
        train_stage(cfg, model_path, renderer, splits, task, tmp_path / name / "train")
    rows = [json.loads(line) for line in (tmp_path / name / "train" / "metrics.jsonl").read_text().splitlines()]
    return [row["loss"] for row in rows if row["split"] == "train"], seen


@pytest.mark.parametrize("objective", ["generate", "classify"])
def test_gradient_checkpointing_is_on_and_changes_no_loss(tiny_model_dir, tmp_path, objective):
    plain, seen_plain = train(tmp_path, tiny_model_dir, "plain", [], objective)
    saved, seen_saved = train(tmp_path, tiny_model_dir, "ckpt", ["train.gradient_checkpointing=true"], objective)
    assert not seen_plain.checkpointing and seen_saved.checkpointing
    assert len(plain) == len(saved) == 4
    assert saved == pytest.approx(plain, rel=1e-4, abs=1e-5)  # the same forward pass, recomputed


def test_the_optimizer_is_the_trainers_own_and_an_8_bit_one_needs_bitsandbytes(tiny_model_dir, tmp_path):
    adamw, seen_adamw = train(tmp_path, tiny_model_dir, "adamw", ["train.optimizer=adamw_torch"])
    adafactor, seen_adafactor = train(tmp_path, tiny_model_dir, "adafactor", ["train.optimizer=adafactor"])
    assert seen_adamw.optimizer == "AdamW" and seen_adafactor.optimizer == "Adafactor"
    assert adamw[0] == pytest.approx(adafactor[0]) and adamw[1:] != pytest.approx(adafactor[1:])
    if importlib.util.find_spec("bitsandbytes") is None:
        with pytest.raises(TunewiseError, match="train.optimizer: adamw_8bit needs bitsandbytes"):
            train(tmp_path, tiny_model_dir, "8bit", ["train.optimizer=adamw_8bit"])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.attention=flash_attention_2", "^train.attention: flash_attention_2 needs a CUDA GPU"),
        ("train.liger=true", "^train.liger: Liger's kernels are Triton kernels for CUDA GPUs"),
    ],
)
def test_a_gpu_kernel_without_a_gpu_is_a_one_line_error_before_any_work(tiny_model_dir, tmp_path, override, message):
    from tunewise.pipeline import run

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: tests/gpu covers it")
    write_jsonl(tmp_path / "intents.jsonl", classification_rows())
    cfg = load_config(make_config(tmp_path, tiny_model_dir, "intents.jsonl"), [override])
    with pytest.raises(TunewiseError, match=message):
        run(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("precision", "dtype"), [("bf16", torch.bfloat16), ("fp16", torch.float16)])
@pytest.mark.parametrize("objective", ["generate", "classify"])
def test_a_lora_base_is_held_in_the_trainings_half_precision_and_its_adapters_in_fp32(
    tiny_model_dir, tmp_path, precision, dtype, objective
):
    from tunewise.train.classify import load_classifier_for_training
    from tunewise.train.sft import load_trainable_model

    cfg = load_config(make_config(tmp_path, tiny_model_dir, "intents.jsonl"), ["train.method=lora"])
    model_path, renderer = model_and_renderer(cfg)
    if objective == "generate":
        model = load_trainable_model(model_path, cfg.train, precision)
    else:
        model = load_classifier_for_training(model_path, renderer.tokenizer, ["a", "b"], cfg.train, precision)
    frozen = {p.dtype for p in model.parameters() if not p.requires_grad}
    trained = {p.dtype for p in model.parameters() if p.requires_grad}
    assert frozen == {dtype} and trained == {torch.float32}  # fp16 too: the scaler steps fp32 weights only
    full = load_config(make_config(tmp_path, tiny_model_dir, "intents.jsonl"), ["train.method=full"])
    assert {p.dtype for p in load_trainable_model(model_path, full.train, precision).parameters()} == {torch.float32}
