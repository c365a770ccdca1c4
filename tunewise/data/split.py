"""Deterministic train/validation/test splits that never put the same input in two splits.

Rows are grouped by their normalised input first, so exact (case/space/punctuation-insensitive)
duplicates travel together; classification splits are stratified by label. The audit issue will pass
near-duplicate clusters as ``groups``.
"""

from __future__ import annotations

import random
from collections import defaultdict

from tunewise.data.formats import input_text, normalize

SPLITS = ("train", "validation", "test")
MIN_VALIDATION, MIN_TEST = 0.15, 0.10


def check_fractions(
    validation: float, test: float, has_test_file: bool = False, override: str = "set split.allow_small_holdout=true"
) -> None:
    """Refuse held-out fractions below the practitioners' rule of thumb (15-20 % validation, 10-15 % test)."""
    from tunewise.errors import TunewiseError

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
    character 3-grams ≥ threshold) as a row of a fixed test file."""
    from tunewise.data.dedup import near_matches

    texts = [normalize(input_text(r, task)) for r in records]
    test_texts = [normalize(input_text(r, task)) for r in test_records]
    seen = set(test_texts)
    near = near_matches(texts, test_texts, threshold)
    kept, dropped = [], []
    for index, record in enumerate(records):
        (dropped if texts[index] in seen or index in near else kept).append(record)
    return kept, dropped
