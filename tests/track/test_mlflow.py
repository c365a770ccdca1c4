"""A run tracked in a real MLflow store (SQLite), read back with MlflowClient: its config as params, every
stage's figures as metrics, the validation curve by step, the verdict as a tag and the report as artifacts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import classification_rows, write_jsonl
from tests.test_pipeline import make_config
from tunewise.config import load_config
from tunewise.pipeline import run

mlflow = pytest.importorskip("mlflow")


def test_a_tracked_run_logs_config_stage_figures_curve_verdict_and_report(tiny_model_dir, tmp_path):
    write_jsonl(tmp_path / "intents.jsonl", classification_rows())
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    config = make_config(tmp_path, tiny_model_dir, "intents.jsonl", f"tracking:\n  mlflow: {store}\n")
    summary = run(load_config(config), tmp_path / "run")
    client = mlflow.MlflowClient(tracking_uri=store)
    (experiment,) = [e for e in client.search_experiments() if e.name == "t"]  # the config's name
    (tracked,) = client.search_runs([experiment.experiment_id])
    assert tracked.data.params["train.learning_rate"] == "0.01" and tracked.data.params["seed"] == "7"
    metrics = tracked.data.metrics
    accuracy = summary["tuned"]["accuracy"]
    assert metrics["test.tuned.accuracy"] == pytest.approx(accuracy)
    low, high = summary["tuned"]["accuracy_ci"]
    assert metrics["test.tuned.accuracy_ci_low"] == pytest.approx(low) and low <= accuracy <= high
    assert metrics["test.tuned.accuracy_ci_high"] == pytest.approx(high)
    assert metrics["baseline.embedding_lr.accuracy"] == pytest.approx(summary["baselines"]["embedding_lr"]["accuracy"])
    assert "audit.exact_duplicate" in metrics and metrics["train.steps"] == summary["train"]["steps"]
    curve = client.get_metric_history(tracked.info.run_id, "validation_loss")
    assert [m.step for m in curve] == [2, 4, 6] and all(m.value > 0 for m in curve)
    assert tracked.data.tags["verdict"] == summary["decision"]["verdict"]
    artifacts = {a.path for a in client.list_artifacts(tracked.info.run_id)} | {
        a.path for a in client.list_artifacts(tracked.info.run_id, "report")
    }
    assert {"report/report.html", "report/report.md", "summary.json", "config.yaml", "model_card.md"} <= artifacts
    card = client.download_artifacts(tracked.info.run_id, "model_card.md", str(tmp_path / "card"))
    card = Path(card).read_text()
    assert "with a sequence-classification head" in card and "not exported yet" in card
    assert f"{accuracy:.3f}" in card and "Checked after export" not in card  # no export, no export check
    assert any(
        path.endswith("findings.json")
        for path in artifacts | {a.path for a in client.list_artifacts(tracked.info.run_id, "audit")}
    )


def test_a_store_that_fails_is_a_warning_and_the_run_is_left_as_it_is(finished_runs, tmp_path, capsys):
    from tunewise.pipeline import track

    (tmp_path / "blocked").write_text("a file where the store's folder should be")
    run_dir = finished_runs["classify"]
    cfg = load_config(run_dir / "config.yaml", [f"tracking.mlflow=sqlite:///{tmp_path / 'blocked' / 'mlflow.db'}"])
    before = {p: p.stat().st_mtime_ns for p in run_dir.rglob("*") if p.is_file()}
    track(cfg, run_dir)  # what `run` calls once the run is in place
    assert "warning tracking: MLflow" in " ".join(capsys.readouterr().err.split())
    assert {p: p.stat().st_mtime_ns for p in run_dir.rglob("*") if p.is_file()} == before
