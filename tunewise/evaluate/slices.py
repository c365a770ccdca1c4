"""Scores per slice of the test set (a label, or any metadata field), worst first: an average hides the
small, high-value groups where fine-tunes fail."""

from __future__ import annotations

from collections import defaultdict

from tunewise.evaluate.stats import mean_ci

MAX_VALUES = 30  # a metadata field with more distinct values than this is an id, not a slice


def slice_fields(rows: list[dict], task: str, wanted: list[str] | None) -> list[str]:
    """The fields to slice by: those asked for, or the label plus every metadata field with 2-30 values
    (and at least two rows per value on average)."""
    if wanted is not None:
        return wanted
    fields = ["label"] if task == "classification" else []
    meta_keys = sorted({key for row in rows for key in row.get("meta", {})})
    for key in meta_keys:
        values = {_value(row, key) for row in rows}
        if 2 <= len(values) <= min(MAX_VALUES, len(rows) / 2):  # rows per value >= 2, or it is an id
            fields.append(key)
    return fields


def slice_metrics(rows: list[dict], scores: list[float], fields: list[str]) -> list[dict]:
    """Mean score (with a 95 % interval) and size of every value of every field, worst first."""
    found = []
    for field in fields:
        groups: dict[str, list[float]] = defaultdict(list)
        for row, score in zip(rows, scores, strict=True):
            groups[_value(row, field)].append(score)
        for value, values in groups.items():
            found.append(
                {
                    "field": field,
                    "value": value,
                    "n": len(values),
                    "score": sum(values) / len(values),
                    "ci": mean_ci(values, rounds=1000),
                }
            )
    return sorted(found, key=lambda s: (s["score"], -s["n"]))


def _value(row: dict, field: str) -> str:
    value = row[field] if field in row and field != "meta" else row.get("meta", {}).get(field, "(missing)")
    return str(value)
