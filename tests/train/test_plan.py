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
