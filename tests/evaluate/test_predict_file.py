"""`tunewise predict`: a finished run's model on new rows, inputs only, with bad rows written to a rejects file."""

from __future__ import annotations

import json

import pytest

from tests.conftest import write_jsonl
from tunewise.cli import main


@pytest.fixture(scope="module")
def runs(finished_runs):
    return finished_runs


@pytest.mark.parametrize("objective", ["classify", "generate"])
def test_predictions_match_the_runs_own_evaluation(runs, objective, tmp_path, capsys):
    run = runs[objective]
    evaluated = [json.loads(line) for line in (run / "evaluate" / "predictions.jsonl").read_text().splitlines()]
    new_rows = [{"text": row["input"], "ticket": n} for n, row in enumerate(evaluated)]  # no label: inputs only
    data = write_jsonl(tmp_path / "new.jsonl", new_rows)
    out = tmp_path / "predicted.jsonl"
    assert main(["predict", str(run), str(data), "--out", str(out), "--batch-size", "3"]) == 0
    predicted = [json.loads(line) for line in out.read_text().splitlines()]
    assert [p["prediction"] for p in predicted] == [row["tuned"] for row in evaluated]
    assert [p["meta"]["ticket"] for p in predicted] == list(range(len(evaluated)))
    if objective == "classify":
        assert all(len(p["top"]) == 3 and p["top"][0][0] == p["prediction"] for p in predicted)
        assert [p["top"] for p in predicted] == [row["tuned_top"] for row in evaluated]
    assert (tmp_path / "predicted.jsonl.rejects.jsonl").read_text() == ""
    assert f"wrote {len(evaluated)} predictions" in " ".join(capsys.readouterr().out.split())


def test_bad_rows_go_to_the_rejects_file_and_limit_counts_rows(runs, tmp_path, capsys):
    data = tmp_path / "new.jsonl"
    data.write_text('{"text": "where is my new card"}\n{"text": \n{"label": "x"}\n{"text": "a new pin please"}\n')
    out = tmp_path / "p.jsonl"
    assert main(["predict", str(runs["classify"]), str(data), "--out", str(out)]) == 0
    assert [json.loads(line)["row"] for line in out.read_text().splitlines()] == [0, 3]
    rejects = [json.loads(line) for line in (tmp_path / "p.jsonl.rejects.jsonl").read_text().splitlines()]
    assert [(r["row"], r["field"]) for r in rejects] == [(1, None), (2, "text")]
    assert f"skipped {data}:3: field 'text': missing" in " ".join(capsys.readouterr().err.split())
    assert main(["predict", str(runs["classify"]), str(data), "--out", str(out), "--limit", "1"]) == 0
    assert len(out.read_text().splitlines()) == 1


def test_a_run_without_a_checkpoint_or_an_output_over_the_input_is_refused(runs, tmp_path, capsys):
    data = write_jsonl(tmp_path / "new.jsonl", [{"text": "hello"}])
    assert main(["predict", str(runs["classify"]), str(data), "--out", str(data)]) == 2
    assert "this is an input of the command" in capsys.readouterr().err
    assert main(["predict", str(tmp_path), str(data), "--out", str(tmp_path / "p.jsonl")]) == 2
    assert "not a tunewise run directory" in capsys.readouterr().err


def test_limit_and_batch_size_must_be_at_least_one(runs, tmp_path, capsys):
    data = write_jsonl(tmp_path / "new.jsonl", [{"text": "hello"}])
    for option in ("--limit", "--batch-size"):
        with pytest.raises(SystemExit) as stopped:
            main(["predict", str(runs["classify"]), str(data), "--out", str(tmp_path / "p.jsonl"), option, "0"])
        assert stopped.value.code == 2 and "0 is not 1 or more" in capsys.readouterr().err
