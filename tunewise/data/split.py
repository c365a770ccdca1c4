"""Deterministic train/validation/test splits that never put the same input in two splits.

Rows are grouped by their normalised input first, so exact (case/space/punctuation-insensitive)
duplicates travel together, and near duplicates (MinHash) and optionally paraphrases (embeddings) with them;
classification splits are stratified by label. ``write_split`` is the split stage of a run and of
`tunewise split`: load, leave test inputs out of training, split, write the files and a manifest.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from pathlib import Path

from tunewise._io import atomic_dir, atomic_write_json, atomic_write_jsonl, sha256_file
from tunewise._progress import console
from tunewise.data.formats import input_text, normalize, turn_inputs
from tunewise.data.load import fold_label, load_data, load_eval_data, rejected_rows, report_skipped
from tunewise.errors import TunewiseError
from tunewise.rundir import MANIFEST, REJECTS, SPLITS, split_file_name, versions

MIN_VALIDATION, MIN_TEST = 0.15, 0.10


def check_fractions(
    validation: float, test: float, has_test_file: bool = False, override: str = "set split.allow_small_holdout=true"
) -> None:
    """Refuse held-out fractions below the practitioners' rule of thumb (15-20 % validation, 10-15 % test)."""
    if validation < MIN_VALIDATION:
        raise TunewiseError(
            f"split.validation={validation:g} is below {MIN_VALIDATION:.0%}: early stopping and checkpoint choice "
            f"would rest on too few rows and follow noise; {override} to accept the risk"
        )
    if not has_test_file and test < MIN_TEST:
        raise TunewiseError(
            f"split.test={test:g} is below {MIN_TEST:.0%}: the test score would be too noisy to tell a real gain "
            f"from luck; {override} to accept the risk"
        )


def duplicate_groups(normalized: list[str], clusters: list[list[int]] = ()) -> list[str]:
    """A group key per row: rows with the same normalised input, or in one cluster, share a key."""
    from tunewise.data.dedup import UnionFind

    sets = UnionFind(normalized)
    for cluster in clusters:
        for index in cluster[1:]:
            sets.union(normalized[cluster[0]], normalized[index])
    return [sets.find(key) for key in normalized]


def split_indices(
    records: list[dict],
    task: str,
    validation: float,
    test: float,
    seed: int,
    groups: list[str] | None = None,
) -> dict[str, list[int]]:
    """Return sorted row indices per split. Same inputs and seed give the same split."""
    groups = groups or [normalize(input_text(r, task)) for r in records]
    members: dict[str, list[int]] = defaultdict(list)
    for index, key in enumerate(groups):
        members[key].append(index)
    strata: dict[str, list[str]] = defaultdict(list)
    for key, rows in members.items():
        label = records[rows[0]]["label"] if task == "classification" else ""
        strata[label].append(key)
    out: dict[str, list[int]] = {name: [] for name in SPLITS}
    rng = random.Random(seed)
    for label in sorted(strata):
        keys = sorted(strata[label])
        rng.shuffle(keys)
        n_test, n_val = _allocate(len(keys), validation, test)
        for position, key in enumerate(keys):
            name = "test" if position < n_test else "validation" if position < n_test + n_val else "train"
            out[name].extend(members[key])
    return {name: sorted(rows) for name, rows in out.items()}


def _allocate(n: int, validation: float, test: float) -> tuple[int, int]:
    """Groups for test and validation in one stratum; a stratum of one or two stays in training."""
    if n < 3:
        return 0, 0
    n_test = round(n * test)
    n_val = max(1, round(n * validation))
    while n_test + n_val >= n:
        if n_test > 0:
            n_test -= 1
        else:
            n_val -= 1
    return n_test, n_val


def without_test_inputs(
    records: list[dict], test_records: list[dict], task: str, threshold: float = 0.85
) -> tuple[list[dict], list[dict]]:
    """Split ``records`` into (kept, dropped): dropped rows have the same or a near-identical input (Jaccard of
    character 3-grams ≥ threshold) as a row of a fixed test file. A chat is compared turn by turn: it is dropped
    when the turns before any of its assistant turns repeat a test chat's input."""
    from tunewise.data.dedup import rows_repeating

    turns = [[normalize(text) for text in turn_inputs(r, task)] for r in records]
    leaked = rows_repeating(turns, [normalize(input_text(r, task)) for r in test_records], threshold)
    kept, dropped = [], []
    for index, record in enumerate(records):
        (dropped if index in leaked else kept).append(record)
    return kept, dropped


def write_split(
    cfg, out: Path, override_hint: str = "set split.allow_small_holdout=true", write: bool = True
) -> tuple[dict, str]:
    """Load the data (and the test file if any), split it, and write the splits with a manifest to the folder
    ``out``, which is replaced as a whole. With ``write`` false, only compute them (the same seed gives the
    same split: under `accelerate launch` one process writes, the others compute)."""
    data_path = cfg.resolve_path(cfg.data.path)
    if data_path is None:
        raise TunewiseError("config: data.path is required")
    loaded = load_data(cfg.data, data_path)
    records, task = loaded.records, loaded.task
    for variants in loaded.label_variants():
        console.print(
            f"[yellow]warning[/] {data_path}: labels {', '.join(repr(v) for v in variants)} differ only in case or "
            "spaces and count as different classes (if they are one class: data.label_case: lower)"
        )
    test_path = cfg.resolve_path(cfg.data.test_path)
    held_out = load_eval_data(cfg.data, test_path, task) if test_path else None
    leaked: list[dict] = []
    if held_out:
        records, leaked = without_test_inputs(records, held_out.records, task, cfg.audit.leakage_threshold)
        if leaked:
            console.print(
                f"[yellow]warning[/] {len(leaked)} rows of {data_path} have the same or a near-identical input as "
                f"a row of {test_path}; they are left out of training (listed in split/manifest.json)"
            )
    if not cfg.split.allow_small_holdout:
        check_fractions(cfg.split.validation, cfg.split.test, held_out is not None, override_hint)
    fractions = (cfg.split.validation, 0.0 if held_out else cfg.split.test)
    groups = split_groups(cfg, records, task)
    indices = split_indices(records, task, *fractions, seed=cfg.seed, groups=groups)
    splits = {name: [records[i] for i in rows] for name, rows in indices.items()}
    if held_out:
        splits["test"] = held_out.records
    for name, rows in splits.items():
        if not rows:
            raise TunewiseError(
                f"{data_path}: the {name} split is empty: {len(records)} rows in {len(set(groups))} groups of "
                f"duplicates/near duplicates (per label) are too few to split with split.validation="
                f"{cfg.split.validation}, split.test={cfg.split.test}"
            )
    sources = [loaded] + ([held_out] if held_out else [])
    if write:
        with atomic_dir(out) as folder:  # the whole split or none of it: never new files beside old ones
            for name, rows in splits.items():
                atomic_write_jsonl(folder / split_file_name(name), rows)
            atomic_write_jsonl(folder / REJECTS, [r for s in sources for r in rejected_rows(s.problems, s.source)])
            atomic_write_json(
                folder / MANIFEST,
                {
                    "task": task,
                    "seed": cfg.seed,
                    "inputs": {
                        s.source: {"sha256": sha256_file(Path(s.source)), "rows": len(s.records)} for s in sources
                    },
                    "skipped": [line for s in sources for line in s.skipped],
                    "left_out_as_test_inputs": [input_text(r, task) for r in leaked],
                    "sizes": {name: len(rows) for name, rows in splits.items()},
                    "label_counts": label_counts(splits) if task == "classification" else None,
                    "outputs": {name: sha256_file(folder / name) for name in [*map(split_file_name, splits), REJECTS]},
                    "versions": versions(),
                },
            )
    report_skipped(loaded.skipped + (held_out.skipped if held_out else []), f"all listed in {out / REJECTS}")
    return splits, task


def split_groups(cfg, records: list[dict], task: str) -> list[str]:
    """Group keys so that duplicates, near duplicates (and optionally paraphrases) share a split."""
    from tunewise.data.dedup import clusters_from_pairs, near_duplicate_clusters

    texts = [normalize(input_text(r, task)) for r in records]
    clusters = shared_turn_clusters(records, task)
    if cfg.split.group_near_duplicates:
        clusters += near_duplicate_clusters(texts, cfg.audit.near_duplicate_threshold)
    if cfg.split.group_semantic_duplicates:
        from tunewise.data.embed import embed_cached, similar_pairs
        from tunewise.models.registry import run_cache_dir

        vectors, _ = embed_cached([input_text(r, task) for r in records], run_cache_dir(cfg))
        pairs = similar_pairs(vectors, cfg.audit.semantic_threshold)
        clusters += clusters_from_pairs(len(records), pairs)
    return duplicate_groups(texts, clusters)


def shared_turn_clusters(records: list[dict], task: str) -> list[list[int]]:
    """Chats of which one opens another (the same turns before an assistant turn): one split for them, or a test
    chat's answer would be trained on as the longer chat's earlier turn."""
    from tunewise.data.dedup import clusters_from_pairs

    if task != "chat":
        return []
    first: dict[str, int] = {}
    pairs = []
    for index, record in enumerate(records):
        for text in {normalize(t) for t in turn_inputs(record, task)}:
            pairs.append((first.setdefault(text, index), index))
    return clusters_from_pairs(len(records), [(a, b) for a, b in pairs if a != b])


def label_counts(splits: dict[str, list[dict]]) -> dict:
    return {name: dict(sorted(Counter(r["label"] for r in rows).items())) for name, rows in splits.items()}


def sample_rows(rows: list[dict], max_rows: int | None, seed: int) -> list[dict]:
    """``max_rows`` rows drawn at random with ``seed`` (in their original order), or all of them."""
    if max_rows is None or max_rows >= len(rows):
        return rows
    return [rows[i] for i in sorted(random.Random(seed).sample(range(len(rows)), max_rows))]


def class_labels(cfg, splits: dict) -> list[str]:
    """The classes a classifier chooses from: data.labels (folded as the rows were, under data.label_case: lower),
    or every label of the training and validation splits."""
    declared = cfg.data.labels
    if declared and cfg.data.label_case == "lower":
        declared = list(dict.fromkeys(map(fold_label, declared)))
    return declared or sorted({r["label"] for name in ("train", "validation") for r in splits[name]})
