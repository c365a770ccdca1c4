"""Overfitting guards and training logs as Trainer callbacks: early stopping, metrics.jsonl, progress."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from transformers import EarlyStoppingCallback, TrainerCallback

from tunewise._io import atomic_write_jsonl, read_jsonl
from tunewise._progress import progress_bar

_WATCHERS: ContextVar[tuple[TrainerCallback, ...]] = ContextVar("watchers", default=())


@contextmanager
def watching(*callbacks: TrainerCallback) -> Iterator[None]:
    """Every training started inside this block also runs ``callbacks`` (e.g. a search's trial reporting each
    validation loss to Optuna), whichever objective trains."""
    token = _WATCHERS.set(_WATCHERS.get() + callbacks)
    try:
        yield
    finally:
        _WATCHERS.reset(token)


def watchers() -> list[TrainerCallback]:
    return list(_WATCHERS.get())


def early_stopping(train_cfg) -> list[TrainerCallback]:
    """Stop after `patience` evaluations without a validation-loss gain of at least `min_delta`."""
    if not train_cfg.early_stopping:
        return []
    return [
        EarlyStoppingCallback(early_stopping_patience=train_cfg.patience, early_stopping_threshold=train_cfg.min_delta)
    ]


class TimeSplit(TrainerCallback):
    """Where a training's wall time went: optimizer steps, validation passes, checkpoint saves, and the rest
    (batches fetched, logging, the best checkpoint reloaded at the end). The Trainer calls on_evaluate after a
    validation pass and on_save after a save, both after the step's on_step_end, so each is timed from the event
    before it. What a projection of the run's time must add up (summary.json: train.time_split)."""

    def __init__(self):
        self.seconds = {"steps": 0.0, "evaluation": 0.0, "checkpoints": 0.0}
        self.counts = {"evaluation": 0, "checkpoints": 0}
        self.steps: list[float] = []  # each optimizer step's seconds
        self._mark: float | None = None
        self._began = self._ended = None

    def on_train_begin(self, args, state, control, **kwargs):
        self._began = time.perf_counter()

    def on_step_begin(self, args, state, control, **kwargs):
        self._mark = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if self._mark is not None:
            self.steps.append(time.perf_counter() - self._mark)
        self._add("steps")

    def on_evaluate(self, args, state, control, **kwargs):
        self._add("evaluation")

    def on_save(self, args, state, control, **kwargs):
        self._add("checkpoints")

    def on_train_end(self, args, state, control, **kwargs):
        self._ended = time.perf_counter()

    def _add(self, part: str) -> None:
        now = time.perf_counter()
        if self._mark is not None:
            self.seconds[part] += now - self._mark
            if part in self.counts:
                self.counts[part] += 1
        self._mark = now

    def split(self) -> dict:
        """Seconds per part (rounded), the rest of the wall time as `other`, and how many evaluations and saves."""
        total = (self._ended or time.perf_counter()) - (self._began or time.perf_counter())
        found = {part: round(seconds, 3) for part, seconds in self.seconds.items()}
        found["other"] = round(max(0.0, total - sum(self.seconds.values())), 3)
        if self.steps:
            found["step_median"] = round(statistics.median(self.steps), 4)
        return found | {f"{part}_count": count for part, count in self.counts.items()}


class MetricsLog(TrainerCallback):
    """Rewrites metrics.jsonl (atomically) with every logged train/validation loss, by step."""

    def __init__(self, path: Path, resumed_step: int | None = None):
        self.path = path
        self.rows: list[dict] = []
        if resumed_step is not None and path.exists():  # keep what was logged up to the resumed checkpoint
            self.rows = [row for row in read_jsonl(path) if row["step"] <= resumed_step]

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or not state.is_world_process_zero:
            return
        row = {"step": state.global_step, "epoch": round(state.epoch or 0.0, 4)}
        if "loss" in logs:
            row.update(split="train", loss=logs["loss"], learning_rate=logs.get("learning_rate"))
            prefix = ""
        elif "eval_loss" in logs:
            row.update(split="validation", loss=logs["eval_loss"])
            prefix = "eval_"
        else:
            return
        if f"{prefix}rewards/accuracies" in logs:  # DPO: share of pairs whose implicit reward prefers `chosen`
            row.update(
                reward_accuracy=logs[f"{prefix}rewards/accuracies"], reward_margin=logs.get(f"{prefix}rewards/margins")
            )
        self.rows.append(row)
        atomic_write_jsonl(self.path, self.rows)


class RichProgress(TrainerCallback):
    """A progress bar over optimizer steps showing the latest train and validation loss."""

    def __init__(self):
        self._context = None
        self._losses: dict[str, float] = {}

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self._context = progress_bar("fine-tune", state.max_steps)
            self._progress, self._task = self._context.__enter__()

    def on_step_end(self, args, state, control, **kwargs):
        if self._context:
            self._progress.update(self._task, completed=state.global_step)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self._context and logs:
            for key, name in (("loss", "train"), ("eval_loss", "val")):
                if key in logs:
                    self._losses[name] = logs[key]
            note = "  ".join(f"{k} {v:.3f}" for k, v in self._losses.items())
            self._progress.update(self._task, note=note)

    def on_train_end(self, args, state, control, **kwargs):
        if self._context:
            self._context.__exit__(None, None, None)
            self._context = None
