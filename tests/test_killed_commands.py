"""SIGKILL at random moments (no handler runs, no cleanup): every output folder of `split`, `curate` and `run` is then
the old complete one or the new complete one, never a mix, and the next run clears what the killed one left (for
`run`: starts afresh beside it, unless told to --resume)."""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import classification_rows, write_jsonl
from tests.test_pipeline import make_config

ATTEMPTS = 4


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _complete(folder: Path, command: str) -> bool:
    files = _snapshot(folder)
    if command == "run":
        return _complete_run(folder, files)
    manifest = json.loads((folder / "manifest.json").read_text())
    if command == "split":
        return set(files) == {
            "train.jsonl",
            "validation.jsonl",
            "test.jsonl",
            "rejects.jsonl",
            "manifest.json",
        } and all(files[name] == digest for name, digest in manifest["outputs"].items())
    expected = {"curated.jsonl", "changelog.jsonl", "relabel_queue.jsonl", "audit.json", "manifest.json"}
    return set(files) == expected and files["curated.jsonl"] == manifest["output"]["sha256"]


def _complete_run(folder: Path, files: dict[str, str]) -> bool:
    """A finished run: its summary, report and model, and split files that are the ones its manifest names."""
    manifest = json.loads((folder / "split" / "manifest.json").read_text())
    split_files = all(files[f"split/{name}"] == digest for name, digest in manifest["outputs"].items())
    summary = json.loads((folder / "summary.json").read_text())
    return (
        split_files
        and summary["split"] == manifest["sizes"]
        and {"report/report.html", "evaluate/metrics.json", "train/result.json"} <= set(files)
        and (folder / "train" / "checkpoint").is_dir()
    )


def _command(command: str, data: Path, out: Path, config: Path | None) -> list[str]:
    source = [str(config)] if command == "run" else [str(data)]
    return [sys.executable, "-m", "tunewise", command, *source, "--out", str(out)]


@pytest.mark.slow
@pytest.mark.parametrize("command", ["split", "curate", "run"])
def test_a_killed_command_leaves_the_old_or_the_new_complete_output(command, tmp_path, request):
    out = tmp_path / "out"
    data = write_jsonl(tmp_path / "data.jsonl", classification_rows(copies=12))
    config = None
    if command == "run":  # a run of the tiny model takes about as long as the other commands
        config = make_config(tmp_path, request.getfixturevalue("tiny_model_dir"), "data.jsonl")
    started_at = time.perf_counter()
    assert subprocess.run(_command(command, data, out, config), capture_output=True).returncode in (0, 1)
    duration = time.perf_counter() - started_at  # kills are drawn over the whole of a run, its last moments too
    before = _snapshot(out)
    draw = random.Random(20261126)
    outcomes = []
    for attempt in range(ATTEMPTS):
        write_jsonl(data, classification_rows(copies=13 + attempt))  # so that a finished run changes the output
        started = subprocess.Popen(
            _command(command, data, out, config), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(draw.uniform(0.2, 1.1) * duration)
        started.kill()
        started.wait()
        now = _snapshot(out)
        assert _complete(out, command), f"attempt {attempt}: a mixed folder {now}"
        outcomes.append("old" if now == before else "new")
        before = now
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert subprocess.run(_command(command, data, out, config), capture_output=True).returncode in (0, 1)
    assert _complete(out, command)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [], (outcomes, leftovers)
