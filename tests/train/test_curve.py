"""`tunewise learning-curve`: nested subsets, same validation rows, a reading in plain words."""

import json

import pytest

from tests.conftest import classification_rows, write_jsonl
from tests.test_pipeline import make_config
from tunewise.cli import main
from tunewise.train.curve import nested_subsets, read_curve


def test_subsets_are_nested_and_sized_by_fraction():
    rows = list(range(40))
    subsets = nested_subsets(rows, [1.0, 0.25, 0.5], seed=3)
    assert [len(s) for s in subsets.values()] == [10, 20, 40]
    assert set(subsets[0.25]) <= set(subsets[0.5]) <= set(subsets[1.0])
    assert nested_subsets(rows, [0.25], seed=3) == {0.25: subsets[0.25]}  # the same seed, the same rows


@pytest.mark.parametrize(
    ("ci", "expected"),
    [((0.02, 0.10), "is likely to help"), ((-0.03, 0.05), "not likely to help much"), ((-0.1, -0.01), "did worse")],
)
def test_the_reading_follows_the_interval_of_the_last_step(ci, expected):
    points = [{"train_rows": 50}, {"train_rows": 100}]
    comparison = {"gain": sum(ci) / 2, "ci_low": ci[0], "ci_high": ci[1], "p_value": 0.04}
    assert expected in read_curve(points, comparison, "accuracy")


def test_learning_curve_command_writes_curve_and_plot(tiny_model_dir, tmp_path, capsys):
    write_jsonl(tmp_path / "intents.jsonl", classification_rows(copies=4))
    config = make_config(tmp_path, tiny_model_dir, "intents.jsonl", "audit:\n  in_run: false\n")
    out = tmp_path / "curve"
    assert main(["learning-curve", str(config), "--out", str(out), "--fractions", "0.5", "1"]) == 0
    curve = json.loads((out / "curve.json").read_text())
    points = curve["points"]
    assert [p["fraction"] for p in points] == [0.5, 1.0]
    assert points[0]["train_rows"] * 2 in (points[1]["train_rows"], points[1]["train_rows"] + 1)
    assert [p["steps"] for p in points] == [3, 6]  # max_steps 6 scaled with the data: same steps per example
    assert all(0 <= p["score"] <= 1 and p["score_ci"][0] <= p["score"] <= p["score_ci"][1] for p in points)
    assert curve["comparison"]["n"] == curve["validation_rows"]
    assert "More data of this kind" in curve["reading"]
    assert (out / "curve.png").read_bytes()[:4] == b"\x89PNG"
    printed = capsys.readouterr().out
    assert "learning curve" in printed and curve["reading"][:30] in printed.replace("\n", " ")


def test_learning_curve_rejects_a_single_fraction(tiny_model_dir, tmp_path, capsys):
    write_jsonl(tmp_path / "intents.jsonl", classification_rows())
    config = make_config(tmp_path, tiny_model_dir, "intents.jsonl")
    assert main(["learning-curve", str(config), "--fractions", "1"]) == 2
    assert "at least two different fractions" in capsys.readouterr().err
