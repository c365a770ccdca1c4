"""`tunewise pool select`: which rows of an unlabelled pool a person should label next, for a finished
classification run. The rule lives in ``tunewise.data.pool`` (revised once, on CLINC150: docs/pool.md); this module
scores the pool with the run's model and the embedding baseline, applies the rule and writes the items of a
`label` review campaign."""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np

from tunewise._io import atomic_write_files, json_text, jsonl_text
from tunewise._progress import console
from tunewise.data.formats import input_text
from tunewise.data.pool import Pool, choose, choose_random, gate, items, load_pool, thin_classes
from tunewise.data.split import class_labels
from tunewise.errors import TunewiseError
from tunewise.evaluate.baselines import embedding_lr_probabilities
from tunewise.evaluate.stage import classify_rows, load_tuned
from tunewise.evaluate.verdict import distinct_inputs_per_label
from tunewise.models.loading import model_and_renderer
from tunewise.models.registry import run_cache_dir
from tunewise.rundir import RunDir


def select_from_pool(
    run_dir: Path, pool_path: Path, budget: int, out: Path, random_pick: bool = False, seed: int | None = None
) -> dict:
    """Pick ``budget`` pool rows for labelling; write ``out`` (the campaign's items, JSONL) and
    ``out``.plan.json (per class: labelled rows, deficit, quota, picks; what the gate held back). Returns the plan."""
    run = RunDir(run_dir)
    cfg = run.load_config()
    task = run.task()
    if task != "classification":
        raise TunewiseError(f"{run.root}: a {task} run; pool select is for classification runs")
    if not run.checkpoint.is_dir():
        raise TunewiseError(f"{run.checkpoint}: missing; the run's training did not finish (rerun tunewise run)")
    if budget < 1:
        raise TunewiseError(f"--budget must be at least 1, got {budget}")
    pool = load_pool(pool_path, task, cfg.data.columns)
    if pool.labels_ignored:
        console.print(
            f"[yellow]warning[/] {pool_path}: has a '{pool.labels_ignored}' column; a pool's labels are not used "
            "(the labelling campaign asks for them)"
        )
    splits = run.read_splits()
    labels = class_labels(cfg, splits)
    texts = [input_text(record, task) for record in pool.records]
    labelled = [input_text(r, task) for part in ("train", "validation") for r in splits[part]]
    allowed, held = gate(texts, labelled, [input_text(r, task) for r in splits["test"]], cfg.audit.leakage_threshold)
    if not allowed:
        raise TunewiseError(f"{pool_path}: every pool row repeats a labelled or test row ({held}); nothing to offer")
    candidates = [pool.records[i] for i in allowed]
    probabilities, vectors, scored_by = _probabilities(cfg, run, splits, candidates, labels, task)
    distinct = distinct_inputs_per_label(run)
    thin_below = cfg.curate.upsample_to or max(1, int(statistics.median(distinct.values()) // 2))
    deficits = thin_classes(distinct, labels, thin_below)
    local = list(range(len(allowed)))
    if random_pick:
        pick = choose_random(local, probabilities, labels, budget, cfg.seed if seed is None else seed)
    else:
        pick = choose(probabilities, labels, vectors, local, deficits, budget)
    sub_pool = Pool(candidates, [pool.row_ids[i] for i in allowed], pool.source)
    found = items(sub_pool, pick, probabilities, labels, task)
    plan = {
        "run": str(run.root),
        "pool": {"path": str(pool_path), "rows": len(pool.records), "candidates": len(allowed), "held_back": held},
        "budget": budget,
        "picked": len(found),
        "rule": "random"
        if random_pick
        else "thin classes (their least sure rows first), then the least sure rows, diverse",
        "scored_by": scored_by,
        "thin_below": thin_below,
        "thin_below_from": "curate.upsample_to" if cfg.curate.upsample_to else "half the median distinct inputs",
        "classes": {
            label: {"distinct_labelled": distinct.get(label, 0), **pick.classes[label]}
            for label in labels
            if pick.classes[label].get("quota") or any(pick.label[row] == label for row in pick.rows)
        },
        "why": {reason: list(pick.why.values()).count(reason) for reason in sorted(set(pick.why.values()))},
    }
    atomic_write_files({out: jsonl_text(found), out.with_name(out.name + ".plan.json"): json_text(plan)})
    return plan


def pool_of_run(run_dir: Path) -> Path:
    """The run's data.pool (made absolute when the run was written); an error naming the flag when unset."""
    pool = RunDir(run_dir).load_config().data.pool
    if not pool:
        raise TunewiseError(f"{run_dir}: its config has no data.pool; name the pool file with --pool")
    return Path(pool)


def _probabilities(cfg, run: RunDir, splits: dict, rows: list[dict], labels: list[str], task: str):
    """Class probabilities per row (columns in ``labels`` order): the mean of the run's model (a head or the
    encoder) and the embedding baseline, or the baseline's alone when the model answers by decoding; and the
    rows' embeddings (the baseline's own)."""
    classes, baseline, vectors = embedding_lr_probabilities(splits, rows, task, run_cache_dir(cfg))
    found = np.zeros((len(rows), len(labels)))
    column = {label: j for j, label in enumerate(labels)}
    for k, label in enumerate(classes):
        if label in column:
            found[:, column[label]] = baseline[:, k]
    if cfg.train.objective_for(task) != "classify":
        return found, vectors, ["embedding_lr"]
    model_path, renderer = model_and_renderer(cfg)
    model = load_tuned(cfg, model_path, renderer, run.checkpoint, task)
    _, tops = classify_rows(cfg, model, renderer, rows, top=len(labels))
    tuned = np.zeros_like(found)
    for i, top in enumerate(tops):
        for label, probability in top:
            if label in column:
                tuned[i, column[label]] = probability
    return (found + tuned) / 2, vectors, [cfg.model.name, "embedding_lr"]
