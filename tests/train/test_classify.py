"""The classification head (train.objective: classify) on the tiny model: the run, the checkpoint, the
predictions with their top classes, calibration, and the guards it shares with the generative path."""

import json

import pytest

from tests.conftest import LEARNING_SPLIT, classification_rows, intent_rows, write_jsonl
from tests.test_pipeline import make_config
from tunewise.cli import main
from tunewise.config import load_config
from tunewise.pipeline import evaluate_run, run
from tunewise.rundir import RunDir


@pytest.fixture(scope="module", params=["fp32", "bf16"])
def head_run(request, tiny_model_dir, tmp_path_factory):
    """The head trained in fp32 and with the bf16 training path forced (autocast; emulated where the CPU has no
    native bf16), so that every machine checks both."""
    tmp = tmp_path_factory.mktemp("head")
    write_jsonl(tmp / "intents.jsonl", intent_rows())
    config = make_config(tmp, tiny_model_dir, "intents.jsonl", "  batch_size: 8\n" + LEARNING_SPLIT)
    # 0.005, not 0.02: at 0.02 this model's training is unstable in fp32 too (validation loss rising after step 12,
    # test accuracy 0.43-0.72 over seeds), and bf16's rounding then decides which way it goes (docs/precision.md)
    overrides = ["train.learning_rate=0.005", "train.max_steps=36", "train.eval_steps=12"]
    cfg = load_config(config, [*overrides, f"train.precision={request.param}"])
    assert cfg.train.objective_for("classification") == "classify"  # the default for classification data
    return run(cfg, tmp / "run"), RunDir(tmp / "run"), cfg


def test_a_head_is_trained_and_kept_with_its_class_order(head_run):
    summary, run_dir, _ = head_run
    labels = json.loads(run_dir.head_labels.read_text())
    assert labels == sorted({r["label"] for r in intent_rows()})
    saved = json.loads((run_dir.checkpoint / "adapter_config.json").read_text())
    assert saved["task_type"] == "SEQ_CLS" and any("score" in m for m in saved["modules_to_save"])
    log = [json.loads(line) for line in run_dir.train_log.read_text().splitlines()]
    assert [r["step"] for r in log if r["split"] == "validation"] == [12, 24, 36]
    assert summary["train"]["best_step"] in (12, 24, 36) and summary["train"]["steps"] == 36
    assert summary["train"]["stopped"].startswith("ran the whole budget (train.max_steps=36, 36 steps)")
    assert summary["train"]["seconds"] > 0 and summary["train"]["examples_per_second"] > 0


def test_the_summary_says_when_and_why_early_stopping_ended_training():
    from tunewise.config import TrainConfig
    from tunewise.pipeline import stop_reason
    from tunewise.train.sft import TrainResult

    result = TrainResult("c", best_step=40, best_val_loss=0.3125, steps=100, stopped_early=True, truncated_rows=0,
                         train_tokens=None)  # fmt: skip
    said = stop_reason(TrainConfig(eval_steps=20, patience=3), result)
    assert said == (
        "early stopping at step 100: validation loss had not improved on 0.3125 (step 40) for 3 evaluations, "
        "20 steps apart; the step-40 checkpoint is kept"
    )


def test_the_head_learns_the_fixture_intents_and_reports_top_classes_and_calibration(head_run):
    summary, run_dir, run_cfg = head_run
    predictions = [json.loads(line) for line in run_dir.predictions().read_text().splitlines()]
    for row in predictions:
        top = row["tuned_top"]
        assert row["tuned"] == top[0][0] and len(top) == 3
        assert top[0][1] >= top[1][1] >= top[2][1] and 0 < sum(p for _, p in top) <= 1.0001
    right = sum(row["tuned"] == row["reference"] for row in predictions)
    assert summary["tuned"]["accuracy"] == pytest.approx(right / len(predictions))
    assert summary["tuned"]["n"] >= 50 and summary["tuned"]["accuracy"] >= 0.9  # 3 intents: chance is 0.33
    assert summary["precision"]["train"] == run_cfg.train.precision
    calibration = json.loads(run_dir.metrics().read_text())["calibration"]
    assert 0 <= calibration["ece"] <= 1 and sum(b["n"] for b in calibration["bins"]) == len(predictions)
    assert "forgetting" not in json.loads(run_dir.metrics().read_text())  # a head writes no text to forget


def test_eval_again_loads_the_head_and_gives_the_same_answers(head_run):
    summary, run_dir, _ = head_run
    first = run_dir.predictions().read_text()
    again = evaluate_run(run_dir.root, "test")
    assert again["tuned"] == summary["tuned"] and run_dir.predictions().read_text() == first


def test_classify_on_generation_data_is_a_config_error(tiny_model_dir, tmp_path, capsys):
    write_jsonl(tmp_path / "gen.jsonl", [{"prompt": f"q{i}", "completion": f"a{i}"} for i in range(40)])
    config = make_config(tmp_path, tiny_model_dir, "gen.jsonl")
    assert main(["run", str(config), "train.objective=classify", "--out", str(tmp_path / "run")]) == 2
    assert "train.objective: classify needs classification data (this is completion data)" in capsys.readouterr().err


def test_the_generative_objective_still_answers_with_label_text(tiny_model_dir, tmp_path):
    write_jsonl(tmp_path / "intents.jsonl", classification_rows())
    cfg = load_config(make_config(tmp_path, tiny_model_dir, "intents.jsonl"), ["train.objective=generate"])
    summary = run(cfg, tmp_path / "run")
    layout = RunDir(tmp_path / "run")
    saved = json.loads((layout.checkpoint / "adapter_config.json").read_text())
    assert saved["task_type"] == "CAUSAL_LM" and not layout.head_labels.exists()
    metrics = json.loads(layout.metrics().read_text())
    assert "forgetting" in metrics and "calibration" not in metrics
    predictions = [json.loads(line) for line in layout.predictions().read_text().splitlines()]
    assert "tuned_top" not in predictions[0] and summary["tuned"]["n"] == len(predictions)
