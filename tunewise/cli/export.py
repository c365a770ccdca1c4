"""`tunewise export`: a finished run's fine-tuned model as a folder other programs load, checked before it lands."""

from __future__ import annotations

from pathlib import Path

from tunewise.cli.output import check_output_dir, fraction, positive, results
from tunewise.errors import TunewiseError


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "export",
        help="save a run's fine-tuned model as a merged folder, checked against the run",
        description="Save a finished run's fine-tuned model as one folder that transformers loads by itself: a "
        "LoRA adapter merged into the base (or a head's full weights) as safetensors, the tokenizer with its chat "
        "template, a model card (README.md: data, verdict, test metrics with intervals, licence) and export.json. "
        "Before the folder is put in place, it is loaded back from those files and run on test rows; when its "
        "answers agree with the run's own predictions on fewer than --min-agreement of them, the command fails "
        "(exit 1) and writes nothing.",
    )
    parser.add_argument("run_dir", type=Path, help="a run directory written by `tunewise run`")
    parser.add_argument("--out", type=Path, required=True, help="the folder to create")
    parser.add_argument(
        "--dtype",
        default="auto",
        choices=["auto", "fp32", "bf16", "fp16"],
        help="weight precision (default auto: the precision the run was evaluated in here)",
    )
    parser.add_argument("--check-rows", type=positive, default=300, help="test rows to check on (default 300)")
    parser.add_argument(
        "--min-agreement", type=fraction, default=0.995, help="required share of equal answers (default 0.995)"
    )
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    parser.set_defaults(handler=handle)


def handle(args) -> int:
    from tunewise.pipeline import export_run

    if args.out.exists() and not args.force:
        raise TunewiseError(f"{args.out}: exists; give a new folder, or --force to replace it")
    check_output_dir(args.out, [args.run_dir])
    if args.out.resolve() in (Path.cwd().resolve(), *Path.cwd().resolve().parents):
        raise TunewiseError(f"{args.out}: the current folder or one above it; give a folder of its own")
    found = export_run(args.run_dir, args.out, args.dtype, args.check_rows, args.min_agreement)
    results.print(
        f"exported {found['kind']} model ({found['dtype']}) to {args.out}: loaded back, it gives the run's answer "
        f"on {found['agreement']:.1%} of {found['rows']} test rows (required {found['min_agreement']:.1%}); "
        f"{found['seconds']:.0f} s"
    )
    return 0
