"""The three batchings through the real Trainer: the same batches give the same training losses; mixed precision
lets autocast cast the adapters' inputs."""

import json

import pytest
import torch
from transformers import AutoTokenizer, TrainerCallback

from tests.conftest import TEXTS
from tunewise.config import TrainConfig
from tunewise.models.prompts import make_renderer
from tunewise.train.guards import watching
from tunewise.train.sft import build_trainer, fine_tune


def conversations():
    return [([{"role": "user", "content": t}], label) for label, texts in TEXTS.items() for t in texts]


def train_losses(tiny_model_dir, tmp_path, **settings) -> list[float]:
    renderer = make_renderer(AutoTokenizer.from_pretrained(tiny_model_dir), system_prompt="Route the query.")
    cfg = TrainConfig(
        max_steps=4,
        eval_steps=2,
        logging_steps=1,
        batch_size=4,
        gradient_accumulation=2,
        group_by_length=False,
        early_stopping=False,
        **{"precision": "fp32", **settings},
    )
    data = conversations()
    fine_tune(str(tiny_model_dir), renderer, data, data[:6], cfg, 64, 3, tmp_path)
    log = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    return [row["loss"] for row in log if row["split"] == "train"]


def test_aligned_packed_and_padded_batches_train_alike(tiny_model_dir, tmp_path):
    losses = {b: train_losses(tiny_model_dir, tmp_path / b, batching=b) for b in ("aligned", "packed", "padded")}
    assert len(losses["padded"]) == 4
    assert losses["aligned"] == pytest.approx(losses["padded"], rel=1e-4)
    assert losses["packed"] == pytest.approx(losses["padded"], rel=1e-4)


def test_neftune_noise_reaches_the_trainer(tiny_model_dir, tmp_path):
    renderer = make_renderer(AutoTokenizer.from_pretrained(tiny_model_dir))
    examples = [{"input_ids": [5, 6, 7], "labels": [-100, 6, 7]}]
    cfg = TrainConfig(neftune_alpha=5.0, precision="fp32")
    trainer = build_trainer(str(tiny_model_dir), renderer, examples, examples, cfg, 0, tmp_path)
    assert trainer.args.neftune_noise_alpha == 5.0
    noisy = train_losses(tiny_model_dir, tmp_path / "noisy", neftune_alpha=5.0)
    plain = train_losses(tiny_model_dir, tmp_path / "plain")
    assert noisy[0] != pytest.approx(plain[0], rel=1e-6)  # the noise changes what the model sees


class AdapterCasting(TrainerCallback):
    """PEFT's input casting and the trainable weights' dtypes at each step, and the casting after training."""

    def __init__(self):
        self.during, self.trainable, self.model = set(), set(), None

    def on_step_end(self, args, state, control, model=None, **kwargs):
        self.model = model
        self.during |= {m.cast_input_dtype_enabled for m in model.modules() if hasattr(m, "cast_input_dtype_enabled")}
        self.trainable |= {p.dtype for p in model.parameters() if p.requires_grad}

    def after(self) -> set[bool]:
        return {m.cast_input_dtype_enabled for m in self.model.modules() if hasattr(m, "cast_input_dtype_enabled")}


@pytest.mark.parametrize(("precision", "casting"), [("fp32", {True}), ("bf16", {False})])
def test_mixed_precision_leaves_the_adapters_inputs_to_autocast_and_keeps_fp32_weights(
    tiny_model_dir, tmp_path, precision, casting
):
    seen = AdapterCasting()
    with watching(seen):
        losses = train_losses(tiny_model_dir, tmp_path, precision=precision)
    assert len(losses) == 4 and all(loss == loss for loss in losses)  # it trained, no NaN
    assert seen.during == casting  # bf16: no copy of each adapted layer's input to fp32 and back
    assert seen.trainable == {torch.float32}  # fp32 master weights either way
    assert seen.after() == {True}  # outside training, PEFT casts as usual
