"""What a user's data file is: the task and which columns hold its fields, read from the file itself, for
`tunewise init --data`. Column names people use are matched to the task's fields; where that fails, a text column
and a short, repeated one are a classification file. Completion data whose answers come from a small closed set
is offered as classification (a head and the baselines do that job better and cheaper)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tunewise.data.load import TASK_FIELDS, load_records
from tunewise.errors import TunewiseError

SYNONYMS = {  # a task field -> column names that usually hold it (first match wins)
    "text": ("text", "sentence", "query", "utterance", "question", "review", "content", "input"),
    "label": ("label", "labels", "category", "intent", "class", "target", "sentiment"),
    "prompt": ("prompt", "instruction", "question", "query", "input", "source", "dialogue", "document", "article"),
    "completion": ("completion", "response", "answer", "output", "target", "summary", "reply"),
}
CLOSED_SET_SHARE = 0.05  # completion answers: fewer distinct values than this share of the rows ...
CLOSED_SET_ROWS = 200  # ... over at least this many rows: a classification task in disguise
SHOWN = 3  # training examples `as_seen` renders
DECODER = "smollm2-135m-instruct"  # how a decoder sees the examples when model.name is auto


@dataclass
class Detected:
    task: str
    columns: dict[str, str]  # only the fields whose column is not named as the field
    rows: int
    records: list[dict]
    notes: list[str] = field(default_factory=list)
    closed_set: dict | None = None  # {"answers", "rows", "as_completion": columns} when offered as classification


def detect(path: Path, task: str = "auto") -> Detected:
    """The task and column mapping of ``path`` (any format `load_records` reads), or an error saying what could
    not be told."""
    from tunewise.data.load import _in_own_columns, _raw_rows  # the reading itself, before any mapping

    raw = [row for _, row in _in_own_columns(list(_raw_rows(path, str(path))), {}) if isinstance(row, dict)]
    if not raw:
        raise TunewiseError(f"{path}: no readable rows to look at")
    names = list(raw[0])
    columns = _own_fields(names, task) or _by_synonyms(names, task) or _by_shape(raw, names, task)
    if columns is None:
        raise TunewiseError(
            f"{path}: cannot tell the task from columns {names}: name them text+label (classification), "
            "prompt+completion, messages (chat) or prompt+chosen+rejected (preference), or write data.task and "
            "data.columns into the config yourself"
        )
    found_task, mapping = columns
    detected = _loaded(path, found_task, mapping)
    if found_task == "completion":
        answers = {record["completion"].strip() for record in detected.records}
        if len(detected.records) >= CLOSED_SET_ROWS and len(answers) < CLOSED_SET_SHARE * len(detected.records):
            as_labels = {"text": mapping.get("prompt", "prompt"), "label": mapping.get("completion", "completion")}
            detected = _loaded(path, "classification", as_labels)
            detected.closed_set = {"answers": len(answers), "rows": detected.rows, "as_completion": mapping}
    return detected


def _own_fields(names: list[str], task: str):
    for candidate, fields in TASK_FIELDS.items():
        if task in ("auto", candidate) and all(f in names for f in fields):
            return candidate, {}
    return None


def _by_synonyms(names: list[str], task: str):
    lowered = {name.lower(): name for name in names}
    for candidate in ("classification", "completion"):
        if task not in ("auto", candidate):
            continue
        mapping = {}
        for task_field in TASK_FIELDS[candidate]:
            column = next((lowered[s] for s in SYNONYMS[task_field] if s in lowered), None)
            if column is None or column in mapping.values():
                break
            mapping[task_field] = column
        else:
            return candidate, {f: c for f, c in mapping.items() if f != c}
    return None


def _by_shape(rows: list[dict], names: list[str], task: str):
    """Two string columns, one long and varied (the text), one short with few distinct values (the label)."""
    if task not in ("auto", "classification"):
        return None
    strings = [n for n in names if all(isinstance(r.get(n), str) for r in rows[:200])]
    if len(strings) < 2:
        return None
    sample = rows[:2000]
    distinct = {n: len({r[n] for r in sample}) for n in strings}
    length = {n: sum(len(r[n]) for r in sample) / len(sample) for n in strings}
    label = min(strings, key=lambda n: (distinct[n], length[n]))
    text = max((n for n in strings if n != label), key=lambda n: (length[n], distinct[n]))
    if distinct[label] > max(2, 0.5 * len(sample)) or length[text] <= length[label]:
        return None
    return "classification", {f: c for f, c in (("text", text), ("label", label)) if f != c}


def _loaded(path: Path, task: str, mapping: dict) -> Detected:
    loaded = load_records(path, task, mapping, skip_invalid=True)
    notes = (
        [f"{len(loaded.problems)} rows could not be read (the first: {loaded.problems[0]})"] if loaded.problems else []
    )
    return Detected(task, mapping, len(loaded.records), loaded.records, notes)


def short_config(config_path: Path, data: Path, found: Detected, model: str) -> str:
    """Only what differs from the defaults: the data file (relative to the config), its task and column map,
    the model."""
    relative = os.path.relpath(data.resolve(), config_path.resolve().parent)
    section = {"path": relative, "task": found.task}
    if found.columns:
        section["columns"] = found.columns
    body = {"name": data.stem, "data": section, "model": {"name": model}}
    header = (
        f"# tunewise run {config_path}\n"
        f"# Written by `tunewise init --data {data}`: every key not here is at its default "
        "(`tunewise init FILE` writes them all, with their meaning).\n"
    )
    return header + yaml.safe_dump(body, sort_keys=False, allow_unicode=True)


def as_seen(config_path: Path, found: Detected) -> list[str]:
    """The first training examples as the model sees them (rich markup): a classification head or the encoder
    reads the text alone; a decoder its rendered prompt, with the tokens that carry loss in green."""
    from rich.markup import escape

    from tunewise.config import load_config
    from tunewise.data.formats import classifier_text, to_conversation

    cfg = load_config(config_path)
    if found.task == "classification" and cfg.train.objective_for(found.task) == "classify":
        reader = {
            "auto": "The classifier reads the text and learns its label (auto also tries decoders with a head):",
            "minilm-l6": "The encoder reads the text and learns its label:",
        }.get(cfg.model.name, f"{cfg.model.name} with a classification head reads the text and learns its label:")
        lines = [reader]
        for record in found.records[:SHOWN]:
            lines.append(f"  [dim]{escape(classifier_text(record))}[/]  [bold green]→ {escape(record['label'])}[/]")
        return lines
    from tunewise.models.loading import model_and_renderer
    from tunewise.models.prompts import encode_example

    if cfg.model.name == "auto":  # shown as the first registry decoder renders it
        shown_as, (_, renderer) = DECODER, model_and_renderer(cfg, DECODER, cfg.model.system_prompt)
    else:
        shown_as, (_, renderer) = cfg.model.name, model_and_renderer(cfg)
    lines = [f"As {shown_as} sees them (in [bold green]green[/]: the tokens that carry loss):"]
    for number, record in enumerate(found.records[:SHOWN], 1):
        example, _ = encode_example(renderer, *to_conversation(record, found.task), cfg.model.max_length)
        lines += [f"[dim]── example {number} ──[/]", _marked(renderer.tokenizer, example)]
    return lines


def _marked(tokenizer, example: dict) -> str:
    from rich.markup import escape

    pieces, current, trained = [], [], None
    for token, label in zip(example["input_ids"], example["labels"], strict=True):
        if trained is not None and (label != -100) != trained:
            pieces.append((trained, current))
            current = []
        trained = label != -100
        current.append(token)
    pieces.append((trained, current))
    return "".join(
        f"[bold green]{escape(tokenizer.decode(ids))}[/]" if loss else f"[dim]{escape(tokenizer.decode(ids))}[/]"
        for loss, ids in pieces
    )
