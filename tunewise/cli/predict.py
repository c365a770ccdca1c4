"""`tunewise predict`: a finished run's fine-tuned model on new rows."""

from __future__ import annotations

from pathlib import Path

from tunewise.cli.output import check_output_file, positive, rate, results
from tunewise.data.load import report_skipped


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "predict",
        help="score new rows with a run's fine-tuned model",
        description="Run a finished run's fine-tuned model on FILE (JSONL, CSV or Parquet in the run's task format; "
        "only the inputs are needed: text, prompt, or a chat ending with the user's turn), batched, with the "
        "prompt rendering evaluation used. Writes one JSON line per row (row, input, prediction, and for a "
        "classification head the top 3 classes with their probabilities) to --out, and every row that could "
        "not be read, with its line and reason, to OUT.rejects.jsonl.",
    )
    parser.add_argument("run_dir", type=Path, help="a run directory written by `tunewise run`")
    parser.add_argument("data", type=Path, help="the rows to predict")
    parser.add_argument("--out", type=Path, required=True, help="predictions JSONL to write")
    parser.add_argument("--limit", type=positive, help="predict only the first N rows")
    parser.add_argument("--batch-size", type=positive, help="rows per batch (default: the run's eval.batch_size)")
    parser.set_defaults(handler=handle)


def handle(args) -> int:
    from tunewise.pipeline import predict_file

    rejects = args.out.with_name(args.out.name + ".rejects.jsonl")
    for path in (args.out, rejects):
        check_output_file(path, [args.data, args.run_dir])
    found = predict_file(args.run_dir, args.data, args.out, args.limit, args.batch_size)
    report_skipped(found["skipped"], f"all listed in {found['rejects']}")
    results.print(
        f"wrote {found['rows']} predictions to {args.out} ({rate(found['rows_per_second'])} rows/s); "
        f"{found['rejected']} rows could not be read ({found['rejects']})"
    )
    return 0
