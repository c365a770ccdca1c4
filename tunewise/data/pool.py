"""An unlabelled pool and the rule that picks which of its rows a person should label.

The rule is fixed here (docs/pool.md says why each part is there, and how it was revised once, on CLINC150):

1. The gate. A pool row whose input repeats, or nearly repeats, a labelled row or a test row is never offered (the
   leakage gate's test: the same normalised input, or character 3-gram Jaccard ≥ audit.leakage_threshold), and of
   pool rows that nearly repeat each other only the first is a candidate.
2. The scores. Each candidate gets class probabilities: the mean of the run's model (a classification head or the
   encoder) and the embedding baseline (frozen MiniLM + logistic regression fitted on the labelled rows), or the
   baseline's alone for a model without probabilities. Its margin is the top probability minus the second.
3. Thin classes first. A class is thin when it has fewer distinct labelled inputs than ``thin_below``
   (curate.upsample_to: the audit's and the verdict's measure of "too few real rows"); its deficit is the
   difference. The budget goes to thin classes in proportion to their deficits (at most the deficit each). A
   thin class's candidates are the rows that have it among their top ``TOP`` classes, least sure first (the
   smallest margin); the classes take turns, one row each, so no class starves another of shared candidates.
   Least sure, not likeliest: chosen on CLINC150 (benchmarks/pool_rule.py, docs/pool.md), where ranking a thin
   class's rows by its probability recovered 68 % of the skew's damage, a random pick 78 % and the margin 96 %.
4. Uncertain rows next. What the thin classes cannot use goes to the remaining candidates with the smallest margin
   (where the model is least sure), each counted for its most probable class.
5. Diversity everywhere. A row is skipped when its embedding's cosine with a row already picked for the same class
   is ≥ ``DIVERSITY``: ten wordings of one sentence teach a classifier one thing.

The suggestion shown to a labeller is the class the row was picked for, with the row's other top classes.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tunewise.data.formats import input_text, normalize
from tunewise.errors import TunewiseError

TOP = 3  # a thin class's candidates: rows with it among their 3 most probable classes
DIVERSITY = 0.9  # cosine of MiniLM embeddings at which two rows count as one wording


@dataclass
class Pool:
    """The pool's rows as records (inputs only), their 0-based row numbers, and what the load noticed."""

    records: list[dict]
    row_ids: list[int]
    source: str
    labels_ignored: str | None = None  # the label column a pool file carried (not used)


LABELLED_STATUSES = ("labelled", "none_of_these", "unclear", "no_majority")


def read_labelled(path: Path, known: set[str]) -> tuple[list[dict], list[dict], dict]:
    """The rows of a label campaign's export (`tunewise review export --labels`): records of the rows labelled by
    a majority, each with its provenance ({file, line, id, votes, agreeing, agreement, reviewers}), and counts of
    the rows kept out (none of these, unclear, no majority). A label outside ``known`` is a one-line error naming
    the file, line and field; so is any malformed line."""
    from tunewise._io import read_jsonl_objects
    from tunewise.errors import where

    records, provenance, counts = [], [], Counter()
    for number, row in read_jsonl_objects(path):
        status = row.get("status")
        if status not in LABELLED_STATUSES:
            raise TunewiseError(f"{where(path, number, 'status')}: must be one of {', '.join(LABELLED_STATUSES)}")
        text = row.get("text")
        if not isinstance(text, str) or not text.strip():
            raise TunewiseError(f"{where(path, number, 'text')}: must be a non-empty string")
        counts[status] += 1
        if status != "labelled":
            continue
        label = row.get("label")
        if not isinstance(label, str) or label not in known:
            shown = ", ".join(sorted(known)[:5]) + (", ..." if len(known) > 5 else "")
            raise TunewiseError(
                f"{where(path, number, 'label')}: '{label}' is not a label of the data ({len(known)} labels: {shown})"
            )
        records.append({"text": text, "label": label, "meta": {}})
        provenance.append(
            {
                "file": str(path),
                "line": number,
                "id": row.get("id"),
                **{key: row.get(key) for key in ("votes", "agreeing", "agreement", "reviewers")},
            }
        )
    return records, provenance, dict(counts)


def load_pool(path: Path, task: str, columns: dict[str, str]) -> Pool:
    """Read an unlabelled pool like any data file (a bad row is a one-line error naming file, line and field).
    A label column is reported in ``labels_ignored`` and left out of the rows: a pool's labels are what the
    labelling campaign is for."""
    from tunewise.data.load import load_records

    if task != "classification":
        raise TunewiseError(f"{path}: a pool is for classification runs (this run's task is {task})")
    loaded = load_records(path, task, columns, inputs_only=True)
    label_column = columns.get("label", "label")
    carried = any(label_column in record["meta"] for record in loaded.records)
    for record in loaded.records:
        record["meta"].pop(label_column, None)
    return Pool(loaded.records, loaded.row_ids, loaded.source, label_column if carried else None)


@dataclass
class Pick:
    """What the rule picked: pool positions with the class each was picked for and why, and per class the
    figures behind its share."""

    rows: list[int] = field(default_factory=list)
    label: dict[int, str] = field(default_factory=dict)
    why: dict[int, str] = field(default_factory=dict)  # "thin" or "uncertain" (or "random")
    classes: dict[str, dict] = field(default_factory=dict)


def gate(pool_inputs: list[str], labelled_inputs: list[str], test_inputs: list[str], threshold: float):
    """Positions of pool rows that may be offered, and counts of those held back: repeats (or near-repeats) of a
    labelled row, of a test row, or of an earlier pool row."""
    from tunewise.data.dedup import near_duplicate_clusters, repeats_of

    pool, labelled, test = ([normalize(t) for t in texts] for texts in (pool_inputs, labelled_inputs, test_inputs))
    of_test, of_labelled = repeats_of(pool, test, threshold), repeats_of(pool, labelled, threshold)
    repeats: set[int] = set()
    seen: dict[str, int] = {}
    for i, text in enumerate(pool):
        if text in seen or not text:
            repeats.add(i)
        seen.setdefault(text, i)
    for members in near_duplicate_clusters(pool, threshold):
        repeats |= set(sorted(members)[1:])
    held = {"test": of_test, "labelled": of_labelled - of_test, "pool_repeat": repeats - of_test - of_labelled}
    allowed = [i for i in range(len(pool)) if i not in of_test | of_labelled | repeats]
    return allowed, {reason: len(rows) for reason, rows in held.items()}


def thin_classes(distinct: dict[str, int], labels: list[str], thin_below: int) -> dict[str, int]:
    """Each thin class's deficit: how many distinct inputs it lacks to reach ``thin_below``."""
    return {label: thin_below - distinct.get(label, 0) for label in labels if distinct.get(label, 0) < thin_below}


def quotas(deficits: dict[str, int], budget: int) -> dict[str, int]:
    """The budget shared among thin classes in proportion to their deficits, at most each one's deficit
    (largest remainders get the last labels; ties by name)."""
    total = sum(deficits.values())
    if total <= budget:
        return dict(deficits)
    exact = {label: budget * need / total for label, need in deficits.items()}
    found = {label: int(share) for label, share in exact.items()}
    left = budget - sum(found.values())
    for label in sorted(exact, key=lambda lab: (-(exact[lab] - found[lab]), lab))[:left]:
        found[label] += 1
    return found


def choose(
    probabilities: np.ndarray,
    labels: list[str],
    vectors: np.ndarray,
    candidates: list[int],
    deficits: dict[str, int],
    budget: int,
    within: str = "margin",
) -> Pick:
    """The rule's pick of ``budget`` rows among ``candidates`` (positions into ``probabilities`` rows, whose
    columns follow ``labels``; ``vectors`` are unit embeddings). ``within="probability"`` ranks a thin class's
    candidates by its probability instead (the rule before benchmarks/pool_rule.py, kept there for comparison)."""
    pick = Pick()
    column = {label: j for j, label in enumerate(labels)}
    ranked = np.argsort(-probabilities, axis=1)
    top_sorted = np.take_along_axis(probabilities, ranked, axis=1)
    margin = top_sorted[:, 0] - (top_sorted[:, 1] if probabilities.shape[1] > 1 else 0.0)
    taken: set[int] = set()
    chosen_vectors: dict[str, list[np.ndarray]] = {}

    def distinct_enough(row: int, label: str) -> bool:
        others = chosen_vectors.get(label)
        return not others or float(np.max(np.stack(others) @ vectors[row])) < DIVERSITY

    def take(row: int, label: str, why: str) -> None:
        taken.add(row)
        pick.rows.append(row)
        pick.label[row], pick.why[row] = label, why
        chosen_vectors.setdefault(label, []).append(vectors[row])

    wanted = quotas(deficits, budget)
    queues = {}
    for label in wanted:
        j = column[label]
        members = [i for i in candidates if j in ranked[i, :TOP]]
        if within == "margin":
            queues[label] = sorted(members, key=lambda i: (margin[i], i))
        else:
            queues[label] = sorted(members, key=lambda i: (-probabilities[i, j], i))
    available = {label: len(queue) for label, queue in queues.items()}
    got = Counter()
    open_classes = [label for label in sorted(wanted) if wanted[label] > 0]
    while open_classes:  # one row per class per turn
        for label in list(open_classes):
            queue = queues[label]
            while queue and (queue[0] in taken or not distinct_enough(queue[0], label)):
                queue.pop(0)
            if not queue:
                open_classes.remove(label)
                continue
            take(queue.pop(0), label, "thin")
            got[label] += 1
            if got[label] >= wanted[label]:
                open_classes.remove(label)
    for i in sorted((i for i in candidates if i not in taken), key=lambda i: (margin[i], i)):
        if len(pick.rows) >= budget:
            break
        label = labels[ranked[i, 0]]
        if distinct_enough(i, label):
            take(i, label, "uncertain")
    for label in labels:
        picked = [row for row in pick.rows if pick.label[row] == label]
        reasons = Counter(pick.why[row] for row in picked)
        pick.classes[label] = {
            "deficit": deficits.get(label, 0),
            "quota": wanted.get(label, 0),
            "candidates": available.get(label),
            "thin": got[label],
            "uncertain": reasons["uncertain"],
        }
    return pick


def choose_random(candidates: list[int], probabilities: np.ndarray, labels: list[str], budget: int, seed: int) -> Pick:
    """The reference: ``budget`` candidates drawn uniformly (seeded), each suggested its most probable class."""
    pick = Pick()
    for row in sorted(random.Random(seed).sample(candidates, min(budget, len(candidates)))):
        pick.rows.append(row)
        pick.label[row], pick.why[row] = labels[int(np.argmax(probabilities[row]))], "random"
    for label in labels:
        pick.classes[label] = {"random": sum(1 for row in pick.rows if pick.label[row] == label)}
    return pick


def items(pool: Pool, pick: Pick, probabilities: np.ndarray, labels: list[str], task: str) -> list[dict]:
    """The picked rows as items of a `label` review campaign: the text, the suggestion (the class the row was
    picked for) and its other top classes, every label; why and the scores stay in meta (never shown)."""
    found = []
    for row in pick.rows:
        ranked = [labels[j] for j in np.argsort(-probabilities[row])[:TOP]]
        suggested = pick.label[row]
        choices = [suggested] + [label for label in ranked if label != suggested][: TOP - 1]
        top = np.sort(probabilities[row])[::-1]
        found.append(
            {
                "id": str(pool.row_ids[row]),
                "text": input_text(pool.records[row], task),
                "suggested_label": suggested,
                "choices": choices,
                "labels": labels,
                "meta": {
                    "pool_row": pool.row_ids[row],
                    "why": pick.why[row],
                    "margin": round(float(top[0] - (top[1] if len(top) > 1 else 0.0)), 4),
                    **pool.records[row]["meta"],
                },
            }
        )
    return found
