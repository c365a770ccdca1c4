"""`tunewise compare RUN --baseline OTHER`: a paired comparison of two runs' fine-tuned models, in the report."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import classification_rows, write_jsonl
from tests.test_pipeline import make_config
from tunewise.cli import main
from tunewise.config import load_config
from tunewise.pipeline import run
from tunewise.report import write_report


@pytest.fixture(scope="module")
def two_runs(tiny_model_dir, tmp_path_factory):
    """A run whose tuned answers are all right, and a baseline copy that gets 8 of them wrong (the predictions
    are rewritten: a tiny random model gets too few right to make a known difference)."""
    tmp = tmp_path_factory.mktemp("baseline")
    write_jsonl(tmp / "intents.jsonl", classification_rows())
    run(load_config(make_config(tmp, tiny_model_dir, "intents.jsonl")), tmp / "run")
    path = tmp / "run" / "evaluate" / "predictions.jsonl"
    rows = [json.loads(line) | {} for line in path.read_text().splitlines()]
    for row in rows:
        row["tuned"] = row["reference"]
    write_jsonl(path, rows)
    shutil.copytree(tmp / "run", tmp / "baseline")
    rows = [dict(row) for row in rows]
    labels = sorted({row["reference"] for row in rows})
    spoiled = list(range(8))
    for i in spoiled:
        rows[i]["tuned"] = next(label for label in labels if label != rows[i]["reference"])
    write_jsonl(tmp / "baseline" / "evaluate" / "predictions.jsonl", rows)
    return tmp, rows, spoiled


def test_compare_finds_the_gain_on_the_same_rows_and_the_report_shows_it(two_runs, capsys):
    tmp, rows, spoiled = two_runs
    assert main(["compare", str(tmp / "run"), "--baseline", str(tmp / "baseline")]) == 0
    assert "gain +" in capsys.readouterr().out
    found = json.loads((tmp / "run" / "baseline" / "comparison.json").read_text())
    c = found["comparison"]
    assert c["gain"] == pytest.approx(8 / len(rows)) and c["only_run_right"] == 8 and c["only_baseline_right"] == 0
    assert c["test"] == "mcnemar_exact" and c["p_value"] == pytest.approx(2 * 0.5**8)
    assert found["audits"]["run"]["rows"] == found["audits"]["baseline"]["rows"]
    labels = [s for s in found["slices"] if s["field"] == "label"]
    assert sum(s["gain"] * s["n"] for s in labels) == pytest.approx(8)
    written = write_report(tmp / "run")
    page = written["html"].read_text()
    assert "Against the baseline run" in page and "rows only this run got right" in page
    check = next(c for c in written["data"]["decision"]["checks"] if c["check"] == "beats_baseline_run")
    assert check["passed"] and "a significant gain" in check["message"]


def test_the_baseline_made_worse_is_blocked(two_runs):
    tmp, _, _ = two_runs
    main(["compare", str(tmp / "baseline"), "--baseline", str(tmp / "run")])
    decision = write_report(tmp / "baseline")["data"]["decision"]
    assert "beats_baseline_run" in decision["deciding"] and decision["verdict"] == "no-go"


def test_runs_on_different_rows_or_unevaluated_are_refused(two_runs, tmp_path, capsys):
    tmp, rows, _ = two_runs
    shutil.copytree(tmp / "baseline", tmp_path / "other")
    write_jsonl(tmp_path / "other" / "evaluate" / "predictions.jsonl", rows[:-1])
    assert main(["compare", str(tmp / "run"), "--baseline", str(tmp_path / "other")]) == 2
    assert "scored on different test rows" in capsys.readouterr().err
    assert main(["compare", str(tmp / "run"), "--baseline", str(tmp_path)]) == 2
    assert "not an evaluated run" in capsys.readouterr().err


def test_label_slices_come_from_the_references(two_runs):
    tmp, rows, spoiled = two_runs
    main(["compare", str(tmp / "run"), "--baseline", str(tmp / "baseline")])
    found = json.loads((tmp / "run" / "baseline" / "comparison.json").read_text())
    labels = {s["value"]: s for s in found["slices"] if s["field"] == "label"}
    assert set(labels) == {row["reference"] for row in rows} and "(missing)" not in labels
