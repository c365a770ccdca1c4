"""How much of each injected fault the audit finds, on the data its thresholds were tuned on (Banking77) and on
data they were not (CLINC150), with the same injector, rates and sample size.

For each data set: 3,000 training queries (a seeded sample), then `tunewise.data.faults.inject` adds 5 % exact
duplicates (re-cased, re-spaced: what normalisation undoes), 5 % near duplicates (a typo, a dropped or added
word), 5 % decorated duplicates (a greeting or a sign-off: what normalisation cannot undo), 5 % label flips,
1 % empty rows and 2 % leaked test queries, and cuts 2 classes to 3 rows. `tunewise audit --against TEST` then
runs every check, and each fault is scored against the check made for it:

- recall: injected rows the check flagged / injected rows;
- precision: injected rows among the rows the check flagged. The duplicate and leakage checks flag whole groups
  (the original with its copy, every row that repeats a test query), so their precision cannot reach 1 even
  when every flag is right: read it with that in mind.

Usage: .venv/bin/python benchmarks/audit_recall.py [--rows 3000]
Needs ../shared/datasets. Writes benchmarks/results/audit_recall.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import tempfile
import time
from pathlib import Path

from tunewise.cli import main as tunewise
from tunewise.data.faults import FaultRates, inject

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import record  # noqa: E402 - benchmarks/record.py, beside this script

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
RATES = FaultRates(decorated_duplicate=0.05, starve_classes=2)
CHECK_FOR = {  # the fault → the checks made for it
    "exact_duplicate": ["exact_duplicate"],
    "near_duplicate": ["near_duplicate"],
    "decorated_duplicate": ["near_duplicate", "semantic_duplicate"],
    "label_noise": ["label_issue"],
    "empty": ["empty"],
    "leakage": ["leakage"],
    "starved": ["class_imbalance"],
}


def banking77() -> tuple[list[dict], list[dict]]:
    def rows(split):
        with open(SHARED / "banking77" / f"{split}.csv", newline="", encoding="utf-8") as handle:
            return [{"text": r["text"], "label": r["category"]} for r in csv.DictReader(handle)]

    return rows("train"), rows("test")


def clinc150() -> tuple[list[dict], list[dict]]:
    data = json.loads((SHARED / "clinc150" / "data_full.json").read_text(encoding="utf-8"))
    return [[{"text": text, "label": intent} for text, intent in data[split]] for split in ("train", "test")]


def scored(name: str, train: list[dict], test: list[dict], size: int, folder: Path) -> dict:
    random.Random(7).shuffle(train)
    rows, truth = inject(train[:size], "classification", RATES, seed=11, test_records=test)
    for file, data in (("raw.jsonl", rows), ("test.jsonl", test)):
        (folder / file).write_text("".join(json.dumps(r) + "\n" for r in data), encoding="utf-8")
    start = time.perf_counter()
    tunewise(
        ["audit", str(folder / "raw.jsonl"), "--against", str(folder / "test.jsonl"), "--json", str(folder / "a.json")]
    )
    seconds = time.perf_counter() - start
    findings = {f["check"]: set(f["rows"]) for f in json.loads((folder / "a.json").read_text())["findings"]}
    result = {"rows": len(rows), "classes": len({r["label"] for r in rows}), "audit_seconds": round(seconds, 1)}
    for fault, checks in CHECK_FOR.items():
        injected = set(truth.get(fault, []))
        flagged = set().union(*(findings.get(check, set()) for check in checks))
        result[fault] = {
            "checks": "+".join(checks),
            "injected": len(injected),
            "recall": len(injected & flagged) / len(injected) if injected else None,
            "precision": len(injected & flagged) / len(flagged) if flagged else None,
            "flagged": len(flagged),
        }
    print(f"{name}: {len(rows)} rows, {result['classes']} classes, audit {seconds:.0f} s", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3000)
    args = parser.parse_args()
    results = {}
    for name, load in (("banking77", banking77), ("clinc150", clinc150)):
        with tempfile.TemporaryDirectory() as folder:
            results[name] = scored(name, *load(), args.rows, Path(folder))
    print(f"{'fault':20s} {'checks':34s} {'Banking77 (tuned on)':>24s} {'CLINC150 (held out)':>24s}")
    figures = {}
    for fault, checks in CHECK_FOR.items():
        cells = []
        for name in results:
            found = results[name][fault]
            cells.append(f"{_share(found['recall'])} of {found['injected']:4d}, prec {_share(found['precision'])}")
            figures[f"{fault} ({name})"] = found
        print(f"{fault:20s} {'+'.join(checks):34s} {cells[0]:>24s} {cells[1]:>24s}")
    for name in results:
        figures[f"audit seconds ({name})"] = results[name]["audit_seconds"]
    record("audit_recall", figures, note=f"{args.rows} training queries per data set, rates {RATES.__dict__}")


def _share(value: float | None) -> str:
    return "  -" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    main()
