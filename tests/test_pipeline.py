"""`tunewise run` end to end on the tiny random model: the run directory, reproducibility, both task kinds."""

import json
from pathlib import Path

import pytest

from tests.conftest import classification_rows, write_jsonl
from tunewise.config import load_config
from tunewise.pipeline import evaluate_run, run
from tunewise.report import write_report
from tunewise.rundir import RunDir

RUN_FILES = {
    "config.yaml",
    "split/rejects.jsonl",
    "summary.json",
    "test_access.jsonl",
    "audit/findings.json",
    "audit/audit.html",
    "report/report.html",
    "report/report.md",
    "report/training_curves.png",
    "report/metrics.png",
    "report/slices.png",
    "report/confusion.png",
    "report/reliability.png",
    "split/train.jsonl",
    "split/validation.jsonl",
    "split/test.jsonl",
    "split/manifest.json",
    "train/metrics.jsonl",
    "train/result.json",
    "train/labels.json",
    "evaluate/predictions.jsonl",
    "evaluate/metrics.json",
}


def make_config(tmp_path: Path, model_dir: Path, data: str, extra: str = "") -> Path:
    path = tmp_path / "tunewise.yaml"
    path.write_text(
        f"name: t\nseed: 7\ndata:\n  path: {data}\nmodel:\n  name: {model_dir}\n  max_length: 64\n"
        f"train:\n  max_steps: 6\n  eval_steps: 2\n  logging_steps: 1\n  batch_size: 4\n  learning_rate: 0.01\n"
        f"eval:\n  max_new_tokens: 8\n{extra}"
    )
    return path


def files_in(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and "checkpoint" not in p.parts}


@pytest.fixture(scope="module")
def classification_runs(tiny_model_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cls")
    write_jsonl(tmp / "intents.jsonl", classification_rows())
    config = make_config(tmp, tiny_model_dir, "intents.jsonl")
    return [(run(load_config(config), tmp / name), tmp / name) for name in ("first", "second")]


def test_run_directory_holds_every_artifact(classification_runs):
    summary, run_dir = classification_runs[0]
    assert files_in(run_dir) == RUN_FILES
    layout = RunDir(run_dir)  # the one definition of the run directory names exactly these files
    named = [layout.config, layout.summary, layout.test_access, layout.findings, layout.audit_html, layout.manifest]
    named += [layout.split_file(name) for name in ("train", "validation", "test")] + [layout.rejects]
    named += [layout.train_log, layout.train_result, layout.head_labels, layout.predictions(), layout.metrics()]
    named += [layout.report / name for name in ("report.html", "report.md")]
    assert {str(p.relative_to(run_dir)) for p in named} == {f for f in RUN_FILES if not f.endswith(".png")}
    checkpoint = {p.name for p in layout.checkpoint.iterdir()}
    assert {"adapter_model.safetensors", "adapter_config.json", "tokenizer.json"} <= checkpoint
    assert not (run_dir / "train" / "checkpoints").exists(), "intermediate checkpoints are cleaned up"
    manifest = json.loads((run_dir / "split" / "manifest.json").read_text())
    ((source, info),) = manifest["inputs"].items()
    assert len(info["sha256"]) == 64 and info["rows"] == 54
    assert sum(manifest["sizes"].values()) == 54


def test_summary_compares_base_and_tuned(classification_runs):
    summary, run_dir = classification_runs[0]
    assert summary["task"] == "classification"
    for name in ("base", "tuned"):
        assert 0.0 <= summary[name]["accuracy"] <= 1.0 and 0.0 <= summary[name]["macro_f1"] <= 1.0
        assert summary[name]["n"] == summary["split"]["test"]
        low, high = summary[name]["accuracy_ci"]
        assert low <= summary[name]["accuracy"] <= high
    comparison = summary["comparison"]
    assert comparison["metric"] == "accuracy" and comparison["test"] == "mcnemar_exact"
    assert comparison["gain"] == pytest.approx(summary["tuned"]["accuracy"] - summary["base"]["accuracy"])
    assert comparison["ci_low"] <= comparison["gain"] <= comparison["ci_high"] and 0 < comparison["p_value"] <= 1
    predictions = [json.loads(line) for line in (run_dir / "evaluate" / "predictions.jsonl").read_text().splitlines()]
    assert len(predictions) == summary["split"]["test"]
    assert {"input", "reference", "base", "tuned", "tuned_top", "baselines", "meta"} == set(predictions[0])
    accuracy = sum(p["tuned"] == p["reference"] for p in predictions) / len(predictions)
    assert accuracy == pytest.approx(summary["tuned"]["accuracy"])


def test_summary_holds_a_decision_slices_and_a_test_access_log(classification_runs):
    summary, run_dir = classification_runs[0]
    decision = summary["decision"]
    assert decision["verdict"] in ("go", "no-go")
    checks = {c["check"]: c for c in decision["checks"]}
    assert {"gain_over_base", "test_size", "generalization_gap", "leakage", "worst_slice"} <= set(checks)
    # 9 test rows < eval.min_test_rows (100): the verdict cannot be "go", and it says why.
    assert decision["verdict"] == "no-go" and "test_size" in decision["deciding"]
    assert "9 test rows" in checks["test_size"]["message"]
    assert any("only 9 test rows" in w for w in summary["warnings"])
    metrics = json.loads((run_dir / "evaluate" / "metrics.json").read_text())
    slices = metrics["slices"]
    assert {s["field"] for s in slices} == {"label"} and sum(s["n"] for s in slices) == 9
    assert [s["score"] for s in slices] == sorted(s["score"] for s in slices)
    assert all("base_score" in s for s in slices)
    (entry,) = [json.loads(line) for line in (run_dir / "test_access.jsonl").read_text().splitlines()]
    assert entry["command"] == "run" and len(entry["test_sha256"]) == 64


def test_every_run_scores_the_cheap_baselines_on_the_same_rows(classification_runs):
    summary, run_dir = classification_runs[0]
    baselines = summary["baselines"]
    assert set(baselines) == {"majority", "embedding_lr"}
    predictions = [json.loads(line) for line in (run_dir / "evaluate" / "predictions.jsonl").read_text().splitlines()]
    for name, found in baselines.items():
        answers = [p["baselines"][name] for p in predictions]
        right = sum(a == p["reference"] for a, p in zip(answers, predictions, strict=True))
        assert found["accuracy"] == pytest.approx(right / len(predictions)) and found["n"] == len(predictions)
        assert found["comparison"]["gain"] == pytest.approx(summary["tuned"]["accuracy"] - found["accuracy"])
        assert found["fit_seconds"] >= 0 and found["rows_per_second"] > 0
    assert len({p["baselines"]["majority"] for p in predictions}) == 1
    check = next(c for c in summary["decision"]["checks"] if c["check"] == "beats_baselines")
    assert "strongest baseline" in check["message"] and summary["rows_per_second"]["tuned"] > 0
    report = (run_dir / "report" / "report.md").read_text()
    assert "Cheap baselines" in report and "| embedding_lr |" in report


def test_eval_on_validation_leaves_the_test_split_and_its_log_alone(classification_runs):
    _, run_dir = classification_runs[1]
    before = (run_dir / "test_access.jsonl").read_text()
    result = evaluate_run(run_dir, "validation")
    metrics = json.loads((run_dir / "evaluate-validation" / "metrics.json").read_text())
    assert metrics["split"] == "validation" and metrics["tuned"]["n"] == result["tuned"]["n"]
    assert (run_dir / "test_access.jsonl").read_text() == before
    assert "decision" not in result and "baselines" not in result  # the test split's, not this one's


def test_eval_again_logs_the_look_and_refreshes_the_summary(classification_runs):
    first, run_dir = classification_runs[1]
    result = evaluate_run(run_dir, "test", compare_base=False)
    log = [json.loads(line) for line in (run_dir / "test_access.jsonl").read_text().splitlines()]
    assert [entry["command"] for entry in log] == ["run", "eval"]
    assert log[0]["settings"] == log[1]["settings"]  # the same trained model, however the config was loaded
    summary = json.loads((run_dir / "summary.json").read_text())
    assert "base" not in summary and "comparison" not in summary and summary["tuned"] == first["tuned"]
    assert summary["decision"]["verdict"] == "no-go" and "gain_over_base" in summary["decision"]["deciding"]
    assert result["train"] == first["train"]  # what eval does not redo stays in the summary


def test_report_is_one_self_contained_page_and_a_markdown_file(classification_runs):
    _, run_dir = classification_runs[0]
    written = write_report(run_dir)
    page = written["html"].read_text()
    assert written["verdict"] == "no-go" and "NO-GO" in page and "Decided by" in page
    assert page.count("data:image/png;base64,") >= 3  # curves, metrics, slices (+ confusion)
    assert 'src="http' not in page and "<link" not in page
    for section in ("decision", "metrics", "training", "data", "slices", "classes", "review", "test-access"):
        assert f'id="{section}"' in page
    markdown = written["markdown"].read_text()
    assert "## Decision: **NO-GO**" in markdown and "| test_size | FAIL |" in markdown
    for image in ("training_curves", "metrics", "slices", "confusion"):
        assert f"({image}.png)" in markdown and (run_dir / "report" / f"{image}.png").stat().st_size > 1000


def test_metrics_log_has_train_and_validation_loss_and_best_step(classification_runs):
    summary, run_dir = classification_runs[0]
    rows = [json.loads(line) for line in (run_dir / "train" / "metrics.jsonl").read_text().splitlines()]
    validation = [r for r in rows if r["split"] == "validation"]
    assert [r["step"] for r in validation] == [2, 4, 6][: len(validation)]
    assert len([r for r in rows if r["split"] == "train"]) >= 2
    best = min(validation, key=lambda r: r["loss"])
    assert summary["train"]["best_step"] == best["step"]
    assert summary["train"]["best_val_loss"] == pytest.approx(best["loss"])


def test_same_config_and_seed_give_the_same_split_and_metrics(classification_runs):
    (first, first_dir), (second, second_dir) = classification_runs
    for name in ("train", "validation", "test"):
        assert (first_dir / "split" / f"{name}.jsonl").read_bytes() == (
            second_dir / "split" / f"{name}.jsonl"
        ).read_bytes()
    assert (first_dir / "train" / "metrics.jsonl").read_text() == (second_dir / "train" / "metrics.jsonl").read_text()
    assert first["tuned"] == second["tuned"] and first["base"] == second["base"]


def test_early_stopping_stops_when_validation_loss_stops_improving(tiny_model_dir, tmp_path):
    write_jsonl(tmp_path / "intents.jsonl", classification_rows())
    # A learning rate this high makes validation loss diverge after the first evaluations.
    config = make_config(tmp_path, tiny_model_dir, "intents.jsonl")
    cfg = load_config(
        config,
        [
            "train.max_steps=60",
            "train.learning_rate=3.0",
            "train.patience=1",
            "train.warmup_ratio=0",
            "train.lr_scheduler=constant",
            "eval.compare_base=false",
        ],
    )
    summary = run(cfg, tmp_path / "run")
    assert summary["train"]["stopped_early"] is True
    assert summary["train"]["steps"] < 60
    # where the training's time went: one validation pass and one save per evaluation until it stopped
    split = summary["train"]["time_split"]
    evaluations = summary["train"]["steps"] // cfg.train.eval_steps
    assert split["evaluation_count"] == split["checkpoints_count"] == evaluations >= 2
    assert split["steps"] > 0 and split["step_median"] > 0
    parts = split["steps"] + split["evaluation"] + split["checkpoints"] + split["other"]
    assert parts == pytest.approx(summary["train"]["seconds"], abs=0.5 + 0.1 * summary["train"]["seconds"])
    assert "base" not in summary
    rows = [json.loads(line) for line in (tmp_path / "run" / "train" / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if r["split"] == "validation"]
    assert min(losses) == pytest.approx(summary["train"]["best_val_loss"])
    assert losses[-1] > summary["train"]["best_val_loss"]


def test_generation_task_reports_rouge_bleu_chrf(tiny_model_dir, tmp_path):
    words = ["card", "pin", "rate", "loan", "euro", "phone", "branch", "limit", "fee", "cash"]
    rows = [
        {
            "dialogue": f"#Person1#: my {a} and my {b}?\n#Person2#: {c} {a}",
            "summary": f"they talk about {a} and {b}",
            "summary2": f"{a} and {b} are discussed",
        }
        for a, b, c in ((words[i % 10], words[(i * 3 + 1) % 10], words[(i * 7 + 2) % 10]) for i in range(30))
    ]
    write_jsonl(tmp_path / "dialogues.jsonl", rows)
    extra = "split:\n  test: 0.2\n"
    config = make_config(tmp_path, tiny_model_dir, "dialogues.jsonl", extra)
    cfg = load_config(
        config,
        [
            "data.columns={prompt: dialogue, completion: summary}",
            "train.method=full",
            "train.learning_rate=0.001",
            "eval.references=[summary2]",
            f"eval.judge={{model: {tiny_model_dir}, max_rows: 4}}",
        ],
    )
    summary = run(cfg, tmp_path / "run")
    assert summary["tuned"]["references_per_row"] == 2
    judged = json.loads((tmp_path / "run" / "evaluate" / "metrics.json").read_text())["judge"]
    assert judged["n"] == 4 and judged["wins_1"] + judged["wins_2"] + judged["ties"] == 4
    assert any("human review" in w for w in summary["warnings"])
    report = write_report(tmp_path / "run")
    assert "rougeL" in report["html"].read_text() and (tmp_path / "run" / "report" / "metrics.png").is_file()
    assert summary["task"] == "completion" and summary["split"]["test"] == 6
    for name in ("base", "tuned"):
        assert {"rougeL", "rouge1", "rouge2", "bleu", "chrf", "exact_match", "rougeL_ci"} <= set(summary[name])
    assert summary["comparison"]["metric"] == "rougeL" and summary["comparison"]["test"] == "paired_bootstrap"
    assert (tmp_path / "run" / "train" / "checkpoint" / "model.safetensors").is_file()


def test_a_budget_shorter_than_eval_steps_still_validates_and_keeps_a_checkpoint(tiny_model_dir, tmp_path):
    write_jsonl(tmp_path / "intents.jsonl", classification_rows())
    cfg = load_config(
        make_config(tmp_path, tiny_model_dir, "intents.jsonl"),
        ["train.max_steps=3", "train.eval_steps=50", "eval.compare_base=false"],
    )
    summary = run(cfg, tmp_path / "run")
    assert summary["train"]["steps"] == 3
    assert summary["train"]["best_val_loss"] is not None and summary["train"]["best_step"] == 3
    assert (tmp_path / "run" / "train" / "checkpoint" / "adapter_model.safetensors").is_file()


def test_model_folder_relative_to_the_config(tiny_model_dir, tmp_path):
    import shutil

    shutil.copytree(tiny_model_dir, tmp_path / "my-model")
    write_jsonl(tmp_path / "intents.jsonl", classification_rows(1))
    cfg = load_config(
        make_config(tmp_path, "my-model", "intents.jsonl"), ["train.max_steps=1", "eval.compare_base=false"]
    )
    assert run(cfg, tmp_path / "run")["train"]["steps"] == 1


def test_a_fixed_test_file_keeps_its_inputs_out_of_training(tiny_model_dir, tmp_path):
    rows = classification_rows()
    write_jsonl(tmp_path / "intents.jsonl", rows)
    write_jsonl(tmp_path / "test.jsonl", [{"text": r["text"].upper(), "label": r["label"]} for r in rows[:5]])
    cfg = load_config(
        make_config(tmp_path, tiny_model_dir, "intents.jsonl"),
        ["data.test_path=test.jsonl", "train.max_steps=1", "eval.compare_base=false", "data.max_rows=40"],
    )
    summary = run(cfg, tmp_path / "run")
    assert summary["split"]["test"] == 5  # data.max_rows applies to the data file, not the test file
    manifest = json.loads((tmp_path / "run" / "split" / "manifest.json").read_text())
    assert manifest["left_out_as_test_inputs"] == [r["text"] for r in rows[:5]]
    assert summary["split"]["train"] + summary["split"]["validation"] == 35
    resolved = (tmp_path / "run" / "config.yaml").read_text()
    assert f"path: {tmp_path.resolve() / 'intents.jsonl'}" in resolved


def test_an_empty_test_split_is_refused_before_training(tiny_model_dir, tmp_path):
    write_jsonl(tmp_path / "intents.jsonl", classification_rows())
    from tunewise.errors import TunewiseError

    config = make_config(tmp_path, tiny_model_dir, "intents.jsonl")
    with pytest.raises(TunewiseError, match=r"split.test=0 is below 10%: the test score would be too noisy"):
        run(load_config(config, ["split.test=0"]), tmp_path / "run")
    with pytest.raises(TunewiseError, match="the test split is empty"):
        run(load_config(config, ["split.test=0", "split.allow_small_holdout=true"]), tmp_path / "run")
    assert not (tmp_path / "run" / "train").exists()


def test_validation_loss_can_use_a_seeded_sample_of_the_validation_split(tmp_path, monkeypatch):
    import tunewise.train.stage
    from tunewise.train.stage import train_stage

    seen = []

    def fake_fine_tune(model_path, renderer, train, validation, *rest):
        seen.append(len(validation))
        raise RuntimeError("stop here")

    monkeypatch.setattr(tunewise.train.stage, "fine_tune", fake_fine_tune)
    rows = classification_rows()
    splits = {"train": rows[:10], "validation": rows[10:40], "test": rows[40:]}
    for limit in (5, None):
        overrides = [f"train.validation_rows={limit or 'null'}", "train.objective=generate"]
        cfg = load_config(make_config(tmp_path, tmp_path, "x.jsonl"), overrides)
        with pytest.raises(RuntimeError, match="stop here"):
            train_stage(cfg, "unused", None, splits, "classification", tmp_path / "train")
    assert seen == [5, 30]
