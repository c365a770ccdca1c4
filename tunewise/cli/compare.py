"""`tunewise compare`: this run's fine-tuned model against another run's on the same test rows."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from tunewise._format import with_interval
from tunewise.cli.output import results


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "compare",
        help="this run's fine-tuned model vs a baseline run's, on the same test rows",
        description="Paired comparison of two evaluated runs on the same test rows (e.g. the same model and "
        "budget trained on raw vs curated data): both scores with 95 % intervals, the gain with its paired "
        "interval and McNemar's test (or a paired bootstrap), per-slice scores of both, and what the two data "
        "audits found. Writes RUN_DIR/baseline/comparison.json, which the run's report shows.",
    )
    parser.add_argument("run_dir", type=Path, help="the run to judge")
    parser.add_argument("--baseline", type=Path, required=True, metavar="RUN_DIR", help="the run to beat")
    parser.add_argument(
        "--curation",
        type=Path,
        metavar="CURATE_DIR",
        help="the `tunewise curate --out` folder that made this run's data (its actions go in the comparison)",
    )
    parser.set_defaults(handler=handle)


def handle(args) -> int:
    from tunewise.evaluate.baseline import compare_runs

    found = compare_runs(args.run_dir, args.baseline, args.curation)
    table = Table(title=f"{args.run_dir} vs baseline {args.baseline} ({found['comparison']['n']} test rows)")
    for column in ("metric", "baseline", "this run"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for key, values in found["metrics"].items():
        cells = ({"v": values[side]["value"], "v_ci": values[side]["ci"]} for side in ("baseline", "run"))
        table.add_row(key, *(with_interval(cell, "v") for cell in cells))
    results.print(table)
    c = found["comparison"]
    results.print(
        f"gain {c['gain']:+.3f} {c['metric']} (95 % CI {c['ci_low']:+.3f} to {c['ci_high']:+.3f}), "
        f"p = {c['p_value']:.2g} ({c['test']}); wrote {args.run_dir}/baseline/comparison.json"
    )
    return 0
