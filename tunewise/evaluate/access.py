"""Test-set discipline: every evaluation on a test split is recorded in its run directory, and a warning is
raised when runs beside it, configured differently, have already scored the same test set: choosing settings
by test score turns the test set into a validation set and its numbers into optimistic ones."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from pathlib import Path

from tunewise._io import atomic_write_jsonl, read_jsonl, sha256_file
from tunewise._progress import console
from tunewise.rundir import RunDir, run_name

IGNORED_SECTIONS = ("name", "output_dir", "eval")  # settings that do not change the trained model


def settings_fingerprint(config: dict) -> str:
    kept = {key: value for key, value in config.items() if key not in IGNORED_SECTIONS}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()[:16]


def record_access(run_dir: Path, test_file: Path, config: dict, command: str) -> dict:
    """Append this evaluation to run_dir/test_access.jsonl and return the entry."""
    entry = {
        "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "test_sha256": sha256_file(test_file),
        "settings": settings_fingerprint(config),
    }
    atomic_write_jsonl(RunDir(run_dir).test_access, read_log(run_dir) + [entry])
    return entry


def read_log(run_dir: Path) -> list[dict]:
    return read_jsonl(RunDir(run_dir).test_access, missing_ok=True)


def repeated_looks(run_dir: Path, entry: dict) -> list[str]:
    """Run directories beside ``run_dir`` (and itself) whose differently configured runs scored the same test.
    Hidden folders beside it (runs being built, temporary sets) are not runs yet, except ``run_dir`` itself."""
    here = run_dir.resolve()
    beside = sorted(p for p in here.parent.iterdir() if p.is_dir() and not p.name.startswith("."))
    seen: dict[str, str] = {}
    for folder in [here, *beside]:
        for other in read_log(folder):
            if other["test_sha256"] == entry["test_sha256"]:
                seen.setdefault(other["settings"], run_name(folder))
    return sorted(seen.values())


def looks_warning(run_dir: Path, entry: dict, limit: int) -> str | None:
    runs = repeated_looks(run_dir, entry)
    if len(runs) < limit:
        return None
    # a folder rerun with other settings counts once per setting but is named once
    named = [name if count == 1 else f"{name}: {count} configurations" for name, count in Counter(runs).items()]
    return (
        f"this test set has been scored by {len(runs)} differently configured runs in {run_dir.resolve().parent} "
        f"({', '.join(named[:5])}{', ...' if len(named) > 5 else ''}): picking settings by test score makes it "
        "optimistic; compare settings on validation (tunewise eval RUN --split validation) and score the test once"
    )


def record_look(cfg, run_dir: RunDir, command: str) -> list[str]:
    """Log this look at the run's test split; return a warning when the test set has been looked at too often."""
    # absolute paths, so `run` and `eval` agree; only what differs from the defaults, so a key that a later
    # tunewise adds (with its default) does not make an unchanged config count as another configuration
    entry = record_access(run_dir.root, run_dir.split_file("test"), cfg.resolved(exclude_defaults=True), command)
    warning = looks_warning(run_dir.root, entry, cfg.eval.max_test_looks)
    if warning:
        console.print(f"[yellow]warning[/] {warning}")
    return [warning] if warning else []
