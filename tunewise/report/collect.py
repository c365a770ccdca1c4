"""Gather what a run directory holds into one plain dict for the report; missing stages are left out."""

from __future__ import annotations

from pathlib import Path

from tunewise._io import read_jsonl
from tunewise.evaluate.access import read_log
from tunewise.evaluate.verdict import decide_run
from tunewise.rundir import RunDir, read_json


def collect(run_dir: Path, shown_as: Path | None = None) -> dict:
    run = RunDir(run_dir)
    cfg = run.load_config()
    metrics, manifest = read_json(run.metrics()), read_json(run.manifest)
    task = (manifest or {}).get("task") or (metrics or {}).get("task")
    found = {
        "name": cfg.name,
        "run_dir": str(shown_as or run_dir),
        "config": cfg,
        "task": task,
        "summary": read_json(run.summary) or {},
        "metrics": metrics,
        "manifest": manifest,
        "train_log": read_jsonl(run.train_log, missing_ok=True),
        "train_result": read_json(run.train_result),
        "audit": _audit(run.findings),
        "selection": read_json(run.selection),  # when model.name was auto
        "tuning": read_json(run.tune / "tuning.json"),  # when `tunewise tune` chose the setting
        "review": read_json(run.review_results),
        "review_campaign": read_json(run.review_campaign),  # created from this run's predictions
        "baseline": read_json(run.comparison),  # `tunewise compare RUN --baseline OTHER`
        "test_access": read_log(run_dir),
        "tune_plots": {p.stem: p.read_bytes() for p in sorted(run.tune.glob("*.png"))},
    }
    found["decision"] = decide_run(cfg, run, task, metrics) if metrics and manifest else None
    if metrics and task == "classification":
        found["top_confusions"] = top_confusions(metrics["tuned"]["confusion"])
    return found


def top_confusions(confusion: dict, limit: int = 10) -> list[dict]:
    """The most frequent (true → predicted) mistakes."""
    labels, matrix = confusion["labels"], confusion["matrix"]
    mistakes = [
        {"true": labels[i], "predicted": labels[j], "count": count}
        for i, row in enumerate(matrix)
        for j, count in enumerate(row)
        if i != j and count
    ]
    return sorted(mistakes, key=lambda m: -m["count"])[:limit]


def _audit(path: Path) -> dict | None:
    found = read_json(path)
    if not found:
        return None
    checks = [
        {"check": f["check"], "severity": f["severity"], "rows": len(f["rows"]), "status": f.get("status", "ok")}
        for f in found["findings"]
    ]
    return {"rows": found["rows"], "summary": found["summary"], "checks": checks, "html": "../audit/audit.html"}
