"""SIGKILL at random moments (no handler runs, no cleanup): every output folder of `split` and `curate` is then the
old complete one or the new complete one, never a mix, and the next run clears what the killed one left."""

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

ATTEMPTS = 4


def _snapshot(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _complete(folder: Path, command: str) -> bool:
    files = _snapshot(folder)
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


def _command(command: str, data: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "tunewise", command, str(data), "--out", str(out)]


@pytest.mark.slow
@pytest.mark.parametrize("command", ["split", "curate"])
def test_a_killed_command_leaves_the_old_or_the_new_complete_output(command, tmp_path):
    out = tmp_path / "out"
    data = write_jsonl(tmp_path / "data.jsonl", classification_rows(copies=12))
    assert subprocess.run(_command(command, data, out), capture_output=True).returncode in (0, 1)
    before = _snapshot(out)
    draw = random.Random(20261126)
    outcomes = []
    for attempt in range(ATTEMPTS):
        write_jsonl(data, classification_rows(copies=13 + attempt))  # so that a finished run changes the output
        started = subprocess.Popen(_command(command, data, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(draw.uniform(0.5, 9.0))
        started.kill()
        started.wait()
        now = _snapshot(out)
        assert _complete(out, command), f"attempt {attempt}: a mixed folder {now}"
        outcomes.append("old" if now == before else "new")
        before = now
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert subprocess.run(_command(command, data, out), capture_output=True).returncode in (0, 1)
    assert _complete(out, command)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [], (outcomes, leftovers)
