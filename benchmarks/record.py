"""What every benchmark leaves behind: its figures with the date, the machine and the command that produced them,
as benchmarks/results/NAME.json. scripts/figures.py builds docs/figures.md from these files, and the README
quotes that page: a figure no script wrote has no place there."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parents[1]


def machine() -> dict:
    """The hardware and software a figure was measured on (what changes a speed figure)."""
    import torch

    lines = _cpuinfo().splitlines()  # read once: the model name and the flags come from the same file
    cpu = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), platform.processor())
    flags = set(next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), []))
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "cpu_features": sorted(flags & {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def command() -> str:
    script = Path(sys.argv[0]).resolve()
    shown = script.relative_to(REPO) if script.is_relative_to(REPO) else script
    text = " ".join([".venv/bin/python", str(shown), *sys.argv[1:]])
    return re.sub(r"(://[^:/@\s]+:)[^@\s]+@", r"\1***@", text)  # a database password never goes into a results file


def record(name: str, figures: dict, note: str = "") -> Path:
    """Write benchmarks/results/NAME.json (replacing the last run of the same benchmark and variant)."""
    RESULTS.mkdir(exist_ok=True)
    data = {
        "benchmark": name,
        "date": dt.date.today().isoformat(),
        "command": command(),
        "machine": machine(),
        "note": note,
        "figures": figures,
    }
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    print(f"wrote {path.relative_to(REPO)}")
    return path
