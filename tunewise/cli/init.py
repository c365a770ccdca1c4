"""`tunewise init`: a commented starter config."""

from __future__ import annotations

from pathlib import Path

from tunewise._io import atomic_write_text
from tunewise._progress import console
from tunewise.config import starter_yaml
from tunewise.errors import TunewiseError


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "init",
        help="write a commented starter config",
        description="Write a starter config with every key at its documented default.",
    )
    parser.add_argument("path", nargs="?", default="tunewise.yaml", type=Path, help="where to write (tunewise.yaml)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing file")
    parser.set_defaults(handler=handle)


def handle(args) -> int:
    if args.path.exists() and not args.force:
        raise TunewiseError(f"{args.path}: already exists (use --force to overwrite)")
    atomic_write_text(args.path, starter_yaml())
    console.print(f"wrote {args.path}; set data.path, then: tunewise run {args.path}")
    return 0
