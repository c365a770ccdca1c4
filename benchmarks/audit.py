"""Audit throughput: rows/s of each check on a large, realistic data file (Banking77 + CLINC150 queries with
injected exact and near duplicates), leakage measured against the Banking77 test file.

Usage: .venv/bin/python benchmarks/audit.py [--rows 100000] [--sample 10000]
The scaling checks (exact duplicate, near duplicate, leakage) run on all rows; the model-based checks
(embeddings, classifiers, tokenizer) run on the first --sample rows (0 skips them). The sentence embeddings
several checks share are computed once, first, and timed as their own line ("embeddings"): the checks after it
are timed without them, so add that line to a check that uses them (semantic duplicates, label issues).
Needs ../shared/datasets. Writes benchmarks/results/audit.json (scripts/figures.py puts it in docs/figures.md).
The goal for exact + near duplicate + leakage on 100,000 rows is ≤ 60 s on a 2-core CPU; "seconds" is that sum.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

from tunewise.config import TunewiseConfig
from tunewise.data.audit import CHECKS, AuditContext
from tunewise.data.faults import FaultRates, inject
from tunewise.data.load import load_records

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import record  # noqa: E402 - benchmarks/record.py, beside this script

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def source_rows() -> list[dict]:
    with open(SHARED / "banking77" / "train.csv", newline="", encoding="utf-8") as handle:
        rows = [{"text": r["text"], "label": r["category"]} for r in csv.DictReader(handle)]
    clinc = json.loads((SHARED / "clinc150" / "data_full.json").read_text())
    for split in ("train", "val", "test", "oos_train", "oos_val", "oos_test"):
        rows += [{"text": text, "label": intent} for text, intent in clinc[split]]
    return rows


def build(target: int, folder: Path) -> tuple[Path, Path]:
    base = source_rows()
    extra = max(0.0, target / len(base) - 1)
    rows, _ = inject(
        base,
        "classification",
        FaultRates(exact_duplicate=extra * 0.3, near_duplicate=extra * 0.7, label_noise=0.0, empty=0.0, leakage=0.0),
        seed=0,
    )
    rows = rows[:target]
    data = folder / "big.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return data, SHARED / "banking77" / "test.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data, test = build(args.rows, Path(tmp))
        start = time.perf_counter()
        loaded = load_records(data)
        against = {str(test): load_records(test, columns={"label": "category"}).records}
        load_s = time.perf_counter() - start
    cfg = TunewiseConfig()
    ctx = AuditContext(
        records=loaded.records, task=loaded.task, row_ids=loaded.row_ids, settings=cfg.audit, against=against
    )
    seconds, rows_per_s = {}, {"load": len(loaded.records) / load_s}
    for name in SCALING:
        seconds[name], rows_per_s[name] = timed(name, ctx)
    total = load_s + sum(seconds.values())
    print(f"load + {' + '.join(SCALING)}: {total:.1f} s for {len(loaded.records)} rows (goal: ≤ 60 s for 100,000)")
    if args.sample:
        from tunewise.models.registry import resolve_model

        n = min(args.sample, len(loaded.records))
        sample = AuditContext(
            records=loaded.records[:n],
            task=loaded.task,
            row_ids=loaded.row_ids[:n],
            settings=cfg.audit,
            against=against,
            model_path=resolve_model(cfg.model.name),
        )
        begin = time.perf_counter()
        sample.input_embeddings()  # shared: computed once here, reused by the checks below
        rows_per_s["embeddings"] = n / (time.perf_counter() - begin)
        print(f"{'embeddings':22s} {n / rows_per_s['embeddings']:7.1f} s  {rows_per_s['embeddings']:10.0f} rows/s")
        for name in [c for c in CHECKS if c not in SCALING and c not in ("malformed", "empty")]:
            _, rows_per_s[name] = timed(name, sample)
    figures = {
        "rows": len(loaded.records),
        "load + scaling checks (s)": round(total, 1),
        "model-based sample": args.sample,
    }
    figures["rows per second"] = {name: {"rows/s": round(value)} for name, value in rows_per_s.items()}
    record("audit", figures, note="embeddings timed once as their own line; the checks after it reuse them")


SCALING = ["exact_duplicate", "near_duplicate", "leakage"]


def timed(name: str, ctx: AuditContext) -> tuple[float, float]:
    begin = time.perf_counter()
    finding = CHECKS[name]().run(ctx)
    seconds = time.perf_counter() - begin
    print(
        f"{name:22s} {seconds:7.1f} s  {len(ctx.records) / seconds:10.0f} rows/s  on {len(ctx.records)} rows, "
        f"flagged {len(finding.rows)}"
    )
    return seconds, len(ctx.records) / seconds


if __name__ == "__main__":
    main()
