"""The three batchings through the real Trainer: the same batches give the same training losses."""

import json

import pytest
from transformers import AutoTokenizer

from tests.conftest import TEXTS
from tunewise.config import TrainConfig
from tunewise.models.prompts import make_renderer
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
        precision="fp32",
        early_stopping=False,
        **settings,
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
