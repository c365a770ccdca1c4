"""What a candidate costs: its size, the memory it needs, how fast it trains and answers, and the serving
price per 1,000 requests that follows from its measured throughput."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from transformers import TrainerCallback

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")


def parameter_count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def disk_bytes(model_path: str) -> int | None:
    """Bytes of weight files in a local model folder (None for a hub id: its files are not ours to measure)."""
    folder = Path(model_path)
    if not folder.is_dir():
        return None
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES))


def peak_memory_bytes() -> int | None:
    """This process's peak so far: GPU memory allocated by torch on CUDA, the resident set size on a CPU.

    Candidates are measured in a fresh process each, so the peak is theirs (plus the Python and torch runtime,
    about 0.5 GB on a CPU)."""
    import torch

    if torch.cuda.is_available():
        return int(torch.cuda.max_memory_allocated())
    if sys.platform.startswith("linux"):
        return _linux_high_water_mark()
    try:
        import resource
    except ImportError:  # Windows
        return None
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # macOS reports bytes


def _linux_high_water_mark() -> int:
    """VmHWM: the peak resident set of this process image only. Linux carries ``ru_maxrss`` over fork and exec,
    so a spawned child of a 6 GB parent would report the parent's 6 GB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # kB
    raise RuntimeError("/proc/self/status has no VmHWM line")


def seconds_per_1k(rows_per_second: float) -> float:
    return 1000 / rows_per_second if rows_per_second > 0 else float("inf")


def cost_per_1k(rows_per_second: float, price_per_hour: float) -> float:
    """Serving cost of 1,000 requests on a machine rented at ``price_per_hour``, answering at the measured rate."""
    return seconds_per_1k(rows_per_second) * price_per_hour / 3600


class StepTimer(TrainerCallback):
    """Time spent inside optimizer steps only (no evaluation, saving or start-up), for tokens per second."""

    def __init__(self):
        self.durations: list[float] = []  # one per optimizer step
        self._started: float | None = None

    @property
    def seconds(self) -> float:
        return sum(self.durations)

    def on_step_begin(self, args, state, control, **kwargs):
        self._started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if self._started is not None:
            self.durations.append(time.perf_counter() - self._started)
            self._started = None

    def steady_step_seconds(self) -> float | None:
        """The median optimizer step after the first (which pays for first-call set-up): what a long run's steps
        take. None without steps."""
        import statistics

        steady = self.durations[1:] or self.durations
        return statistics.median(steady) if steady else None


def projected_train_seconds(cfg, candidate, found: dict, full_run: dict) -> float | None:
    """How long the full run would train this candidate, from its probe: the probe's median optimizer step (the
    candidate's own batch) times the steps the run's settings (epochs or max_steps, batch) take, plus a validation
    pass every eval_steps at the probe's measured rate on the validation rows. Early stopping can only make it
    shorter. A baseline's fit scales with the rows it embeds and fits. None when the probe measured no time."""
    import math

    examples, seconds = found.get("examples") or 0, found.get("train_seconds")
    if not examples or not seconds:
        return None
    rows = full_run["train_rows"]
    if not candidate.trains:
        return seconds * rows / examples
    train = cfg.train
    batch = train.batch_size * train.gradient_accumulation
    steps = train.max_steps or math.ceil(math.ceil(rows / batch) * train.epochs)
    per_step = found.get("step_seconds") or seconds / examples * batch  # the steady step; else the probe's average
    validation_rows = min(train.validation_rows or full_run["validation_rows"], full_run["validation_rows"])
    rate = found.get("rows_per_second") or 0
    evaluation_seconds = (steps // train.eval_steps) * validation_rows / rate if rate else 0.0
    return steps * per_step + evaluation_seconds
