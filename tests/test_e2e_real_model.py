"""End to end with the real SmolLM2-135M-Instruct and real data (slow: run by `make test`, not by bare pytest)."""

import json
import time

import pytest

from tests.conftest import REPO, SHARED, require
from tunewise.cli import main
from tunewise.config import load_config
from tunewise.pipeline import run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory):
    """Prepare the real model once into the user's cache (as `tunewise models prepare` would)."""
    from tunewise.models.registry import prepare_model

    return prepare_model("smollm2-135m-instruct")


def test_prepared_model_reloads_fast_and_trains(smollm2):
    import torch
    from transformers import AutoModelForCausalLM

    start = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(smollm2, dtype=torch.float32)
    assert time.perf_counter() - start < 10  # the dequantised safetensors cache, not a GGUF re-conversion
    assert not getattr(model, "is_quantized", False)
    assert getattr(model.config, "quantization_config", None) is None
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(134.5e6, rel=0.01)


def test_lora_on_banking77_beats_the_base_model(smollm2, tmp_path):
    """Demo data, a short budget: the tuned model must already beat the base model on held-out rows."""
    demo = REPO / "tunewise" / "resources" / "demo.yaml"
    cfg = load_config(demo, ["train.max_steps=30", "train.eval_steps=15", "eval.max_rows=120"])
    summary = run(cfg, tmp_path / "run")
    assert summary["tuned"]["n"] == 120
    assert summary["tuned"]["accuracy"] > summary["base"]["accuracy"]
    rows = [json.loads(line) for line in (tmp_path / "run" / "train" / "metrics.jsonl").read_text().splitlines()]
    validation = [r["loss"] for r in rows if r["split"] == "validation"]
    assert validation[-1] < validation[0] or summary["train"]["best_val_loss"] < validation[0]


def test_dialogsum_generation_config_runs_and_reports_rouge(smollm2, tmp_path, capsys):
    require((SHARED / "dialogsum").is_dir(), "../shared/datasets/dialogsum", "clone the project beside shared/")
    config = REPO / "configs" / "lora" / "dialogsum.yaml"
    code = main(
        [
            "run",
            str(config),
            "data.max_rows=60",
            "train.max_steps=4",
            "train.eval_steps=2",
            "eval.max_rows=4",
            "eval.max_new_tokens=24",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    assert code == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["task"] == "completion"
    assert 0.0 < summary["tuned"]["rougeL"] <= 1.0
    assert summary["tuned"]["references_per_row"] == 3  # the official test file's three human summaries
    assert "rougeL" in capsys.readouterr().out


def test_select_measures_smollm2_and_gemma_on_banking77(smollm2, tmp_path, monkeypatch):
    """Both real candidates through every measurement (fresh processes), on the demo's Banking77 subset."""
    import tunewise.select as select

    monkeypatch.setattr(select, "_cache_root", lambda cfg: tmp_path / "select-cache")  # measure, don't reuse
    demo = REPO / "tunewise" / "resources" / "demo.yaml"
    overrides = [
        "select.candidates=[smollm2-135m-instruct, gemma3-270m]",
        "select.probe_steps=6",
        "select.probe_per_class=4",  # 4 of each of the demo's 12 intents: 48 examples, the 6 steps' worth
        "select.validation_rows=40",
        "select.prior_rows=20",
        "select.few_shot=2",
        "select.latency_rows=4",
    ]
    selection = select.select_base_model(load_config(demo, overrides), tmp_path / "select")
    found = {c["name"]: c for c in selection["candidates"]}
    small, large = found["smollm2-135m-instruct"], found["gemma3-270m"]
    assert small["parameters"] == pytest.approx(134.5e6, rel=0.01) and large["parameters"] == pytest.approx(
        268e6, rel=0.01
    )
    assert large["disk_bytes"] > 1.9 * small["disk_bytes"]
    assert large["inference_peak_bytes"] > small["inference_peak_bytes"]  # twice the weights to hold
    for candidate in (small, large):
        assert candidate["steps"] == 6 and candidate["examples"] == 48 and len(candidate["probe"]["per_row"]) == 40
        assert 0.5 < candidate["bits_per_byte"] < 4 and candidate["train_tokens_per_second"] > 0
    assert selection["pick"] in found and selection["reasons"]
    assert (tmp_path / "select" / "selection.png").stat().st_size > 10_000
