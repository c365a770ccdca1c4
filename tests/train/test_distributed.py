"""A two-process launch on CPU (torchrun, DDP over gloo; `accelerate launch` does the same on GPUs): one run,
trained jointly, reported once."""

import json
import math
import os
import subprocess
import sys

import pytest

from tests.conftest import classification_rows, write_jsonl
from tests.test_pipeline import make_config


@pytest.mark.slow
def test_two_process_launch_trains_once_and_reports_once(tiny_model_dir, tmp_path):
    write_jsonl(tmp_path / "intents.jsonl", classification_rows())
    config = make_config(tmp_path, tiny_model_dir, "intents.jsonl", "audit:\n  in_run: false\n")
    run_dir = tmp_path / "run"
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    done = subprocess.run(
        [*launch, "-m", "tunewise", "run", str(config), "--out", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("verdict:") == 1  # only the main process evaluates and prints
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["train"]["steps"] == 6
    log = [json.loads(line) for line in (run_dir / "train" / "metrics.jsonl").read_text().splitlines()]
    steps = [(row["split"], row["step"]) for row in log]
    assert len(steps) == len(set(steps)), "each step is logged once, not once per process"
    train_rows = len((run_dir / "split" / "train.jsonl").read_text().splitlines())
    last = max(log, key=lambda row: row["step"])  # each step takes 4 examples on each of the two processes
    assert last["epoch"] == pytest.approx(6 / math.ceil(train_rows / 8), abs=0.01)
    assert (run_dir / "train" / "checkpoint" / "adapter_model.safetensors").is_file()
    assert not (run_dir / "train" / ".checkpoint.staging").exists()
