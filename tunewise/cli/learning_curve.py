"""`tunewise learning-curve`: would more data of this kind help?"""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from tunewise.cli.output import add_config_arguments, check_run_output, results
from tunewise.config import load_config


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "learning-curve",
        help="would more data of this kind help? train on 25/50/100 %% of it",
        description="Train on nested subsets of the training split (same settings and epochs, so the same budget "
        "per example), score each on the same validation rows, and say whether more data is likely to help. "
        "Writes curve.json and curve.png. Never reads the test split.",
    )
    add_config_arguments(parser)
    parser.add_argument("--out", type=Path, help="output folder (default: <run directory>-curve)")
    parser.add_argument(
        "--fractions", type=float, nargs="+", default=[0.25, 0.5, 1.0], help="fractions of the training split"
    )
    parser.set_defaults(handler=handle)


def handle(args) -> int:
    from tunewise.pipeline import learning_curve

    cfg = load_config(args.config, list(args.overrides))
    out = args.out or Path(f"{cfg.run_dir()}-curve")
    check_run_output(cfg, out)
    curve = learning_curve(cfg, out, args.fractions)
    table = Table(title=f"learning curve: validation {curve['metric']} on {curve['validation_rows']} rows")
    for column in ("training rows", "steps", "best val loss", curve["metric"]):
        table.add_column(column, justify="right")
    for point in curve["points"]:
        low, high = point["score_ci"]
        loss = f"{point['best_val_loss']:.3f}" if point["best_val_loss"] is not None else "-"
        score = f"{point['score']:.3f} [{low:.3f}, {high:.3f}]"
        table.add_row(str(point["train_rows"]), str(point["steps"]), loss, score)
    results.print(table)
    results.print(curve["reading"])
    results.print(f"wrote {out / 'curve.json'} and {out / 'curve.png'}")
    return 0
