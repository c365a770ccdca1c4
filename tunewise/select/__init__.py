"""Base-model selection: every candidate gets the same probe on the task's own data (the same training examples,
seen once, and the same validation rows), its cost is measured, and one is recommended on quality and cost, with
reasons. Candidates span families (see `tunewise.select.candidates`): cheap baselines that need no fine-tune,
the encoder, and decoders with a classification head or generating text; decoders also get the prior-fit
measurements (zero- and few-shot scores, bits per byte).

The probe budget is counted in training examples, not wall-clock seconds: a time budget would depend on the
machine and its load (the ranking would not reproduce, nor the cache carry over), and the full run gives every
candidate all the rows, whatever its speed. Speed is measured and enters as cost.

out/
  split/          the run's split (the probe reads train and validation, never test)
  selection.json  every candidate's measurements, the ranking, the pick and the reasons
  selection.png   validation score vs serving cost (Pareto front), and the scores before and after the probe

Measurements are cached per (candidate, data, settings, machine) under <cache>/select/, one file per phase,
so adding a candidate measures only the new one and an interrupted selection resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import random
from collections import defaultdict
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from tunewise._format import duration
from tunewise._io import atomic_write_files, atomic_write_json, json_text, sha256_file
from tunewise._progress import console
from tunewise.config import TunewiseConfig
from tunewise.data.formats import classifier_text, input_text, to_conversation
from tunewise.data.split import class_labels, write_split
from tunewise.errors import TunewiseError
from tunewise.evaluate.metrics import headline_keys
from tunewise.models.loading import model_and_renderer
from tunewise.models.registry import run_cache_dir
from tunewise.report.plots import selection_plot
from tunewise.rundir import SELECTION
from tunewise.select.candidates import Candidate, default_candidates, parse_candidate
from tunewise.select.cost import cost_per_1k, planned_memory, projected_train_seconds, seconds_per_1k
from tunewise.select.rank import rank

PHASES = ("prior", "probe")
# the train settings the probe uses (it sets its own steps, and neither evaluates nor stops early)
PROBE_TRAIN_SETTINGS = {
    "method",
    "batch_size",
    "gradient_accumulation",
    "learning_rate",
    "weight_decay",
    "warmup_ratio",
    "lr_scheduler",
    "precision",
    "batching",
    "group_by_length",
    "attention",
    "neftune_alpha",
    "lora",
    "objective",
    "encoder",
}


def select_base_model(cfg: TunewiseConfig, out: Path) -> dict:
    """Measure every candidate of cfg.select (cached), rank them and write out/selection.json and .png."""
    if "auto" in (cfg.select.candidates or []):
        raise TunewiseError("select.candidates: 'auto' is not a model (list the models to compare)")
    splits, task = write_split(cfg, out / "split")
    if task == "preference":
        raise TunewiseError("select: preference data is not supported yet (classification and generation are)")
    objective = cfg.train.objective_for(task)
    names, compared = cfg.select.candidates, "the candidates listed in select.candidates"
    if names is None:
        names, compared = default_candidates(task)
    candidates = [parse_candidate(name, task, objective) for name in dict.fromkeys(names)]
    console.print(f"select: comparing {', '.join(c.name for c in candidates)} ({compared})")
    data = probe_data(cfg, splits, task)
    full_run = {"train_rows": len(splits["train"]), "validation_rows": len(splits["validation"])}
    measured = [measure_candidate(cfg, candidate, data, full_run) for candidate in candidates]
    for candidate, found in zip(candidates, measured, strict=True):
        found["train_memory"] = planned_memory(candidate_config(cfg, candidate), candidate, splits, task)
    metric = headline_keys(task)[0]
    chance = chance_score(data) if task == "classification" else None
    selection = {
        "task": task,
        "metric": metric,
        "compared": compared,
        "chance": chance,
        "price_per_hour": cfg.select.price_per_hour,
        "currency": cfg.select.currency,
        "validation_rows": len(data["validation"]),
        "probe_examples": len(data["probe"]),
        **rank(measured, task, metric, chance),
        "candidates": measured,
    }
    selection["reasons"].insert(1, f"Compared {', '.join(c.name for c in candidates)}: {compared}.")
    atomic_write_files({out / SELECTION: json_text(selection), out / "selection.png": selection_plot(selection)})
    return selection


def probe_data(cfg: TunewiseConfig, splits: dict, task: str) -> dict:
    """What every candidate is measured on, drawn once with the config's seed: the probe's training examples
    (spread across labels for classification), the validation rows, the few-shot examples and the texts of
    the prior fit."""

    def pairs(rows):
        return [list(to_conversation(r, task, cfg.model.instruction, cfg.data.train_on)) for r in rows]

    rng = random.Random(cfg.seed)
    train = _spread_across_labels(splits["train"], task, rng)
    probe = train[: probe_size(cfg, splits["train"], task)]
    validation = rng.sample(splits["validation"], min(cfg.select.validation_rows, len(splits["validation"])))
    shots = _shots(train, task, cfg.select.few_shot)
    labels = None
    if task == "classification":
        labels = class_labels(cfg, splits)
    prior = pairs(train[: cfg.select.prior_rows])

    def texts(rows):  # what a head or a baseline reads
        if task == "classification":
            return [classifier_text(r, cfg.model.instruction) for r in rows]
        return [input_text(r, task) for r in rows]

    return {
        "task": task,
        "labels": labels,
        "probe": pairs(probe),
        "validation": pairs(validation),
        "texts": {"probe": texts(probe), "validation": texts(validation)},
        "shots": pairs(shots),
        "prior_texts": ["\n".join([*(m["content"] for m in messages), answer]) for messages, answer in prior],
    }


def probe_size(cfg: TunewiseConfig, train: list[dict], task: str) -> int:
    """How many training examples the probe trains on: probe_steps batches, and for classification at least
    probe_per_class examples of every class (of those the split has), up to probe_max_examples."""
    wanted = cfg.select.probe_steps * math.prod(cfg.train.fixed_batch)
    if task == "classification":
        per_class = defaultdict(int)
        for row in train:
            per_class[row["label"]] += 1
        covered = sum(min(count, cfg.select.probe_per_class) for count in per_class.values())
        wanted = max(wanted, min(covered, cfg.select.probe_max_examples))
        if covered > cfg.select.probe_max_examples:
            console.print(
                f"[yellow]note[/] the probe trains on {cfg.select.probe_max_examples} examples (select."
                f"probe_max_examples), fewer than {cfg.select.probe_per_class} of each of {len(per_class)} classes"
            )
    return min(wanted, len(train))


def chance_score(data: dict) -> float:
    """The validation accuracy of always answering the most common validation label: a probe score whose interval
    reaches it is indistinguishable from chance."""
    answers = [answer for _, answer in data["validation"]]
    return max(answers.count(label) for label in set(answers)) / len(answers)


def measure_candidate(cfg: TunewiseConfig, candidate: Candidate, data: dict, full_run: dict | None = None) -> dict:
    """Each phase of one candidate, from the cache or measured in a fresh process; plus derived costs, and the
    projected training time of the full run (``full_run``: the training and validation split sizes)."""
    from tunewise.select.measure import UNMEASURED, isolated

    candidate_cfg = candidate_config(cfg, candidate)
    model_path, _ = model_and_renderer(candidate_cfg)  # prepares a registry model here, not in the measurement
    folder = _cache_root(cfg) / cache_key(candidate_cfg, candidate.name, model_path, data)
    found: dict = dict(UNMEASURED)
    for phase, function in _phases(candidate):
        path = folder / f"{phase}.json"
        if path.is_file():
            found.update(json.loads(path.read_text()))
            console.print(f"{candidate.name}: {phase} measurements from the cache ({path.parent})")
            continue
        console.print(f"[bold]{candidate.name}[/]: {PHASE_TITLES[phase]}")
        result = isolated(function, candidate_cfg, model_path, data)
        atomic_write_json(path, result)
        found.update(result)
    rate = found["rows_per_second"]
    return {
        "name": candidate.name,
        "model": candidate.model,
        "kind": candidate.kind,
        "objective": candidate.objective,
        **found,
        "probe_budget": {"steps": found["steps"], "examples": found["examples"]},
        "seconds_per_1k": seconds_per_1k(rate),
        "cost_per_1k": cost_per_1k(rate, cfg.select.price_per_hour),
        "projected_train_seconds": projected_train_seconds(candidate_cfg, candidate, found, full_run)
        if full_run
        else None,
    }


PHASE_TITLES = {"prior": "prior fit and inference cost", "probe": "probe (fine-tune or fit on the probe examples)"}


def _phases(candidate: Candidate) -> list[tuple[str, object]]:
    """What is measured of a candidate: a decoder's prior fit, then everyone's probe (the serving figures of
    the probe, where it has them, replace the prior's: a head is served, not the untuned model's text)."""
    from tunewise.select import measure

    if candidate.kind == "baseline":
        return [("probe", measure.probe_embedding_lr if candidate.name == "embedding_lr" else measure.probe_retrieval)]
    probe = measure.probe_head if candidate.objective == "classify" else measure.probe_fine_tune
    if candidate.kind == "encoder":
        return [("probe", probe)]
    return [("prior", measure.prior_fit), ("probe", probe)]


def candidate_config(cfg: TunewiseConfig, candidate: Candidate) -> TunewiseConfig:
    """The config a candidate is measured (and, if picked, trained) with: its model and objective, and for the
    encoder its own recipe (train.encoder)."""
    found = cfg.model_copy(deep=True)
    found.model.name = candidate.model
    if candidate.kind == "encoder":
        found.train = found.train.for_encoder()
    elif candidate.kind == "decoder":
        found.train.objective = candidate.objective
    # train.batch_size: auto is resolved per device when the run trains; the probe (and the projection from it)
    # runs its effective batch at its own size, the same on every machine
    found.train.batch_size, found.train.gradient_accumulation = found.train.fixed_batch
    return found


def cache_key(cfg: TunewiseConfig, name: str, model_path: str, data: dict) -> str:
    """What the measurements depend on: the model's files, the data, every setting that changes the probe or the
    predictions, and the machine (speed and memory are measured figures)."""
    from tunewise.select.measure import VERSION

    settings = {
        "model": _model_fingerprint(model_path),
        "data": hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest(),
        "prompt": cfg.model.model_dump(exclude={"name", "cache_dir"}),
        "train": cfg.train.model_dump(include=PROBE_TRAIN_SETTINGS),
        "eval": cfg.eval.model_dump(include={"batch_size", "precision", "max_new_tokens"}),
        "select": cfg.select.model_dump(include={"probe_steps", "few_shot", "latency_rows"}),
        "seed": cfg.seed,
        "machine": [platform.machine(), platform.processor(), os.cpu_count(), _gpu_name()],
        "versions": [VERSION, *(_version(p) for p in ("tunewise", "torch", "transformers", "peft"))],
    }
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"{_slug(name)}-{digest}"


def with_selected_model(cfg: TunewiseConfig, out: Path) -> tuple[TunewiseConfig, dict]:
    """For model.name: auto, the config with the selection's pick as its model (and objective), and the selection.
    When the pick is a baseline, the run fine-tunes the best candidate that trains (``train_pick``)."""
    selection = select_base_model(cfg, out)
    chosen = next(c for c in selection["candidates"] if c["name"] == selection["train_pick"])
    if chosen["kind"] == "baseline":
        raise TunewiseError(
            f"select.candidates: only baselines, so model.name: auto has nothing to fine-tune ({selection['pick']} "
            "is the pick: ship it); add a model that trains, e.g. minilm-l6 or smollm2-135m-instruct"
        )
    check_train_budget(cfg, selection, chosen)
    picked = cfg.model_copy(deep=True)
    picked.model.name = chosen["model"]
    if chosen["kind"] == "decoder":
        picked.train.objective = chosen["objective"]
    pick = next(c for c in selection["candidates"] if c["name"] == selection["pick"])
    if selection["train_pick"] != selection["pick"] and pick["kind"] == "baseline":
        console.print(
            f"selection: {selection['pick']} needs no fine-tune and is as good within the noise; the run fine-tunes "
            f"{selection['train_pick']}, the best candidate that trains, and checks it against the baselines"
        )
    elif selection["train_pick"] != selection["pick"]:
        console.print(
            f"selection: {selection['pick']}'s full run does not fit this device's memory; the run fine-tunes "
            f"{selection['train_pick']}, the best candidate that fits"
        )
    console.print(f"model.name: auto → {chosen['model']} ({out / 'selection.json'})")
    if chosen.get("projected_train_seconds"):
        console.print(
            f"projected training time: {duration(chosen['projected_train_seconds'])} at the probe's measured speed "
            "(early stopping can only shorten it)"
        )
    return picked, selection


def check_train_budget(cfg: TunewiseConfig, selection: dict, chosen: dict) -> None:
    """Refuse, in one line and before any training, a pick projected to train longer than select.max_train_minutes;
    name the best candidate that fits (or the pick, when that is a baseline that needs no fine-tune)."""
    limit = cfg.select.max_train_minutes
    projected = chosen.get("projected_train_seconds")
    if limit is None or projected is None or projected <= 60 * limit:
        return
    fits = [
        c
        for c in selection["candidates"]
        if c["kind"] != "baseline" and c.get("projected_train_seconds") and c["projected_train_seconds"] <= 60 * limit
    ]
    by_name = {c["name"]: c for c in selection["candidates"]}
    pick = by_name[selection["pick"]]
    if pick["kind"] == "baseline":
        instead = f"{pick['name']} needs no fine-tune and is the pick: ship it"
    elif fits:
        best = max(fits, key=lambda c: c["probe"]["score"])
        instead = (
            f"{best['name']} is projected at {duration(best['projected_train_seconds'])} (validation "
            f"{best['probe']['score']:.3f} against {chosen['probe']['score']:.3f}): set model.name: {best['model']}"
        )
    else:
        instead = "no candidate that trains fits: raise the limit, or cap train.epochs or train.max_steps"
    raise TunewiseError(
        f"select.max_train_minutes: {limit:g}: {chosen['name']} is projected to train for "
        f"{duration(projected)}; {instead}"
    )


def _spread_across_labels(rows: list[dict], task: str, rng: random.Random) -> list[dict]:
    """Seeded shuffle; for classification, labels taken in turn so that any prefix covers them evenly."""
    shuffled = rows[:]
    rng.shuffle(shuffled)
    if task != "classification":
        return shuffled
    by_label: dict[str, list[dict]] = defaultdict(list)
    for row in shuffled:
        by_label[row["label"]].append(row)
    queues = [by_label[label] for label in sorted(by_label)]
    return [queue[i] for i in range(max(map(len, queues))) for queue in queues if i < len(queue)]


def _shots(train: list[dict], task: str, count: int) -> list[dict]:
    """Few-shot examples from the end of the shuffled training order (so, on a large split, not among the probe's
    examples), with different labels for classification."""
    shots, seen = [], set()
    for row in reversed(train):
        if len(shots) == count:
            break
        label = row.get("label") if task == "classification" else None
        if label is None or label not in seen:
            shots.append(row)
            seen.add(label)
    return shots


def _model_fingerprint(model_path: str) -> dict | str:
    """The folder and its files: small ones by content, weights by size and modification time (two fine-tunes
    of one architecture have weight files of the same size)."""
    folder = Path(model_path)
    if not folder.is_dir():
        return model_path  # a hub id
    files = sorted(p for p in folder.iterdir() if p.is_file())
    weights = (".safetensors", ".bin")
    found = {
        p.name: [p.stat().st_size, p.stat().st_mtime_ns] if p.suffix in weights else sha256_file(p)[:16] for p in files
    }
    return {"folder": str(folder.resolve()), **found}


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:  # e.g. run from a source folder on PYTHONPATH
        return None


def _gpu_name() -> str | None:
    import torch

    return torch.cuda.get_device_name() if torch.cuda.is_available() else None


def _cache_root(cfg: TunewiseConfig) -> Path:

    return run_cache_dir(cfg) / "select"


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(name).name or name)[:40]
