"""`tunewise init`: a config for the user's own file (`--data`), or a commented starter with every key."""

from __future__ import annotations

from pathlib import Path

from tunewise._io import atomic_write_text
from tunewise._progress import console
from tunewise.cli.output import results
from tunewise.config import starter_yaml
from tunewise.errors import TunewiseError


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "init",
        help="write a config for your data file (--data), or a commented starter",
        description="With --data: read FILE, tell its task and columns (or say what could not be told), write a "
        "short config holding only what differs from the defaults, and print three training examples as the "
        "model will see them (prompt, answer, and the tokens that carry loss). Completion data whose answers come "
        "from a small closed set (under 5 %% distinct answers over at least 200 rows) is configured as "
        "classification, with a note on how to keep it generative. Without --data: a starter config with every "
        "key at its documented default.",
    )
    parser.add_argument("path", nargs="?", default="tunewise.yaml", type=Path, help="where to write (tunewise.yaml)")
    parser.add_argument("--data", type=Path, metavar="FILE", help="your data file (JSONL, JSON, CSV, Parquet, ...)")
    parser.add_argument("--model", default="auto", help="model.name (default auto: chosen by `tunewise select`)")
    parser.add_argument("--task", default="auto", help="the task, when the file's columns do not say it")
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")
    parser.set_defaults(handler=handle)


def handle(args) -> int:
    if args.path.exists() and not args.force:
        raise TunewiseError(f"{args.path}: already exists (use --force to overwrite)")
    if args.data is None:
        atomic_write_text(args.path, starter_yaml())
        console.print(f"wrote {args.path}; set data.path, then: tunewise run {args.path}")
        return 0
    from tunewise.data.detect import as_seen, detect, short_config

    found = detect(args.data, args.task)
    config = short_config(args.path, args.data, found, args.model)
    atomic_write_text(args.path, config)
    columns = ", ".join(f"{f} ← '{c}'" for f, c in found.columns.items()) or "the task's own names"
    results.print(f"{args.data}: {found.rows} rows of {found.task} data (columns: {columns})")
    for note in found.notes:
        console.print(f"[yellow]note[/] {note}")
    if found.closed_set:
        closed = found.closed_set
        console.print(
            f"[yellow]note[/] the answers come from a closed set ({closed['answers']} distinct answers over "
            f"{closed['rows']} rows): configured as classification, so a head, the encoder and the baselines "
            "compete; to keep it generative, set data.task: completion (and data.columns back)"
        )
    for line in as_seen(args.path, found):
        results.print(line)
    results.print(f"wrote {args.path}; next: tunewise audit {args.data} --config {args.path}; tunewise run {args.path}")
    return 0
