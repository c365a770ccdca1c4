"""What running one command costs: its exit code, its stdout, its wall time and its peak memory."""

from __future__ import annotations

import os
import subprocess
import time

from record import REPO


def run_measured(command: list[str], env: dict | None = None, capture: bool = False) -> tuple[int, str, float, float]:
    """Run ``command`` in the repository: (exit code, stdout if ``capture`` else "", wall seconds, peak RSS in GiB
    of its largest process). ``os.wait4`` gives this command's own usage, its children included; RUSAGE_CHILDREN
    would keep the largest of every command this process has run."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE if capture else None, text=True)
    stdout = process.stdout.read() if capture else ""  # read to the end before waiting: a full pipe would block it
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait for it again
    if capture:
        process.stdout.close()
    return process.returncode, stdout, seconds, usage.ru_maxrss / 1024**2  # kB on Linux
