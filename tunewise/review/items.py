"""The items of a review campaign: read from a JSONL file (validated line by line) or taken from a run's test
predictions. Nothing is stored until every line is valid.

pairwise  {"id", "prompt", "outputs": {"<system>": "<text>", "<system>": "<text>"}, "meta": {...}}  two systems
rating    the same shape, one or more systems
relabel   {"id", "text", "label", "suggested_label", "labels": [...]}  as `tunewise curate` writes its queue
label     {"id", "text", "suggested_label", "choices": [...], "labels": [...]}  an unlabelled row, as
          `tunewise pool select` writes it: the suggestion first among the choices, every label to search
"""

from __future__ import annotations

from pathlib import Path

from tunewise._io import read_jsonl_objects
from tunewise.errors import TunewiseError, where
from tunewise.rundir import RunDir

NONE_OF_THESE, UNCLEAR = "__none__", "__unclear__"  # a labeller's two answers that are not a label
KINDS = ("pairwise", "rating", "relabel", "label")
FIELDS = {
    "pairwise": {"id": True, "prompt": True, "outputs": True, "meta": False},
    "rating": {"id": True, "prompt": True, "outputs": True, "meta": False},
    "relabel": {"id": True, "text": True, "label": True, "suggested_label": True, "labels": True, "meta": False},
    "label": {"id": True, "text": True, "suggested_label": True, "choices": True, "labels": True, "meta": False},
}


def load_items(path: Path, kind: str) -> list[dict]:
    """Every item of ``path`` for a campaign of ``kind``; a bad line is an error naming file, line and field."""
    if kind not in KINDS:
        raise TunewiseError(f"unknown campaign kind '{kind}' (one of: {', '.join(KINDS)})")
    items, first_line = [], {}
    for number, row in read_jsonl_objects(path):
        item = _item(row, kind, path, number)
        if item["id"] in first_line:
            raise TunewiseError(
                f"{where(path, number, 'id')}: '{item['id']}' repeats the id of line {first_line[item['id']]}"
            )
        first_line[item["id"]] = number
        items.append(item)
    if not items:
        raise TunewiseError(f"{path}: no items (the file is empty)")
    return items


def items_from_run(run_dir: Path, baseline_dir: Path | None = None) -> list[dict]:
    """Pairwise items from a run's test predictions where two answers differ: the base and the tuned model's,
    or, with ``baseline_dir``, the baseline run's tuned model's and this run's (systems named after the run
    folders). The row number in predictions.jsonl is the item id."""
    rows = _predictions(Path(run_dir), "base" if baseline_dir is None else None)
    if baseline_dir is None:
        pairs = [(row, {"base": row["base"], "tuned": row["tuned"]}) for row in rows]
    else:
        theirs = _predictions(Path(baseline_dir), None)
        names = (Path(baseline_dir).resolve().name, Path(run_dir).resolve().name)
        if names[0] == names[1]:
            names = ("baseline", "run")
        if [r["input"] for r in theirs] != [r["input"] for r in rows]:
            raise TunewiseError(f"{run_dir} and {baseline_dir}: predictions on different test rows")
        pairs = [
            (row, {names[0]: other["tuned"], names[1]: row["tuned"]}) for row, other in zip(rows, theirs, strict=True)
        ]
    return [
        {
            "id": str(number),
            "prompt": row["input"],
            "outputs": outputs,
            "meta": {"reference": row.get("reference"), **(row.get("meta") or {})},
        }
        for number, (row, outputs) in enumerate(pairs)
        if len(set(outputs.values())) == 2  # identical answers: nothing for a reviewer to compare
    ]


def _predictions(run_dir: Path, also: str | None) -> list[dict]:
    path = RunDir(run_dir).predictions()
    if not path.is_file():
        raise TunewiseError(f"{run_dir}: no evaluate/predictions.jsonl (run `tunewise run` or `tunewise eval` first)")
    rows = [row for _, row in read_jsonl_objects(path)]
    needed = ("input", "tuned", *((also,) if also else ()))
    if not rows or any(field not in row for row in rows for field in needed):
        raise TunewiseError(f"{path}: rows need {', '.join(needed)} (evaluated with --no-base?)")
    return rows


def _item(row: dict, kind: str, path: Path, number: int) -> dict:
    fields = FIELDS[kind]
    for field in row:
        if field not in fields:
            raise TunewiseError(f"{where(path, number, field)}: unknown field (allowed: {', '.join(fields)})")
    for field, required in fields.items():
        if required and field not in row:
            raise TunewiseError(f"{where(path, number, field)}: missing")
    identifier = row["id"]
    if isinstance(identifier, bool) or not isinstance(identifier, (str, int)) or not 0 < len(str(identifier).strip()):
        raise TunewiseError(f"{where(path, number, 'id')}: must be a non-empty string or an integer")
    if len(str(identifier)) > 200:
        raise TunewiseError(f"{where(path, number, 'id')}: longer than 200 characters")
    meta = row.get("meta", {})
    if not isinstance(meta, dict):
        raise TunewiseError(f"{where(path, number, 'meta')}: must be an object")
    item = {"id": str(identifier), "meta": meta}
    if kind == "relabel":
        return item | _relabel_fields(row, path, number)
    if kind == "label":
        return item | _label_fields(row, path, number)
    return item | {"prompt": _text(row, "prompt", path, number), "outputs": _outputs(row, kind, path, number)}


def _outputs(row: dict, kind: str, path: Path, number: int) -> dict[str, str]:
    outputs = row["outputs"]
    location = where(path, number, "outputs")
    if not isinstance(outputs, dict) or not all(isinstance(text, str) for text in outputs.values()):
        raise TunewiseError(f"{location}: must be an object mapping each system's name to its output text")
    if any(not name.strip() for name in outputs):
        raise TunewiseError(f"{location}: a system name is empty")
    if kind == "pairwise" and len(outputs) != 2:
        raise TunewiseError(f"{location}: a pairwise item needs exactly two systems, got {len(outputs)}")
    if not outputs:
        raise TunewiseError(f"{location}: a rating item needs at least one system")
    return outputs


def _relabel_fields(row: dict, path: Path, number: int) -> dict:
    found = {field: _text(row, field, path, number) for field in ("text", "label", "suggested_label")}
    labels = row["labels"]
    if not isinstance(labels, list) or not labels or not all(isinstance(label, str) for label in labels):
        raise TunewiseError(f"{where(path, number, 'labels')}: must be a non-empty list of label strings")
    for field in ("label", "suggested_label"):
        if found[field] not in labels:
            raise TunewiseError(f"{where(path, number, field)}: '{found[field]}' is not one of 'labels'")
    return found | {"labels": labels}


def _label_fields(row: dict, path: Path, number: int) -> dict:
    found = {field: _text(row, field, path, number) for field in ("text", "suggested_label")}
    for field in ("labels", "choices"):
        values = row[field]
        if not isinstance(values, list) or not values or not all(isinstance(label, str) for label in values):
            raise TunewiseError(f"{where(path, number, field)}: must be a non-empty list of label strings")
        if len(set(values)) != len(values):
            raise TunewiseError(f"{where(path, number, field)}: repeats a label")
    unknown = [label for label in [found["suggested_label"], *row["choices"]] if label not in row["labels"]]
    if unknown:
        raise TunewiseError(f"{where(path, number, 'choices')}: '{unknown[0]}' is not one of 'labels'")
    if found["suggested_label"] not in row["choices"]:
        raise TunewiseError(f"{where(path, number, 'choices')}: must include the suggested_label")
    reserved = [label for label in row["labels"] if label in (NONE_OF_THESE, UNCLEAR)]
    if reserved:
        raise TunewiseError(f"{where(path, number, 'labels')}: '{reserved[0]}' is reserved for the reviewer's answer")
    return found | {"choices": row["choices"], "labels": row["labels"]}


def _text(row: dict, field: str, path: Path, number: int) -> str:
    if not isinstance(row[field], str):
        raise TunewiseError(f"{where(path, number, field)}: must be a string")
    return row[field]
