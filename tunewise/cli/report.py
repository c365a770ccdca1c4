"""`tunewise report`: the go/no-go report of a run."""

from __future__ import annotations

from pathlib import Path

from tunewise.cli.output import results


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "report",
        help="write the go/no-go report (HTML and Markdown) of a run",
        description="Render what a run directory holds (audit, splits, training curves, metrics with intervals, "
        "confusion matrix, slices, decision) as one self-contained HTML page and a Markdown file.",
    )
    parser.add_argument("run_dir", type=Path, help="a run directory written by `tunewise run`")
    parser.add_argument("--out", type=Path, help="folder for report.html, report.md and plots (default RUN_DIR/report)")
    parser.set_defaults(handler=handle)


def handle(args) -> int:
    from tunewise.report import write_report

    written = write_report(args.run_dir, args.out)
    results.print(f"verdict: {written['verdict']}")
    results.print(f"wrote {written['html']} and {written['markdown']}")
    return 0
