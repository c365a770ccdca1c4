"""One run against another on the same test rows: is this run's model better than the baseline run's?

Typical use: the same base model and budget trained on raw data (the baseline) and on curated data (this run).
The answer is a paired comparison of the two fine-tuned models row by row, per-slice scores of both, and what
the data audits of the two training sets found.
"""

from __future__ import annotations

import json
from pathlib import Path

from tunewise._io import atomic_write_json, read_jsonl
from tunewise.errors import TunewiseError
from tunewise.evaluate.metrics import compare_scores, headline_keys, row_scores
from tunewise.evaluate.slices import slice_fields, slice_metrics
from tunewise.rundir import RunDir


def compare_runs(run_dir: Path, baseline_dir: Path, curation: Path | None = None) -> dict:
    """Write run_dir/baseline/comparison.json and return it."""
    run, baseline = _evaluated(run_dir), _evaluated(baseline_dir)
    if run["task"] == "preference":
        raise TunewiseError(f"{run_dir}: preference runs are compared by their reward accuracy, not by `compare`")
    if run["task"] != baseline["task"]:
        raise TunewiseError(f"{baseline_dir}: a {baseline['task']} run; {run_dir} is a {run['task']} run")
    keys = [(row["input"], json.dumps(row["reference"])) for row in run["rows"]]
    if keys != [(row["input"], json.dumps(row["reference"])) for row in baseline["rows"]]:
        raise TunewiseError(
            f"{run_dir} and {baseline_dir} were scored on different test rows (same test file and eval.max_rows "
            "are needed for a paired comparison)"
        )
    task = run["task"]
    references = [row["reference"] for row in run["rows"]]
    ours = row_scores(task, references, [row["tuned"] for row in run["rows"]])
    theirs = row_scores(task, references, [row["tuned"] for row in baseline["rows"]])
    comparison = compare_scores(task, theirs, ours)
    if "only_base_right" in comparison:  # McNemar's counts, named for this use
        comparison["only_baseline_right"] = comparison.pop("only_base_right")
        comparison["only_run_right"] = comparison.pop("only_tuned_right")
    found = {
        "run": str(run_dir),
        "baseline": str(baseline_dir),
        "task": task,
        "metrics": {key: {"run": _metric(run, key), "baseline": _metric(baseline, key)} for key in headline_keys(task)},
        "comparison": comparison,
        "slices": _paired_slices(run["rows"], ours, theirs, task),
        "audits": {
            "run": _audit_summary(RunDir(run_dir).findings),
            # the baseline's data audit: its run's own, else the audit the curation acted on (the raw data's)
            "baseline": _audit_summary(RunDir(baseline_dir).findings)
            or (_audit_summary(Path(curation) / "audit.json") if curation else None),
        },
        "curation": _curation(curation) if curation else None,
    }
    atomic_write_json(RunDir(run_dir).comparison, found)
    return found


def _evaluated(run_dir: Path) -> dict:
    predictions, metrics = RunDir(run_dir).predictions(), RunDir(run_dir).metrics()
    if not predictions.is_file() or not metrics.is_file():
        raise TunewiseError(f"{run_dir}: not an evaluated run (no evaluate/predictions.jsonl and metrics.json)")
    found = json.loads(metrics.read_text())
    return {"rows": read_jsonl(predictions), "metrics": found, "task": found["task"]}


def _metric(run: dict, key: str) -> dict:
    tuned = run["metrics"]["tuned"]
    return {"value": tuned[key], "ci": tuned.get(f"{key}_ci")}


def _paired_slices(rows: list[dict], ours: list[float], theirs: list[float], task: str) -> list[dict]:
    if task == "classification":  # a prediction row holds the label as its reference
        rows = [{"label": row["reference"], "meta": row.get("meta") or {}} for row in rows]
    fields = slice_fields(rows, task, None)
    run_slices = {(s["field"], s["value"]): s for s in slice_metrics(rows, ours, fields)}
    found = []
    for base in slice_metrics(rows, theirs, fields):
        mine = run_slices[(base["field"], base["value"])]
        found.append(
            {
                "field": base["field"],
                "value": base["value"],
                "n": base["n"],
                "run": mine["score"],
                "run_ci": mine["ci"],
                "baseline": base["score"],
                "baseline_ci": base["ci"],
                "gain": mine["score"] - base["score"],
            }
        )
    return sorted(found, key=lambda s: (s["field"] != "label", s["field"], s["gain"]))


def _audit_summary(path: Path) -> dict | None:
    if not path.is_file():
        return None
    found = json.loads(path.read_text())
    return {
        "rows": found["rows"],
        "flagged_rows": found["summary"]["flagged_rows"],
        "checks": {f["check"]: len(f["rows"]) for f in found["findings"] if f["rows"]},
    }


def _curation(folder: Path) -> dict:
    path = Path(folder) / "manifest.json"
    if not path.is_file():
        raise TunewiseError(f"{folder}: no manifest.json (a folder written by `tunewise curate --out`)")
    manifest = json.loads(path.read_text())
    return {
        "rows_in": manifest["input"]["rows"],
        "rows_out": manifest["output"]["rows"],
        "actions": manifest["actions"],
        "changelog": str(Path(folder) / "changelog.jsonl"),
        "added_labelled": _labelled_pool(Path(folder), manifest.get("added_labelled")),
    }


def _labelled_pool(folder: Path, added: dict | None) -> dict | None:
    """What a curation took from a label campaign (`curate --add-labelled`): the rows asked, added and kept out,
    how often the reviewers took the suggested label, and the labels that got the most new rows."""
    if not added:
        return None
    from collections import Counter

    from tunewise._io import read_jsonl

    source = Path(added["source"]) if added.get("source") else None
    exported = read_jsonl(source) if source is not None and source.is_file() else []
    answered = [row for row in exported if row.get("status") == "labelled"]
    label_of = {str(row.get("id")): row.get("label") for row in answered}
    changes = read_jsonl(folder / "changelog.jsonl")
    per_label = Counter(label_of.get(str(c["detail"].get("id")), "?") for c in changes if c["reason"] == "pool_label")
    taken = sum(row.get("label") == row.get("suggested_label") for row in answered)
    gained = sorted(
        (
            (label, pair[0], pair[1])
            for label, pair in (added.get("distinct_inputs") or {}).items()
            if pair[1] > pair[0]
        ),
        key=lambda g: (g[1], g[0]),
    )
    return added | {
        "asked": len(exported) or None,
        "suggestion_taken": round(taken / len(answered), 4) if answered else None,
        "labels_given": len(per_label),
        "most_added": per_label.most_common(10),
        "gained": gained,  # (label, distinct inputs before, after) for every label that gained, thinnest first
    }
