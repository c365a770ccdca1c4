"""`tunewise curate`: apply a plan to an audited data file. Nothing is lost: every dropped or changed row is
in the changelog with its reason and original content, and the input file is never modified.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from pathlib import Path

from tunewise._io import atomic_dir, atomic_write_json, atomic_write_jsonl, read_jsonl_objects, sha256_file
from tunewise.data.audit import AuditContext, AuditResult
from tunewise.data.audit.checks.duplicates import answer_key
from tunewise.data.formats import input_text, normalize
from tunewise.errors import TunewiseError, where


def curate(
    result: AuditResult,
    ctx: AuditContext,
    plan,
    columns: dict[str, str],
    seed: int,
    out: Path,
    relabel_patch: Path | None = None,
) -> dict:
    """Write curated.jsonl, changelog.jsonl, relabel_queue.jsonl, audit.json (the findings acted on) and
    manifest.json to ``out``; return the manifest.

    ``relabel_patch`` is what `tunewise review export --patch` wrote: the reviewers' labels are applied first and
    those rows leave the automatic label-issue handling."""
    findings = {f.check: f for f in result.findings}
    changes: list[dict] = []
    removed: set[int] = set()  # record indices
    records = [dict(r) for r in ctx.records]
    index_of_row = {row: i for i, row in enumerate(ctx.row_ids)}

    def drop(indices, reason: str, detail=None):
        for i in sorted(set(indices) - removed):
            removed.add(i)
            changes.append(
                {
                    "row": ctx.row_ids[i],
                    "action": "drop",
                    "reason": reason,
                    "detail": detail,
                    "original": as_file_row(ctx.records[i], columns),
                }
            )

    reviewed = _apply_relabel_patch(relabel_patch, ctx, records, changes, columns) if relabel_patch else set()
    for problem in ctx.problems:  # rows that never became records cannot be kept: they are logged as dropped
        reason = "empty" if problem.reason == "empty" else "malformed"
        changes.append(
            {"row": problem.row, "action": "drop", "reason": reason, "detail": str(problem), "original": problem.raw}
        )
    if plan.drop_leaked and "leakage" in findings:
        drop([index_of_row[r] for r in findings["leakage"].rows], "leakage")
    if plan.conflicts != "keep" and "conflicting_duplicate" in findings:
        for members in findings["conflicting_duplicate"].detail.get("members", []):
            alive = [index_of_row[r] for r in members if index_of_row[r] not in removed]
            drop(_conflict_losers(alive, ctx, plan.conflicts), "conflicting_duplicate")
    if plan.drop_exact_duplicates and "exact_duplicate" in findings:
        for members in findings["exact_duplicate"].detail.get("members", []):
            alive = [index_of_row[r] for r in members if index_of_row[r] not in removed]
            drop(alive[1:], "exact_duplicate", {"kept_row": ctx.row_ids[alive[0]]} if alive else None)
    paraphrases = ctx.task == "classification" and plan.duplicates == "keep_paraphrases"
    redundant: dict[int, dict] = {}  # record index -> why it is redundant (cap_per_class drops these first)
    for check, wanted in (("near_duplicate", plan.dedupe_near), ("semantic_duplicate", plan.dedupe_semantic)):
        if wanted and check in findings:
            for members in findings[check].detail.get("members", []):
                alive = [index_of_row[r] for r in members if index_of_row[r] not in removed]
                if paraphrases:
                    for i, first in _beyond_first_per_label(alive, records):
                        redundant.setdefault(i, {"redundant": check, "kept_row": ctx.row_ids[first]})
                    continue
                drop(alive[1:], check, {"kept_row": ctx.row_ids[alive[0]]} if alive else None)
    queue = _label_issues(
        findings.get("label_issue"),
        ctx,
        plan.label_issues,
        index_of_row,
        removed | reviewed,
        records,
        changes,
        drop,
        columns,
    )
    if ctx.task == "classification":
        _rebalance(records, removed, plan, seed, redundant, drop)
    for row, origin in ctx.added.items():  # rows a label campaign added, and what the curation did with them
        i = index_of_row[row]
        if i not in removed:
            changes.append(
                {
                    "row": row,
                    "action": "add",
                    "reason": "pool_label",
                    "detail": origin,
                    "original": as_file_row(records[i], columns),
                }
            )
    kept = [records[i] for i in range(len(records)) if i not in removed] + _upsampled(records, removed, plan, seed)
    manifest = {
        "input": {
            "path": result.source,
            "sha256": sha256_file(Path(result.source)),
            "rows": result.rows - len(ctx.added),  # the file's rows; the added ones are in added_labelled
        },
        "output": {"path": str(out / "curated.jsonl"), "sha256": None, "rows": len(kept)},
        "actions": dict(Counter(f"{c['action']}:{c['reason']}" for c in changes)),
        "relabel_queue": len(queue),
        "relabel_patch": {"path": str(relabel_patch), "rows": len(reviewed)} if relabel_patch else None,
        "added_labelled": _added_summary(ctx, records, removed, index_of_row)
        if ctx.added or ctx.added_counts
        else None,
        "plan": plan.model_dump(),
        "seed": seed,
    }
    with atomic_dir(out) as folder:  # all five files or none: an older curation is replaced as a whole
        atomic_write_jsonl(folder / "curated.jsonl", [as_file_row(r, columns) for r in kept])
        atomic_write_jsonl(folder / "changelog.jsonl", sorted(changes, key=lambda c: c["row"]))
        atomic_write_jsonl(folder / "relabel_queue.jsonl", queue)
        atomic_write_json(folder / "audit.json", result.to_json())  # the findings this curation acted on
        manifest["output"]["sha256"] = sha256_file(folder / "curated.jsonl")
        atomic_write_json(folder / "manifest.json", manifest)
    return manifest


def _added_summary(ctx, records: list[dict], removed: set[int], index_of_row: dict) -> dict:
    """What became of a label export's rows: added, dropped by a curation step, kept out by the reviewers, and
    each label's distinct inputs in the curated data without and with the added rows (classification)."""
    dropped = sum(index_of_row[row] in removed for row in ctx.added)
    added = {index_of_row[row] for row in ctx.added}
    before: dict[str, set[str]] = {}
    after: dict[str, set[str]] = {}
    if ctx.task == "classification":
        for i, record in enumerate(records):
            if i in removed:
                continue
            label, text = str(record.get("label")), normalize(input_text(record, "classification"))
            after.setdefault(label, set()).add(text)
            if i not in added:
                before.setdefault(label, set()).add(text)
    return {
        "source": next((origin["file"] for origin in ctx.added.values()), None),
        "labelled": len(ctx.added),
        "added": len(ctx.added) - dropped,
        "dropped_by_curation": dropped,
        "kept_out": {status: n for status, n in ctx.added_counts.items() if status != "labelled"},
        # label -> [distinct inputs before the added rows, after them]; upsampled copies add no new wording
        "distinct_inputs": {label: [len(before.get(label, ())), len(inputs)] for label, inputs in sorted(after.items())}
        or None,
    }


def as_file_row(record: dict, columns: dict[str, str]) -> dict:
    """A record with the file's own column names, so the same config reads the curated file."""
    row = {columns.get(k, k): v for k, v in record.items() if k != "meta"}
    return {**row, **record.get("meta", {})}


def _apply_relabel_patch(path: Path, ctx, records: list[dict], changes: list[dict], columns) -> set[int]:
    """Relabel the rows of a review patch (``{"row", "from", "to", ...}`` per line); every line is checked against
    the data first, so a patch made for other data changes nothing."""
    index_of_row = {row: i for i, row in enumerate(ctx.row_ids)}
    labels = {record.get("label") for record in records}
    planned, seen = [], {}
    for number, change in read_jsonl_objects(path):
        for field in ("row", "from", "to"):
            if field not in change:
                raise TunewiseError(f"{where(path, number, field)}: missing")
        row = change["row"]
        try:
            index = index_of_row[int(row)]
        except (KeyError, TypeError, ValueError):
            raise TunewiseError(f"{where(path, number, 'row')}: no row {row!r} in the data") from None
        if index in seen:
            raise TunewiseError(f"{where(path, number, 'row')}: row {row} is already changed by line {seen[index]}")
        seen[index] = number
        if not isinstance(change["to"], str) or change["to"] not in labels:
            raise TunewiseError(f"{where(path, number, 'to')}: {change['to']!r} is not a label of the data")
        current = records[index].get("label")
        if current != change["from"]:
            raise TunewiseError(
                f"{where(path, number, 'from')}: row {row} is labelled '{current}', the patch expects "
                f"'{change['from']}' (was the data changed after the review?)"
            )
        planned.append((index, change))
    for index, change in planned:
        detail = {key: change.get(key) for key in ("from", "to", "votes", "agreeing")}
        changes.append(
            {
                "row": ctx.row_ids[index],
                "action": "relabel",
                "reason": "human_review",
                "detail": detail,
                "original": as_file_row(ctx.records[index], columns),
            }
        )
        records[index] = {**records[index], "label": change["to"]}
    return {index for index, _ in planned}


def _conflict_losers(members: list[int], ctx, mode: str) -> list[int]:
    if mode == "drop" or not members:
        return members
    answer = {i: answer_key(ctx, i) for i in members}
    (top, top_count), *rest = Counter(answer.values()).most_common()
    if rest and rest[0][1] == top_count:  # no majority: nothing to trust
        return members
    return [i for i in members if answer[i] != top]


def _label_issues(finding, ctx, mode, index_of_row, removed, records, changes, drop, columns) -> list[dict]:
    if finding is None or ctx.task != "classification":
        return []
    labels = sorted({r["label"] for r in ctx.records})
    queue = []
    for item in finding.detail.get("suggestions", []):
        index = index_of_row[item["row"]]
        if index in removed:
            continue
        queue.append(
            {
                "id": item["row"],
                "text": item["text"],
                "label": item["label"],
                "suggested_label": item["suggested_label"],
                "labels": labels,
            }
        )
        if mode == "drop":
            drop([index], "label_issue", {"suggested_label": item["suggested_label"]})
        elif mode == "relabel":
            changes.append(
                {
                    "row": item["row"],
                    "action": "relabel",
                    "reason": "label_issue",
                    "detail": {"from": records[index]["label"], "to": item["suggested_label"]},
                    "original": as_file_row(ctx.records[index], columns),
                }
            )
            records[index] = {**records[index], "label": item["suggested_label"]}
    return queue


def _rebalance(records, removed, plan, seed, redundant: dict[int, dict], drop) -> None:
    """Cap each class at plan.cap_per_class rows: redundant rows (near or semantic copies of a kept row of the
    same label) go first, then rows drawn at random (seeded)."""
    if not plan.cap_per_class:
        return
    by_label = defaultdict(list)
    for i, record in enumerate(records):
        if i not in removed:
            by_label[record["label"]].append(i)
    rng = random.Random(seed)
    for _, members in sorted(by_label.items()):
        excess = len(members) - plan.cap_per_class
        if excess <= 0:
            continue
        copies = [i for i in members if i in redundant]
        rng.shuffle(copies)
        for i in copies[:excess]:
            drop([i], "cap_per_class", {"cap": plan.cap_per_class, **redundant[i]})
        others = [i for i in members if i not in redundant]
        drop(rng.sample(others, max(0, excess - len(copies))), "cap_per_class", {"cap": plan.cap_per_class})


def _beyond_first_per_label(cluster: list[int], records) -> list[tuple[int, int]]:
    """(row, the first row of its label) for each row of a duplicate cluster after the first of its label."""
    first: dict[str, int] = {}
    found = []
    for i in cluster:
        label = records[i]["label"]
        if label in first:
            found.append((i, first[label]))
        else:
            first[label] = i
    return found


def _upsampled(records, removed, plan, seed) -> list[dict]:
    if not plan.upsample_to:
        return []
    by_label = defaultdict(list)
    for i, record in enumerate(records):
        if i not in removed and "label" in record:
            by_label[record["label"]].append(record)
    rng = random.Random(seed)
    extra = []
    for _, members in sorted(by_label.items()):
        extra += [dict(rng.choice(members)) for _ in range(max(0, plan.upsample_to - len(members)))]
    return extra
