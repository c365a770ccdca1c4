"""What a candidate costs: its size, the memory it needs, how fast it trains and answers, and the serving
price per 1,000 requests that follows from its measured throughput."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
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


def seconds_per_1k(rows_per_second: float) -> float:
    return 1000 / rows_per_second if rows_per_second > 0 else float("inf")


def cost_per_1k(rows_per_second: float, price_per_hour: float) -> float:
    """Serving cost of 1,000 requests on a machine rented at ``price_per_hour``, answering at the measured rate."""
    return seconds_per_1k(rows_per_second) * price_per_hour / 3600


class StepTimer(TrainerCallback):
    """Time spent inside optimizer steps only (no evaluation, saving or start-up), for tokens per second; with
    ``counting`` around the Trainer's collator, also each step's padded tokens (what a step's time grows with)."""

    def __init__(self):
        self.durations: list[float] = []  # one per optimizer step
        self.batches: list[int] = []  # padded tokens of each batch made, in order (where the collator is counted)
        self._accumulation = 1
        self._started: float | None = None

    @property
    def seconds(self) -> float:
        return sum(self.durations)

    def counting(self, collator):
        """``collator``, counting the padded tokens of every batch it makes. Batches are made in training order
        (accelerate's loader makes one ahead, so the count is matched to steps by position, not by time)."""

        def collate(features):
            batch = collator(features)
            self.batches.append(int(batch["input_ids"].numel()))
            return batch

        return collate

    @property
    def tokens(self) -> list[int]:
        """Padded tokens per optimizer step: its ``gradient_accumulation`` batches (empty where not counted)."""
        size = self._accumulation
        return (
            [sum(self.batches[i * size : (i + 1) * size]) for i in range(len(self.durations))] if self.batches else []
        )

    def on_train_begin(self, args, state, control, **kwargs):
        self._accumulation = args.gradient_accumulation_steps

    def on_step_begin(self, args, state, control, **kwargs):
        self._started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if self._started is not None:
            self.durations.append(time.perf_counter() - self._started)
            self._started = None

    def steady_step_seconds(self) -> float | None:
        """The median optimizer step after the first (which pays for first-call set-up). None without steps."""
        import statistics

        steady = self.durations[1:] or self.durations
        return statistics.median(steady) if steady else None

    def step_model(self) -> dict | None:
        """A step's seconds as ``fixed + per_token x padded tokens``, fitted (least squares) on the steps after the
        first. A length-grouped batch of long rows takes several times a short one's, so the median step
        misjudges a run whose batches differ from the probe's; this does not. None without counted tokens or
        with fewer than 3 steady steps. Where noise hides the length effect (a slope or an intercept below 0),
        the steps' mean time per token, with no fixed part."""
        if len(self.durations) < 4 or not self.batches:
            return None
        tokens, seconds = np.array(self.tokens[1:], dtype=float), np.array(self.durations[1:])
        if np.ptp(tokens) > 0:
            per_token, fixed = np.polyfit(tokens, seconds, 1)
            if per_token > 0 and fixed >= 0:
                return {"fixed": float(fixed), "per_token": float(per_token)}
        return {"fixed": 0.0, "per_token": float(seconds.sum() / tokens.sum())} if tokens.sum() else None


def length_counts(examples: list[dict]) -> dict[str, int]:
    """How many tokenised examples have each length (a compact record of the probe's rows, for the projection)."""
    from collections import Counter

    return {str(length): count for length, count in sorted(Counter(len(e["input_ids"]) for e in examples).items())}


def mean_step_tokens(
    counts: dict[str, int], rows: int, batch: int, accumulation: int, grouped: bool, packed: bool, seed: int = 0
) -> float:
    """The padded tokens of the full run's average optimizer step: ``rows`` lengths drawn from the probe's
    (``counts``), batched as the Trainer would (length-grouped mega-batches as transformers'
    get_length_grouped_indices makes them, or a random order; packed: no padding), ``accumulation`` batches a
    step."""
    rng = np.random.default_rng(seed)
    lengths = np.repeat([int(k) for k in counts], list(counts.values()))
    drawn = rng.choice(lengths, size=rows, replace=True)
    if packed:
        return float(drawn.sum()) / max(1, math.ceil(rows / batch)) * accumulation
    order = rng.permutation(rows)
    if grouped:
        mega = max(1, min(rows // (batch * 4), 50)) * batch
        order = np.concatenate([sorted(order[i : i + mega], key=lambda j: -drawn[j]) for i in range(0, rows, mega)])
    padded = [len(chunk) * int(drawn[chunk].max()) for chunk in (order[i : i + batch] for i in range(0, rows, batch))]
    return float(np.mean(padded)) * accumulation


def projected_train_seconds(cfg, candidate, found: dict, full_run: dict) -> float | None:
    """How long the full run would train this candidate, from its probe: the steps the run's settings (epochs or
    max_steps, batch) take, each at the probe's fitted ``fixed + per_token x padded tokens`` for the run's average
    step (its rows batched as the Trainer batches them), or else at the probe's median step; plus a validation
    pass every eval_steps at the probe's measured rate on the validation rows. Early stopping can only make it
    shorter. A baseline's fit scales with the rows it embeds and fits. None when the probe measured no time."""
    examples, seconds = found.get("examples") or 0, found.get("train_seconds")
    if not examples or not seconds:
        return None
    rows = full_run["train_rows"]
    if not candidate.trains:
        return seconds * rows / examples
    train = cfg.train
    batch = train.batch_size * train.gradient_accumulation
    steps = train.max_steps or math.ceil(math.ceil(rows / batch) * train.epochs)
    model, counts = found.get("step_model"), found.get("length_counts")
    if model and counts:
        tokens = mean_step_tokens(
            counts,
            rows,
            train.batch_size,
            train.gradient_accumulation,
            train.group_by_length,
            train.batching == "packed" and candidate.objective == "generate",
            cfg.seed,
        )
        per_step = model["fixed"] + model["per_token"] * tokens
    else:  # the steady step; else the probe's average
        per_step = found.get("step_seconds") or seconds / examples * batch
    validation_rows = min(train.validation_rows or full_run["validation_rows"], full_run["validation_rows"])
    rate = found.get("rows_per_second") or 0
    evaluation_seconds = (steps // train.eval_steps) * validation_rows / rate if rate else 0.0
    return steps * per_step + evaluation_seconds


def planned_memory(cfg, candidate, splits: dict, task: str) -> dict | None:
    """The memory plan of a candidate's full run on this device (`tunewise.train.plan`): the peak its training is
    planned to need with the run's settings, and whether that fits. None for a baseline, or for a model whose
    config the plan cannot read (it trains unplanned, as in a run)."""
    if not candidate.trains:
        return None
    from tunewise.models.loading import model_and_renderer
    from tunewise.train.plan import plan_run

    model_path, renderer = model_and_renderer(cfg)
    try:
        found = plan_run(cfg, model_path, renderer, splits, task)
    except Exception:  # noqa: BLE001 - a config the plan cannot read: unplanned, not an error
        return None
    return {
        "planned_peak_bytes": found["plan"]["total"],
        "fits": found["plan"]["fits"],
        "device": found["device"],
        "device_memory": found["device_memory"],
        "method": found["plan"]["method"],
        "checkpointing": found["plan"]["checkpointing"],
    }
