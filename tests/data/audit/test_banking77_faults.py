"""The audit against known faults injected into real data (Banking77), with the issue's recall targets."""

import csv
import json
import random

import pytest

from tests.conftest import SHARED, require
from tunewise.cli import main
from tunewise.data.faults import FaultRates, inject

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True, scope="module")
def shared_banking77():
    require((SHARED / "banking77").is_dir(), "../shared/datasets/banking77", "clone the project beside shared/")


def banking77(split: str) -> list[dict]:
    with open(SHARED / "banking77" / f"{split}.csv", newline="", encoding="utf-8") as handle:
        return [{"text": r["text"], "label": r["category"]} for r in csv.DictReader(handle)]


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("b77")
    train, test = banking77("train"), banking77("test")
    random.Random(7).shuffle(train)  # a different sample and seed than the ones used while building the checks
    rows, truth = inject(train[:3000], "classification", FaultRates(starve_classes=2), seed=11, test_records=test)
    for name, data in (("raw.jsonl", rows), ("test.jsonl", test)):
        (tmp / name).write_text("".join(json.dumps(r) + "\n" for r in data))
    code = main(
        [
            "audit",
            str(tmp / "raw.jsonl"),
            "--against",
            str(tmp / "test.jsonl"),
            "--json",
            str(tmp / "audit.json"),
            "--html",
            str(tmp / "audit.html"),
        ]
    )
    report = json.loads((tmp / "audit.json").read_text())
    return code, report, truth, tmp, len(rows)


def flagged(report, check) -> set[int]:
    return next(set(f["rows"]) for f in report["findings"] if f["check"] == check)


def recall(report, check, truth_rows) -> float:
    return len(flagged(report, check) & set(truth_rows)) / len(truth_rows)


def test_exit_code_and_report_shape(audited):
    code, report, truth, tmp, rows = audited
    assert code == 1  # empties, leakage and conflicts are error-severity findings
    assert report["rows"] == rows
    assert report["summary"]["passed"] is False
    assert {f["check"] for f in report["findings"]} >= {"exact_duplicate", "near_duplicate", "leakage", "label_issue"}
    page = (tmp / "audit.html").read_text()
    assert "Data audit" in page and "leakage" in page


@pytest.mark.parametrize(
    "check, fault, target",
    [
        ("exact_duplicate", "exact_duplicate", 0.95),
        ("empty", "empty", 0.95),
        ("leakage", "leakage", 0.95),
        ("near_duplicate", "near_duplicate", 0.9),
        ("label_issue", "label_noise", 0.7),
        ("class_imbalance", "starved", 0.95),
    ],
)
def test_recall_targets(audited, check, fault, target):
    _, report, truth, _, _ = audited
    assert recall(report, check, truth[fault]) >= target


def test_label_issue_precision(audited):
    _, report, truth, _, _ = audited
    found = flagged(report, "label_issue")
    assert len(found & set(truth["label_noise"])) / len(found) >= 0.6
