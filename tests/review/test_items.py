"""Review items: every line validated with file, line and field; items from a run's test predictions."""

from __future__ import annotations

import json

import pytest

from tunewise.errors import TunewiseError
from tunewise.review.items import items_from_run, load_items


def write(path, rows) -> str:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


PAIR = {"id": 1, "prompt": "Where is my card?", "outputs": {"base": "exchange_rate", "tuned": "card_arrival"}}


def test_pairwise_items_are_normalised(tmp_path):
    second = {"id": "b", "prompt": "<script>x</script>", "outputs": {"m1": "", "m2": "yes"}, "meta": {"topic": "t"}}
    items = load_items(write(tmp_path / "items.jsonl", [PAIR, "", second]), "pairwise")
    assert items == [
        {"id": "1", "meta": {}, "prompt": "Where is my card?", "outputs": PAIR["outputs"]},
        {"id": "b", "meta": {"topic": "t"}, "prompt": "<script>x</script>", "outputs": {"m1": "", "m2": "yes"}},
    ]


@pytest.mark.parametrize(
    ("row", "kind", "message"),
    [
        ("{not json", "pairwise", "items.jsonl:2: invalid JSON"),
        ([1, 2], "pairwise", "items.jsonl:2: expected a JSON object"),
        ({"id": 2, "prompt": "p"}, "pairwise", "items.jsonl:2: field 'outputs': missing"),
        ({**PAIR, "id": 2, "output": {}}, "pairwise", "items.jsonl:2: field 'output': unknown field (allowed: id"),
        ({**PAIR, "id": 1}, "pairwise", "items.jsonl:2: field 'id': '1' repeats the id of line 1"),
        ({**PAIR, "id": True}, "pairwise", "field 'id': must be a non-empty string or an integer"),
        ({**PAIR, "id": 2, "outputs": {"a": "x"}}, "pairwise", "needs exactly two systems, got 1"),
        ({**PAIR, "id": 2, "outputs": {"a": "x", "b": 3}}, "pairwise", "field 'outputs': must be an object mapping"),
        ({**PAIR, "id": 2, "outputs": {}}, "rating", "a rating item needs at least one system"),
        ({**PAIR, "id": 2, "prompt": None}, "rating", "items.jsonl:2: field 'prompt': must be a string"),
        ({**PAIR, "id": 2, "meta": []}, "rating", "field 'meta': must be an object"),
    ],
)
def test_a_bad_line_names_file_line_and_field(tmp_path, row, kind, message):
    path = write(tmp_path / "items.jsonl", [PAIR, row])
    with pytest.raises(TunewiseError, match=message.replace("(", r"\(")):
        load_items(path, kind)


def test_relabel_items_follow_the_curate_queue(tmp_path):
    row = {"id": 7, "text": "card?", "label": "a", "suggested_label": "b", "labels": ["a", "b"]}
    assert load_items(write(tmp_path / "q.jsonl", [row]), "relabel") == [{**row, "id": "7", "meta": {}}]
    with pytest.raises(TunewiseError, match="field 'suggested_label': 'c' is not one of 'labels'"):
        load_items(write(tmp_path / "q.jsonl", [{**row, "suggested_label": "c"}]), "relabel")


def test_empty_missing_and_unknown_kind_are_one_line_errors(tmp_path):
    with pytest.raises(TunewiseError, match="no items"):
        load_items(write(tmp_path / "empty.jsonl", [""]), "rating")
    with pytest.raises(TunewiseError, match="file not found"):
        load_items(tmp_path / "absent.jsonl", "rating")
    with pytest.raises(TunewiseError, match="unknown campaign kind 'ranking'"):
        load_items(write(tmp_path / "x.jsonl", [PAIR]), "ranking")


def test_items_from_a_run_pair_base_and_tuned(tmp_path):
    (tmp_path / "evaluate").mkdir()
    rows = [
        {"input": "q0", "reference": "r0", "base": "same", "tuned": "same"},  # nothing to compare: left out
        {"input": "q1", "reference": "r1", "base": "b1", "tuned": "t1", "meta": {"topic": "x"}},
    ]
    write(tmp_path / "evaluate" / "predictions.jsonl", rows)
    assert items_from_run(tmp_path) == [
        {"id": "1", "prompt": "q1", "outputs": {"base": "b1", "tuned": "t1"}, "meta": {"reference": "r1", "topic": "x"}}
    ]
    write(tmp_path / "evaluate" / "predictions.jsonl", [{"input": "q1", "reference": "r1", "tuned": "t1"}])
    with pytest.raises(TunewiseError, match="rows need input, tuned, base"):
        items_from_run(tmp_path)
    with pytest.raises(TunewiseError, match="no evaluate/predictions.jsonl"):
        items_from_run(tmp_path / "nowhere")


def test_items_from_two_runs_pair_their_tuned_models(tmp_path):
    for name, answers in (("raw", ["a", "x", "c"]), ("curated", ["a", "b", "c"])):
        (tmp_path / name / "evaluate").mkdir(parents=True)
        rows = [{"input": f"q{i}", "reference": "b", "tuned": answer} for i, answer in enumerate(answers)]
        write(tmp_path / name / "evaluate" / "predictions.jsonl", rows)
    assert items_from_run(tmp_path / "curated", tmp_path / "raw") == [
        {"id": "1", "prompt": "q1", "outputs": {"raw": "x", "curated": "b"}, "meta": {"reference": "b"}}
    ]
    write(tmp_path / "raw" / "evaluate" / "predictions.jsonl", [{"input": "other", "tuned": "a"}])
    with pytest.raises(TunewiseError, match="different test rows"):
        items_from_run(tmp_path / "curated", tmp_path / "raw")
