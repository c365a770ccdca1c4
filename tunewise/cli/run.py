"""`tunewise run`: the whole pipeline as one run directory."""

from __future__ import annotations

from pathlib import Path

from tunewise.cli.output import add_config_arguments, check_run_output, print_summary
from tunewise.config import load_config


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "run",
        help="split → fine-tune → evaluate, as one run directory",
        description="Split the data, fine-tune the base model with validation-based early "
        "stopping, and evaluate base vs fine-tuned on the test split.",
    )
    add_config_arguments(parser)
    parser.add_argument("--out", type=Path, help="run directory (default: output_dir from the config, or runs/<name>)")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run of --out from its last checkpoint (same config and seed); a run is built "
        "beside its folder, as .NAME.partial, until it is complete",
    )
    parser.add_argument(
        "--skip-invalid",
        action="store_true",
        help="skip invalid data rows (each one listed) instead of stopping at the first",
    )
    parser.set_defaults(handler=handle)


def handle(args) -> int:
    from tunewise.pipeline import run

    overrides = list(args.overrides) + (["data.skip_invalid=true"] if args.skip_invalid else [])
    cfg = load_config(args.config, overrides)
    run_dir = args.out or cfg.run_dir()
    check_run_output(cfg, run_dir)
    summary = run(cfg, run_dir, resume=args.resume)
    if summary:  # empty on the non-main processes of a distributed launch
        print_summary(summary, run_dir)
    return 0
