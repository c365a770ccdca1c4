"""The memory plan: its activation count is what autograd keeps, its parts move the way each memory option moves
them, `tunewise plan` prints it, and a run records it beside the measured peak and refuses a training that cannot
fit. (Against measured peaks of SmolLM2: benchmarks/memory_plan.py.)"""

from __future__ import annotations

import json

import pytest
import torch

from tests.conftest import classification_rows, write_jsonl
from tests.test_pipeline import make_config
from tunewise.cli import main
from tunewise.config import load_config
from tunewise.errors import TunewiseError
from tunewise.pipeline import run
from tunewise.train import plan as memory


def _saved_bytes(model, batch: int, tokens: int) -> int:
    """Bytes of the distinct tensors autograd keeps for one decoder layer's backward pass, as inside a model whose
    earlier layers train (its input needs a gradient); the parameters and the rotary tables left out."""
    hidden = torch.randn(batch, tokens, model.config.hidden_size, requires_grad=True)
    cos, sin = model.model.rotary_emb(hidden, torch.arange(tokens)[None])
    outside = {t.untyped_storage().data_ptr() for t in [*model.parameters(), cos, sin]}
    seen: dict[int, int] = {}

    def pack(tensor):
        pointer = tensor.untyped_storage().data_ptr()
        if pointer not in outside:
            seen[pointer] = tensor.untyped_storage().nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        model.model.layers[0](hidden, position_embeddings=(cos, sin), attention_mask=None)
    return sum(seen.values())


@pytest.mark.parametrize("adapters", [False, True])
def test_a_layers_activation_count_is_what_autograd_saves(tiny_model_dir, adapters):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32, attn_implementation="eager")
    if adapters:
        model = get_peft_model(model, LoraConfig(r=4, target_modules="all-linear")).base_model.model
    model.train()
    shape = memory.model_shape(str(tiny_model_dir), "generate")
    for batch, tokens in ((3, 40), (2, 97)):
        counted = memory._layer_activations(shape, tokens, adapters, 4, "eager")
        assert _saved_bytes(model, batch, tokens) == batch * tokens * counted * 4


def test_each_option_moves_its_own_part(tiny_model_dir):
    shape = memory.model_shape(str(tiny_model_dir), "generate")
    common = {"shape": shape, "precision": "fp32", "batch": 4, "tokens": 64, "logit_tokens": 8, "lora_rank": 2}
    full = memory.estimate(method="full", checkpointing=False, **common)
    lora = memory.estimate(method="lora", checkpointing=False, **common)
    qlora = memory.estimate(method="qlora", checkpointing=False, **common)
    assert (
        full.parts["optimizer state"] == 8 * shape.parameters
        and lora.parts["optimizer state"] < full.parts["optimizer state"]
    )
    assert qlora.parts["weights"] < lora.parts["weights"] and lora.parts["gradients"] < full.parts["gradients"]
    assert lora.parts["weights"] == 4 * shape.parameters + lora.parts["gradients"]  # the base, and the adapters
    checkpointed = memory.estimate(method="lora", checkpointing=True, **common)
    assert checkpointed.parts["activations"] < lora.parts["activations"]
    eight_bit = memory.estimate(method="full", checkpointing=False, optimizer="adamw_8bit", **common)
    assert eight_bit.parts["optimizer state"] == full.parts["optimizer state"] // 4
    halved = memory.estimate(method="lora", checkpointing=False, **{**common, "precision": "bf16"})
    assert halved.parts["activations"] == lora.parts["activations"] // 2
    head = memory.estimate(method="lora", checkpointing=False, labels=3, **common)
    assert "logits" not in head.parts and lora.parts["logits"] == 4 * 8 * shape.vocab * 12
    dpo = memory.estimate(method="full", checkpointing=False, preference=True, **common)
    assert (
        dpo.parts["reference model"] == 4 * shape.parameters
        and dpo.parts["activations"] == 2 * full.parts["activations"]
    )


def _config(tmp_path, tiny_model_dir):
    write_jsonl(tmp_path / "intents.jsonl", classification_rows())
    return make_config(tmp_path, tiny_model_dir, "intents.jsonl")


def test_plan_prints_every_method_and_writes_json(tiny_model_dir, tmp_path, capsys):
    config = _config(tmp_path, tiny_model_dir)
    assert main(["plan", str(config), "train.batch_size=4"]) == 0
    shown = capsys.readouterr().out
    assert "memory plan" in shown and "activations" in shown and "qlora" in shown and "lora (config)" in shown
    assert main(["plan", str(config), "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["plan"]["method"] == "lora" and len(found["options"]) == 6 and found["plan"]["fits"]
    assert found["plan"]["total"] == sum(found["plan"]["parts"].values())


def test_a_run_records_its_plan_beside_its_peak_and_refuses_what_cannot_fit(tiny_model_dir, tmp_path, monkeypatch):
    config = _config(tmp_path, tiny_model_dir)
    summary = run(load_config(config, ["train.max_steps=2", "train.eval_steps=2"]), tmp_path / "run")
    planned, peak = summary["train"]["memory_plan"], summary["train"]["peak_memory"]
    assert planned["method"] == "lora" and planned["fits"] and peak["bytes"] > planned["parts"]["weights"]

    small = memory.device_memory()[1]
    found = summary["train"]["memory_plan"]["total"]
    monkeypatch.setattr(memory, "device_memory", lambda: ("cpu", found - 1))  # a CPU with less memory
    with pytest.raises(TunewiseError, match=r"memory plan: train.method=lora needs about .* cpu has .* GiB; .* would"):
        run(load_config(config, ["train.max_steps=2", "train.eval_steps=2"]), tmp_path / "refused")
    assert not (tmp_path / "refused").exists() and small > found
    summary = run(
        load_config(config, ["train.max_steps=2", "train.eval_steps=2", "train.check_memory=false"]), tmp_path / "tried"
    )
    assert not summary["train"]["memory_plan"]["fits"]


def test_auto_batch_keeps_the_effective_batch_and_takes_the_largest_micro_batch_that_fits(tiny_model_dir):
    shape = memory.model_shape(str(tiny_model_dir), "generate")
    common = {"shape": shape, "precision": "fp32", "batch": 8, "tokens": 64, "logit_tokens": 8, "lora_rank": 2}

    def peak(batch):
        return memory.estimate(method="lora", checkpointing=False, **{**common, "batch": batch}).total

    def chosen(fixed, device):
        found = memory.auto_batch(common, "lora", False, fixed, device)
        assert found["batch_size"] * found["gradient_accumulation"] == found["effective_batch"] == fixed[0] * fixed[1]
        return found["batch_size"], found["gradient_accumulation"]

    assert chosen((8, 4), 10**15) == (32, 1)  # room for all of it: no accumulation
    assert chosen((8, 3), 10**15) == (8, 3)  # 16 does not divide 24
    # a device where 16 rows leave less than a quarter free, and 8 more
    device = int(peak(16) / (1 - memory.AUTO_BATCH_ROOM)) - 1
    assert peak(8) <= (1 - memory.AUTO_BATCH_ROOM) * device
    assert chosen((8, 4), device) == (8, 4)
    assert chosen((8, 4), 1) == (1, 32)  # nothing fits: one row a step (the memory check then refuses the run)


def test_a_run_with_batch_size_auto_trains_the_planned_batch_and_says_so(tiny_model_dir, tmp_path, monkeypatch):
    config = _config(tmp_path, tiny_model_dir)
    settings = ["train.batch_size=auto", "train.gradient_accumulation=2", "train.max_steps=2", "train.eval_steps=2"]
    summary = run(load_config(config, settings), tmp_path / "run")
    ran = load_config(tmp_path / "run" / "config.yaml").train
    assert (ran.batch_size, ran.gradient_accumulation) == (16, 1)  # a CPU's memory holds 16 of these rows
    assert summary["train"]["memory_plan"]["batch"] == 16 and summary["train"]["steps"] == 2

    # a device on which 16 rows would leave less than a quarter free: 8 rows a step, 2 accumulated
    device = int(summary["train"]["memory_plan"]["total"] / (1 - memory.AUTO_BATCH_ROOM)) - 1
    monkeypatch.setattr(memory, "device_memory", lambda: ("cpu", device))
    run(load_config(config, settings), tmp_path / "smaller")
    ran = load_config(tmp_path / "smaller" / "config.yaml").train
    assert (ran.batch_size, ran.gradient_accumulation) == (8, 2)


def test_plan_says_what_batch_size_auto_chooses(tiny_model_dir, tmp_path, capsys):
    config = _config(tmp_path, tiny_model_dir)
    assert main(["plan", str(config), "train.batch_size=auto", "train.gradient_accumulation=4", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["auto_batch"]["batch_size"] == found["plan"]["batch"] == 32
    assert found["auto_batch"]["gradient_accumulation"] == 1 and found["auto_batch"]["effective_batch"] == 32
    assert main(["plan", str(config), "train.batch_size=auto"]) == 0
    assert "train.batch_size: auto → 8 per step x 1 accumulated" in capsys.readouterr().out
