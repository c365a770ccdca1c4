"""`tunewise eval`: evaluate a finished run again."""

from __future__ import annotations

from pathlib import Path

from tunewise.cli.output import print_summary


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "eval",
        help="evaluate a run's fine-tuned model (and its base) again",
        description="Evaluate a finished run's checkpoint and its base model on one split: metrics with 95 % "
        "intervals, a paired test, slices and a go/no-go decision. Evaluations on the test split are logged.",
    )
    parser.add_argument("run_dir", type=Path, help="a run directory written by `tunewise run`")
    parser.add_argument("--split", choices=["test", "validation"], default="test", help="default: test")
    parser.add_argument("--no-base", action="store_true", help="skip the base model")
    parser.set_defaults(handler=handle)


def handle(args) -> int:
    from tunewise.pipeline import evaluate_run

    summary = evaluate_run(args.run_dir, args.split, False if args.no_base else None)
    print_summary(summary, args.run_dir)
    return 0
