"""`tunewise audit`: find what is wrong with a data file before training on it."""

from __future__ import annotations

import json
from pathlib import Path

from tunewise._io import atomic_write_files
from tunewise.cli.output import (
    add_against_option,
    add_data_options,
    check_output_file,
    data_config,
    results,
    tokenizer_model,
)


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "audit",
        help="find what is wrong with a data file before training on it",
        description="Audit a data file: malformed and empty rows, exact/near/semantic/conflicting duplicates, "
        "likely label errors, class imbalance, token lengths, leakage into evaluation files, PII, encoding. "
        "Exit code 1 when an error-severity check flags rows (so it can gate CI).",
    )
    add_data_options(parser)
    add_against_option(parser, "an evaluation/test file to check for leakage (repeatable)")
    parser.add_argument("--json", type=Path, help="write the findings as JSON here")
    parser.add_argument("--html", type=Path, help="write a readable HTML report here")
    parser.set_defaults(handler=handle)


def handle(args) -> int:
    from tunewise.data.audit import audit_file
    from tunewise.data.audit.report import html, table

    outputs = [path for path in (args.json, args.html) if path]
    for path in outputs:
        check_output_file(path, [args.data, *args.against, *(o for o in outputs if o is not path)])
    cfg = data_config(args)
    result, _ = audit_file(cfg, args.data, args.against, tokenizer_model(cfg))
    results.print(table(result))
    written = {}
    if args.json:
        written[args.json] = json.dumps(result.to_json(), indent=2, ensure_ascii=False, default=str) + "\n"
    if args.html:
        written[args.html] = html(result)
    atomic_write_files(written)
    if not result.sufficiency["enough"]:
        results.print(f"[yellow]warning[/] {result.sufficiency['message']}")
    verdict = "[red]failed[/]: error-severity findings" if result.failed else "[green]passed[/]"
    results.print(f"audit {verdict}; {result.summary()['flagged_rows']} of {result.rows} rows flagged")
    return 1 if result.failed else 0
