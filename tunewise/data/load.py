"""Load JSONL, CSV, Parquet files and Hugging Face datasets into plain task records.

A record is a dict holding the task's fields (e.g. ``text`` and ``label``) plus ``meta`` (the other
columns). A bad row is an error naming file, line and field; with ``skip_invalid`` it is skipped and
reported, never dropped silently.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunewise.data.dialects import TOOL_ROLES
from tunewise.errors import TunewiseError, where

CHAT_ROLES = ("system", "user", "assistant")

TASK_FIELDS: dict[str, tuple[str, ...]] = {
    "preference": ("prompt", "chosen", "rejected"),
    "chat": ("messages",),
    "completion": ("prompt", "completion"),
    "classification": ("text", "label"),
}
INPUT_FIELDS = {
    "preference": ("prompt",),
    "chat": ("messages",),
    "completion": ("prompt",),
    "classification": ("text",),
}
SUFFIXES = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


@dataclass
class RowProblem:
    """An input row that could not become a record: its 0-based position among the input rows, and why."""

    row: int
    location: str
    field: str | None
    reason: str
    raw: Any = None
    line: int | None = None  # in the file, where the source is one

    def __str__(self) -> str:
        return f"{self.location}: {self.reason}"


@dataclass
class Loaded:
    """Records of one task, where they came from, and what was skipped (with the reason).

    ``row_ids[i]`` is the 0-based position of ``records[i]`` among the input rows (blank JSONL lines are not rows).
    """

    records: list[dict]
    task: str
    source: str
    problems: list[RowProblem] = field(default_factory=list)
    row_ids: list[int] = field(default_factory=list)

    @property
    def skipped(self) -> list[str]:
        return [str(problem) for problem in self.problems]

    def label_variants(self) -> list[list[str]]:
        """Groups of labels that differ only in case or surrounding spaces: most likely one class written
        several ways, which a classifier would learn as separate classes."""
        groups: dict[str, set[str]] = {}
        for record in self.records:
            if "label" in record:
                groups.setdefault(record["label"].strip().casefold(), set()).add(record["label"])
        return [sorted(group) for group in groups.values() if len(group) > 1]


SHOWN_SKIPPED = 5


def fold_label(label: str) -> str:
    """A label as data.label_case: lower writes it: lower case, no surrounding spaces."""
    return label.strip().lower()


def rejected_rows(problems: list[RowProblem], source: str | None = None) -> list[dict]:
    """The rows a lenient load skipped, as the lines of a rejects file: position, location, field, reason and
    the row's own content, so nothing is dropped without a trace."""
    return [
        {
            **({"source": source} if source else {}),
            "row": p.row,
            "where": p.location,
            "field": p.field,
            "reason": p.reason,
            "raw": p.raw,
        }
        for p in problems
    ]


def report_skipped(lines: list[str], note: str) -> None:
    """Each skipped row by file, line and field (the first few); past those, a count and ``note``."""
    from tunewise._progress import console

    for line in lines[:SHOWN_SKIPPED]:
        console.print(f"[yellow]skipped[/] {line}")
    if len(lines) > SHOWN_SKIPPED:
        console.print(f"[yellow]skipped[/] {len(lines) - SHOWN_SKIPPED} more rows ({note})")


class _RowError(Exception):
    def __init__(self, field_name: str | None, message: str, raw: Any = None):
        super().__init__(message)
        self.field_name = field_name
        self.message = message
        self.raw = raw


def load_data(data_cfg, path: Path, task: str | None = None) -> Loaded:
    """Load ``path`` using the ``data`` section of the config (task, column map, labels, skip_invalid)."""
    return load_records(
        path,
        task=task or data_cfg.task,
        columns=data_cfg.columns,
        labels=data_cfg.labels,
        skip_invalid=data_cfg.skip_invalid,
        max_rows=data_cfg.max_rows,
        label_case=data_cfg.label_case,
    )


def load_eval_data(data_cfg, path: Path, task: str) -> Loaded:
    """Load an evaluation/test file with the data's column mapping (or ``test_columns`` where given);
    ``max_rows`` limits the data, never an eval file."""
    columns = data_cfg.test_columns if data_cfg.test_columns is not None else data_cfg.columns
    return load_data(data_cfg.model_copy(update={"max_rows": None, "columns": columns}), path, task=task)


def load_records(
    source: Any,
    task: str = "auto",
    columns: dict[str, str] | None = None,
    labels: list[str] | None = None,
    skip_invalid: bool = False,
    max_rows: int | None = None,
    inputs_only: bool = False,
    label_case: str = "keep",
) -> Loaded:
    """Load a file path or a Hugging Face ``datasets.Dataset`` into validated records. With ``inputs_only`` (new
    rows to predict), a row needs only its input fields: a text, a prompt, or a chat ending with either turn.
    With ``label_case`` 'lower', labels (and data.labels) are lower-cased and stripped of surrounding spaces."""
    if label_case == "lower" and labels:
        labels = [fold_label(label) for label in labels]
    columns = columns or {}
    name = str(source) if isinstance(source, (str, Path)) else f"<{type(source).__name__}>"
    rows = _in_own_columns(list(itertools.islice(_raw_rows(source, name), max_rows)), columns)
    if task == "auto":
        task = _infer_task(rows, columns, name)
    loaded = Loaded(records=[], task=task, source=name)
    for row_id, (line, row) in enumerate(rows):
        try:
            if isinstance(row, _RowError):
                raise row
            loaded.records.append(_to_record(row, task, columns, labels, inputs_only, label_case))
            loaded.row_ids.append(row_id)
        except _RowError as exc:
            problem = RowProblem(
                row_id,
                where(name, line, exc.field_name),
                exc.field_name,
                exc.message,
                exc.raw if exc.raw is not None else row,
                line,
            )
            if not skip_invalid:
                raise TunewiseError(str(problem)) from None
            loaded.problems.append(problem)
    if not loaded.records:
        first = loaded.problems[0] if loaded.problems else None
        detail = f" ({len(loaded.problems)} invalid rows skipped, the first: {first})" if first else ""
        raise TunewiseError(f"{name}: no usable rows{detail}")
    return loaded


def _in_own_columns(rows: list[tuple[Any, Any]], columns: dict[str, str]) -> list[tuple[Any, Any]]:
    """Rows of a known dialect (Alpaca, ShareGPT, ShareGPT preference; ``tunewise.data.dialects``) in tunewise's
    columns; a row that does not fit its dialect becomes a row error at its line. Files in tunewise's own columns
    (or mapped to them with data.columns) pass unchanged."""
    from tunewise.data.dialects import DialectError, as_task_row, dialect_of

    first = next((row for _, row in rows if isinstance(row, dict)), None)
    fits = first is not None and any(all(columns.get(f, f) in first for f in fs) for fs in TASK_FIELDS.values())
    dialect = dialect_of(first) if first is not None and not fits else None
    if dialect is None:
        return rows
    found = []
    for line, row in rows:
        if not isinstance(row, dict):
            found.append((line, row))
            continue
        try:
            found.append((line, as_task_row(row, dialect)))
        except DialectError as exc:
            found.append((line, _RowError(exc.field, f"{exc.message} ({dialect} row)", row)))
    return found


def _raw_rows(source: Any, name: str) -> Iterator[tuple[Any, Any]]:
    if not isinstance(source, (str, Path)):
        yield from _dataset_rows(source)
        return
    path = Path(source)
    if path.is_dir():
        yield from _dataset_rows(_saved_dataset(path))
        return
    if not path.is_file():
        raise TunewiseError(f"{path}: file not found")
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise TunewiseError(
            f"{path}: unsupported file type '{path.suffix}' (use .jsonl, .json, .csv, .parquet or a folder "
            "written by datasets' save_to_disk)"
        )
    if kind == "jsonl" and path.suffix.lower() == ".json" and _starts_with(path, b"["):
        yield from _json_array_rows(path)
        return
    reader = {"jsonl": _jsonl_rows, "csv": _csv_rows, "parquet": _parquet_rows}[kind]
    yield from reader(path)


def _saved_dataset(path: Path):
    """A Hugging Face dataset saved with ``save_to_disk`` (one split, or the ``train`` split of a DatasetDict)."""
    if not (path / "dataset_info.json").is_file() and not (path / "dataset_dict.json").is_file():
        raise TunewiseError(
            f"{path}: is a folder but not a dataset saved with datasets' save_to_disk; give a data file "
            "(.jsonl, .json, .csv or .parquet)"
        )
    import datasets

    try:
        loaded = datasets.load_from_disk(str(path))
    except Exception as exc:  # datasets raises several unrelated types for a damaged folder
        raise TunewiseError(f"{path}: cannot read the saved dataset ({str(exc).splitlines()[0]})") from None
    if isinstance(loaded, datasets.DatasetDict):
        if "train" not in loaded:
            raise TunewiseError(f"{path}: a DatasetDict without a 'train' split (splits: {', '.join(loaded)})")
        loaded = loaded["train"]
    return loaded


def _starts_with(path: Path, prefix: bytes) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf").lstrip()
    return head.startswith(prefix)


def _file_text(path: Path) -> str:
    """A whole file as text (a BOM dropped); invalid UTF-8 is an error naming the line and byte."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise TunewiseError(f"{path}:{line}: not valid UTF-8 (byte {exc.start + 1} of the file)") from None


def _json_array_rows(path: Path) -> Iterator[tuple[int, Any]]:
    """The objects of a JSON array file (the Alpaca style), each with the line it starts on."""
    text = _file_text(path)
    decoder = json.JSONDecoder(object_pairs_hook=_unique_keys)
    position = text.index("[") + 1

    def line_at(index: int) -> int:
        return text.count("\n", 0, index) + 1

    def skip(index: int) -> int:
        while index < len(text) and text[index] in " \t\r\n":
            index += 1
        return index

    position = skip(position)
    if position < len(text) and text[position] == "]":
        return
    while True:
        position = skip(position)
        start = position
        try:
            row, position = decoder.raw_decode(text, position)
        except _DuplicateKey as exc:
            raise TunewiseError(f"{path}:{line_at(start)}: field '{exc.key}': the key appears twice") from None
        except json.JSONDecodeError as exc:
            raise TunewiseError(f"{path}:{exc.lineno}: malformed JSON ({exc.msg} at column {exc.colno})") from None
        except (ValueError, RecursionError) as exc:
            raise TunewiseError(f"{path}:{line_at(start)}: unreadable JSON value ({str(exc)[:80]})") from None
        if isinstance(row, dict):
            yield line_at(start), row
        else:
            yield line_at(start), _RowError(None, f"expected a JSON object, got {type(row).__name__}", row)
        position = skip(position)
        if position < len(text) and text[position] == ",":
            position += 1
            continue
        if position < len(text) and text[position] == "]" and not text[position + 1 :].strip():
            return
        raise TunewiseError(f"{path}:{line_at(position)}: malformed JSON array (expected ',' or the closing ']')")


def _jsonl_rows(path: Path) -> Iterator[tuple[int, Any]]:
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                yield number, _RowError(None, f"not valid UTF-8 (byte {exc.start + 1})", raw.decode("utf-8", "replace"))
                continue
            if not text.strip():
                continue
            try:
                row = json.loads(text, object_pairs_hook=_unique_keys)
            except _DuplicateKey as exc:
                yield (
                    number,
                    _RowError(exc.key, "the key appears twice in this row (which value is meant?)", text[:200]),
                )
                continue
            except json.JSONDecodeError as exc:
                yield number, _RowError(None, f"malformed JSON ({exc.msg} at column {exc.colno})", text.rstrip("\n"))
                continue
            except (ValueError, RecursionError) as exc:  # e.g. a 5000-digit number, absurd nesting
                yield number, _RowError(None, f"unreadable JSON value ({str(exc)[:80]})", text[:200])
                continue
            if not isinstance(row, dict):
                yield number, _RowError(None, f"expected a JSON object, got {type(row).__name__}", text.rstrip("\n"))
                continue
            yield number, row


class _DuplicateKey(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    """A JSON object whose keys are all distinct (json.loads would silently keep the last of two)."""
    found = {}
    for key, value in pairs:
        if key in found:
            raise _DuplicateKey(key)
        found[key] = value
    return found


def _csv_rows(path: Path) -> Iterator[tuple[int, Any]]:
    text = _file_text(path)
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        header = reader.fieldnames
    except csv.Error as exc:
        raise TunewiseError(f"{path}:1: malformed CSV header ({exc})") from None
    if not header:
        raise TunewiseError(f"{path}: empty file (no header row)")
    repeated = sorted({name for name in header if header.count(name) > 1 or not name.strip()})
    if repeated:
        raise TunewiseError(f"{path}:1: empty or repeated column names in the header: {repeated}")
    while True:
        start = reader.line_num + 1  # a quoted field may span lines: report where the record starts
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield start, _RowError(None, f"malformed CSV ({exc})")
            return  # the reader cannot resynchronise after a broken quote
        if None in row:
            problem = f"{len(header) + len(row[None])} fields, header has {len(header)}"
            yield (
                start,
                _RowError(None, problem, {**{k: v for k, v in row.items() if k is not None}, "_extra": row[None]}),
            )
        elif any(value is None for value in row.values()):
            missing = [key for key, value in row.items() if value is None]
            yield start, _RowError(missing[0], "missing (row has fewer fields than the header)", row)
        else:
            yield start, row


def _parquet_rows(path: Path) -> Iterator[tuple[str, Any]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise TunewiseError(f"{path}: cannot read Parquet ({exc})") from None
    for number, row in enumerate(table.to_pylist(), start=1):
        yield f"row {number}", row


def _dataset_rows(dataset: Any) -> Iterator[tuple[str, Any]]:
    if not hasattr(dataset, "__iter__") or not hasattr(dataset, "column_names"):
        raise TunewiseError(f"unsupported data source {type(dataset).__name__}: pass a file path or a datasets.Dataset")
    for number, row in enumerate(dataset, start=1):
        yield f"row {number}", dict(row)


def _infer_task(rows: list[tuple[Any, Any]], columns: dict[str, str], name: str) -> str:
    """The task of the first row whose columns fit one; bad rows before it are reported as row errors later."""
    parsed = [(line, row) for line, row in rows if isinstance(row, dict)]
    for _, row in parsed:
        for task, fields in TASK_FIELDS.items():
            if all(columns.get(f, f) in row for f in fields):
                return task
    if not parsed:
        return "classification"  # nothing parsed: the row errors themselves are what gets reported
    line, row = parsed[0]
    raise TunewiseError(
        f"{where(name, line)}: cannot tell the task from columns {sorted(row)}; set data.task, or map columns "
        f"with data.columns (classification needs text+label, completion prompt+completion, chat messages, "
        f"preference prompt+chosen+rejected)"
    )


def _to_record(
    row: dict,
    task: str,
    columns: dict[str, str],
    labels: list[str] | None,
    inputs_only: bool = False,
    label_case: str = "keep",
) -> dict:
    fields = INPUT_FIELDS[task] if inputs_only else TASK_FIELDS[task]
    record: dict[str, Any] = {}
    if task == "chat" and row.get("tools") not in (None, "", [], "[]"):  # kept as meta, it would be ignored
        raise _RowError("tools", "tool definitions: tool-call training is not supported (remove the column)")
    for name in fields:
        column = columns.get(name, name)
        if column not in row or row[column] is None:
            raise _RowError(column, "missing")
        if name == "messages" and inputs_only:
            record[name] = _check_messages(column, row[column], open_ended=True)
        else:
            record[name] = _check_field(name, column, row[column], labels, label_case)
    used = {columns.get(name, name) for name in fields}
    record["meta"] = {key: value for key, value in row.items() if key not in used}
    try:
        json.dumps(record["meta"], ensure_ascii=False, default=str).encode("utf-8")
    except UnicodeEncodeError:
        raise _RowError(None, "invalid unicode (a lone surrogate escape) in an extra column") from None
    return record


def _check_field(name: str, column: str, value: Any, labels: list[str] | None, label_case: str = "keep") -> Any:
    if name == "messages":
        return _check_messages(column, value)
    if name == "label":
        return _check_label(column, value, labels, label_case)
    if not isinstance(value, str):
        raise _RowError(column, f"expected text, got {type(value).__name__}")
    return _check_text(column, value)


def _check_text(column: str, value: str) -> str:
    if not value.strip():
        raise _RowError(column, "empty")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _RowError(column, "invalid unicode (a lone surrogate escape)") from None
    return value


def _check_label(column: str, value: Any, labels: list[str] | None, label_case: str = "keep") -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise _RowError(column, f"expected a label (text or integer), got {type(value).__name__}")
    # An integer is a position in data.labels, unless the label names are numbers themselves.
    if isinstance(value, int) and labels and not any(label.isdigit() for label in labels):
        if not 0 <= value < len(labels):
            raise _RowError(column, f"label index {value} outside data.labels (0..{len(labels) - 1})")
        return labels[value]
    value = _check_text(column, str(value))
    if label_case == "lower":
        value = fold_label(value)
    if labels and value not in labels:
        raise _RowError(column, f"unknown label '{value}' (not in data.labels)")
    return value


def _check_messages(column: str, value: Any, open_ended: bool = False) -> list[dict]:
    if not isinstance(value, list) or not value:
        raise _RowError(column, "expected a non-empty list of {role, content} messages")
    for index, message in enumerate(value):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise _RowError(f"{column}[{index}].role", "missing or not text")
        role = message["role"]
        if role in TOOL_ROLES or message.get("tool_calls") or message.get("function_call"):
            what = f"the tool-call role '{role}'" if role in TOOL_ROLES else "a tool call"
            raise _RowError(f"{column}[{index}].role", f"{what} is not supported (remove the row)")
        if role not in CHAT_ROLES:
            raise _RowError(f"{column}[{index}].role", f"unknown role {role!r} (known: {', '.join(CHAT_ROLES)})")
        if not isinstance(message.get("content"), str):
            raise _RowError(f"{column}[{index}].content", "missing or not text")
        _check_text(f"{column}[{index}].content", message["content"])
    if open_ended:  # to be answered: the user's last turn, or a finished chat whose last answer is left out
        if not any(m["role"] == "user" for m in value):
            raise _RowError(column, "no user message to answer")
        return [{"role": m["role"], "content": m["content"]} for m in value]
    if value[-1]["role"] != "assistant":
        raise _RowError(f"{column}[{len(value) - 1}].role", "the last message must be the assistant's answer")
    if not any(m["role"] == "user" for m in value[:-1]):
        raise _RowError(column, "no user message before the assistant's answer (nothing to answer)")
    return [{"role": m["role"], "content": m["content"]} for m in value]
