"""`tunewise split`: a leakage-free, stratified train/validation/test split of one file."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from tunewise.cli.output import add_data_options, check_output_dir, data_config, results
from tunewise.rundir import MANIFEST, REJECTS, SPLITS, split_file_name

SPLIT_FILES = {MANIFEST, REJECTS, *(split_file_name(name) for name in SPLITS)}


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "split",
        help="leakage-free, stratified train/validation/test split",
        description="Split DATA into train/validation/test: stratified by label, deterministic by seed, and "
        "group-aware (exact and near duplicates never straddle splits). Writes the three files and a manifest.",
    )
    add_data_options(parser)
    parser.add_argument("--out", type=Path, required=True, help="folder for train/validation/test.jsonl")
    parser.add_argument("--validation", type=float, help="validation fraction (default 0.15)")
    parser.add_argument("--test", type=float, help="test fraction (default 0.15)")
    parser.add_argument("--seed", type=int, help="seed (default 42)")
    parser.add_argument("--semantic", action="store_true", help="also keep paraphrase clusters together (embeddings)")
    parser.add_argument("--force", action="store_true", help="accept validation < 15%% or test < 10%%")
    parser.set_defaults(handler=handle)


def handle(args) -> int:
    from tunewise.data.split import write_split

    check_output_dir(args.out, [args.data], owned=SPLIT_FILES)
    cfg = data_config(args)
    cfg.data.path = str(Path(args.data).resolve())
    cfg.data.test_path = None
    for key, value in (("validation", args.validation), ("test", args.test)):
        if value is not None:
            setattr(cfg.split, key, value)
    if args.seed is not None:
        cfg.seed = args.seed
    cfg.split.allow_small_holdout = args.force
    cfg.split.group_semantic_duplicates = args.semantic
    splits, _ = write_split(cfg, args.out, override_hint="pass --force")
    view = Table(title=f"split of {args.data} (seed {cfg.seed})")
    view.add_column("split")
    view.add_column("rows", justify="right")
    for name, rows in splits.items():
        view.add_row(name, str(len(rows)))
    results.print(view)
    results.print(f"wrote {args.out}/train.jsonl, validation.jsonl, test.jsonl and manifest.json")
    return 0
