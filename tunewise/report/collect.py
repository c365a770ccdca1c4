"""Gather what a run directory holds into one plain dict for the report; missing stages are left out."""

from __future__ import annotations

import json
from pathlib import Path

from tunewise._io import read_jsonl
from tunewise.evaluate.access import read_log


def collect(run_dir: Path) -> dict:
    from tunewise.pipeline import decide_run, load_run_config

    cfg = load_run_config(run_dir)
    metrics = _json(run_dir / "evaluate" / "metrics.json")
    manifest = _json(run_dir / "split" / "manifest.json")
    task = (manifest or {}).get("task") or (metrics or {}).get("task")
    found = {
        "name": cfg.name,
        "run_dir": str(run_dir),
        "config": cfg,
        "task": task,
        "summary": _json(run_dir / "summary.json") or {},
        "metrics": metrics,
        "manifest": manifest,
        "train_log": read_jsonl(run_dir / "train" / "metrics.jsonl", missing_ok=True),
        "train_result": _json(run_dir / "train" / "result.json"),
        "audit": _audit(run_dir / "audit" / "findings.json"),
        "selection": _json(run_dir / "select" / "selection.json"),  # when model.name was auto
        "review": _json(run_dir / "review" / "results.json"),
        "review_campaign": _json(run_dir / "review" / "campaign.json"),  # created from this run's predictions
        "baseline": _json(run_dir / "baseline" / "comparison.json"),  # `tunewise compare RUN --baseline OTHER`
        "test_access": read_log(run_dir),
    }
    found["decision"] = decide_run(cfg, run_dir, task, metrics) if metrics and manifest else None
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
    found = _json(path)
    if not found:
        return None
    checks = [
        {"check": f["check"], "severity": f["severity"], "rows": len(f["rows"]), "status": f.get("status", "ok")}
        for f in found["findings"]
    ]
    return {"rows": found["rows"], "summary": found["summary"], "checks": checks, "html": "../audit/audit.html"}


def _json(path: Path):
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
