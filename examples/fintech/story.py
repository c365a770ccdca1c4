"""Glue for run.sh that is specific to this story (not part of tunewise): the inputs, what the audit caught of
the injected faults, and the final JSON line.

    story.py prepare OUT [--intents N]   clean_train.jsonl and test.jsonl (with intent_group) from ../shared
    story.py caught OUT                  per injected fault: how many rows the audit flagged, curation removed
    story.py summary OUT START           the last line: {"raw_accuracy", ..., "verdict", "base_model"}
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from collections import Counter
from pathlib import Path

SHARED = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "banking77"
SKEWED_SHARE = 1 / 3  # the rarest third of intents: the rates in README.md and run.sh


def prepare(out: Path, intents: int | None) -> None:
    train, test = _csv(SHARED / "train.csv"), _csv(SHARED / "test.csv")
    if intents:  # the fast variant: the most frequent N intents
        keep = {label for label, _ in Counter(r["category"] for r in train).most_common(intents)}
        train, test = [r for r in train if r["category"] in keep], [r for r in test if r["category"] in keep]
    counts = Counter(r["category"] for r in train)
    ranked = sorted(counts, key=lambda label: (counts[label], label))
    third = round(len(ranked) * SKEWED_SHARE)
    group = {label: "rare" for label in ranked[:third]} | {label: "common" for label in ranked[len(ranked) - third :]}
    _write(out / "clean_train.jsonl", train)
    _write(out / "test.jsonl", [r | {"intent_group": group.get(r["category"], "middle")} for r in test])
    print(f"{len(train)} training rows, {len(test)} test rows, {len(counts)} intents ({third} rare)")


def caught(out: Path) -> dict:
    """Per injected fault: rows, share the audit flagged (by any check), share curation dropped or changed."""
    truth = json.loads((out / "raw.jsonl.truth.json").read_text())["faults"]
    audit = json.loads((out / "audit" / "findings.json").read_text())
    flagged = {row for finding in audit["findings"] for row in finding["rows"]}
    by_check = {finding["check"]: set(finding["rows"]) for finding in audit["findings"]}
    changed = {json.loads(line)["row"] for line in (out / "curated" / "changelog.jsonl").read_text().splitlines()}
    found = {}
    for fault, rows in sorted(truth.items()):
        if fault in ("skewed", "starved"):
            continue  # rows that were kept, not faulty rows
        rows = set(rows)
        best = max(by_check, key=lambda check: len(rows & by_check[check]))
        found[fault] = {
            "rows": len(rows),
            "flagged": len(rows & flagged) / len(rows),
            "changed_by_curation": len(rows & changed) / len(rows),
            "mostly_by": best,
        }
        print(
            f"{fault:>16}: {len(rows):5d} rows, audit flagged {found[fault]['flagged']:.0%} (mostly {best}), "
            f"curation dropped or changed {found[fault]['changed_by_curation']:.0%}"
        )
    (out / "caught.json").write_text(json.dumps(found, indent=2) + "\n")
    return found


def summary(out: Path, started: float) -> dict:
    comparison = json.loads((out / "runs" / "curated" / "baseline" / "comparison.json").read_text())
    curated = json.loads((out / "runs" / "curated" / "summary.json").read_text())
    accuracy, c = comparison["metrics"]["accuracy"], comparison["comparison"]
    found = {
        "raw_accuracy": round(accuracy["baseline"]["value"], 4),
        "curated_accuracy": round(accuracy["run"]["value"], 4),
        "gain": round(c["gain"], 4),
        "ci_low": round(c["ci_low"], 4),
        "ci_high": round(c["ci_high"], 4),
        "p_value": float(f"{c['p_value']:.3g}"),
        "minutes": round((time.time() - started) / 60, 1),
        "verdict": curated["decision"]["verdict"],
        "base_model": curated["model"],
    }
    (out / "story.json").write_text(json.dumps(found, indent=2) + "\n")
    return found


def _csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return [{"text": row["text"], "category": row["category"]} for row in csv.DictReader(handle)]


def _write(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["prepare", "caught", "summary"])
    parser.add_argument("out", type=Path)
    parser.add_argument("started", type=float, nargs="?", default=time.time())
    parser.add_argument("--intents", type=int)
    args = parser.parse_args()
    if args.step == "prepare":
        prepare(args.out, args.intents)
    elif args.step == "caught":
        caught(args.out)
    else:
        print(json.dumps(summary(args.out, args.started)))


if __name__ == "__main__":
    main()
