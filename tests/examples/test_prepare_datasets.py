"""examples/prepare_datasets.py: a downloaded copy (the authors' files, or a `datasets` save_to_disk folder) put
where the configs read it, in the layout they expect; a source that is not the data set is one line and exit 2."""

from __future__ import annotations

import csv
import gzip
import json
import sys
from pathlib import Path

import datasets
import pytest

from tests.conftest import require
from tunewise.data.load import load_records

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "datasets"
sys.path.insert(0, str(ROOT / "examples"))
from prepare_datasets import main  # noqa: E402


def saved(tmp_path: Path, splits: dict, features: datasets.Features | None = None) -> Path:
    folder = tmp_path / "hf"
    datasets.DatasetDict(
        {name: datasets.Dataset.from_dict(columns, features=features) for name, columns in splits.items()}
    ).save_to_disk(str(folder))
    return folder


def test_banking77_from_a_saved_hugging_face_copy_reads_as_the_configs_read_it(tmp_path):
    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["card_arrival", "lost_card"])}
    )
    columns = {"text": ["where is my card", "I lost my card", "card still not here"], "label": [0, 1, 0]}
    source = saved(tmp_path, {"train": columns, "test": columns}, features)
    assert main(["banking77", "--source", str(source), "--out", str(tmp_path / "out")]) == 0
    loaded = load_records(tmp_path / "out" / "banking77" / "train.csv", columns={"label": "category"})
    assert [(r["text"], r["label"]) for r in loaded.records] == [
        ("where is my card", "card_arrival"),
        ("I lost my card", "lost_card"),
        ("card still not here", "card_arrival"),
    ]
    assert main(["banking77", "--source", str(source), "--out", str(tmp_path / "out")]) == 2  # kept without --force
    assert main(["banking77", "--source", str(source), "--out", str(tmp_path / "out"), "--force"]) == 0


def test_dialogsum_from_a_saved_copy_groups_the_three_test_summaries_of_a_dialogue(tmp_path):
    row = {"dialogue": "#Person1#: hi", "topic": "greeting"}
    test = {key: [value] * 3 for key, value in row.items()} | {
        "id": ["test_0_1", "test_0_2", "test_0_3"],
        "summary": ["They greet.", "A greeting.", "Hello."],
    }
    dev = {key: [value] for key, value in row.items()} | {"id": ["dev_0"], "summary": ["They greet."]}
    source = saved(tmp_path, {"validation": dev, "test": test})
    assert main(["dialogsum", "--source", str(source), "--out", str(tmp_path / "out")]) == 0
    (written,) = [json.loads(line) for line in (tmp_path / "out" / "dialogsum" / "test.jsonl").open()]
    assert written == {
        "fname": "test_0",
        **row,
        "summary1": "They greet.",
        "summary2": "A greeting.",
        "summary3": "Hello.",
    }
    loaded = load_records(
        tmp_path / "out" / "dialogsum" / "dev.jsonl", columns={"prompt": "dialogue", "completion": "summary"}
    )
    assert loaded.task == "completion" and loaded.records[0]["completion"] == "They greet."


def test_clinc150_from_a_saved_copy_splits_out_the_out_of_scope_queries(tmp_path):
    features = datasets.Features(
        {"text": datasets.Value("string"), "intent": datasets.ClassLabel(names=["balance", "oos"])}
    )
    columns = {"text": ["what's my balance", "tell me a joke"], "intent": [0, 1]}
    source = saved(tmp_path, {"train": columns, "validation": columns, "test": columns}, features)
    assert main(["clinc150", "--source", str(source), "--out", str(tmp_path / "out")]) == 0
    found = json.loads((tmp_path / "out" / "clinc150" / "data_full.json").read_text())
    assert found["train"] == [["what's my balance", "balance"]] and found["oos_test"] == [["tell me a joke", "oos"]]


@pytest.mark.parametrize("name", ["banking77", "clinc150", "dialogsum", "hh-rlhf"])
def test_the_authors_files_come_out_as_the_shared_copy_has_them(tmp_path, name):
    require(SHARED.is_dir(), "../shared/datasets", "CI puts it beside the checkout")
    assert main([name, "--source", str(SHARED / name), "--out", str(tmp_path / "out")]) == 0
    for original in sorted((SHARED / name).glob("*")):
        if original.name in ("LICENSE", "categories.json", "data_imbalanced.json"):
            continue
        copy = tmp_path / "out" / name / original.name
        if original.suffix == ".csv":
            assert list(csv.reader(copy.open())) == list(csv.reader(original.open())), original.name
        elif original.suffix == ".gz":
            assert gzip.open(copy, "rt").read().splitlines() == gzip.open(original, "rt").read().splitlines()
        elif original.suffix == ".json":
            assert json.loads(copy.read_text()) == json.loads(original.read_text())
        else:
            read = lambda path: [json.loads(line) for line in path.open() if line.strip()]  # noqa: E731
            assert read(copy) == read(original), original.name


def test_a_source_that_is_not_the_data_set_is_one_line_and_exit_2(tmp_path, capsys):
    (tmp_path / "notes").mkdir()
    assert main(["banking77", "--source", str(tmp_path / "notes"), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"error: {tmp_path / 'notes'}: none of train.csv found") and "\n" not in error
    assert not (tmp_path / "out" / "banking77").exists() and not list((tmp_path / "out").glob(".*"))


def test_one_file_cannot_stand_for_both_splits(tmp_path, capsys):
    (tmp_path / "train.csv").write_text("text,category\nwhere is my card,card_arrival\n")
    assert main(["banking77", "--source", str(tmp_path / "train.csv"), "--out", str(tmp_path / "out")]) == 2
    assert "give the folder that holds train.csv and test.csv, not one file" in capsys.readouterr().err
    assert not (tmp_path / "out" / "banking77").exists()
