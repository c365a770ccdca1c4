"""The README's test command as CI runs it: a fresh clone of the committed code, `../shared` beside it, `CI=true`,
no stdin, `bash .ci/run` (which runs `make test`: a new .venv, then the whole suite).

Usage:
  .venv/bin/python benchmarks/ci_suite.py [--keep]
Records the commit, the wall time with the install, pytest's own count and time, and the slowest tests (from the
`--durations` table `make test` prints). The clone goes to a temporary folder (kept with --keep, for its log).
The model cache is this machine's (~/.cache/tunewise or TUNEWISE_CACHE), as on a developer's machine; a failing
suite records nothing and exits 1. Writes benchmarks/results/ci_suite.json.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import REPO, record  # noqa: E402 - benchmarks/record.py, beside this script

SUMMARY = re.compile(r"^(?:=+ )?(?P<counts>\d+ passed.*?) in (?P<seconds>[\d.]+)s", re.MULTILINE)  # pytest's last line
SLOW_CALL = re.compile(r"^(?P<seconds>[\d.]+)s call\s+(?P<test>\S+)", re.MULTILINE)  # --durations, slowest first


def fresh_clone(parent: Path) -> Path:
    """A clone of the committed code (what CI sees: nothing uncommitted), with ../shared beside it."""
    clone = parent / "main"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    os.symlink(REPO.parent / "shared", parent / "shared")
    return clone


def suite_figures(log: str, seconds: float, commit: str) -> dict:
    found = list(SUMMARY.finditer(log))
    if not found:
        raise SystemExit("pytest's summary line is not in the log")
    slowest = list(SLOW_CALL.finditer(log))[:5]
    return {
        "commit": commit,
        "result": found[-1]["counts"],
        "pytest seconds": round(float(found[-1]["seconds"]), 1),
        "wall seconds with the install": round(seconds, 1),
        "slowest tests": "; ".join(f"{match['test']} {float(match['seconds']):.0f} s" for match in slowest),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the clone and its log (path printed)")
    args = parser.parse_args()
    parent = Path(tempfile.mkdtemp(prefix="tunewise-ci-"))
    keep = args.keep
    try:
        clone = fresh_clone(parent)
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=clone, capture_output=True, text=True).stdout.strip()
        started = time.perf_counter()
        done = subprocess.run(
            ["bash", ".ci/run"],
            cwd=clone,
            env={**os.environ, "CI": "true"},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        seconds = time.perf_counter() - started
        (parent / "ci.log").write_text(done.stdout, encoding="utf-8")
        print(done.stdout[-3000:])
        if done.returncode != 0:
            keep = True  # the log says why
            raise SystemExit(f"bash .ci/run exited with {done.returncode}; log: {parent / 'ci.log'}")
        record("ci_suite", suite_figures(done.stdout, seconds, commit), note="a fresh clone, CI=true, no stdin")
    finally:
        if keep:
            print(f"kept {parent}")
        else:
            shutil.rmtree(parent, ignore_errors=True)


if __name__ == "__main__":
    main()
