"""`tunewise curate`: audit a data file and write a curated copy with a changelog."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from tunewise._progress import console
from tunewise.cli.output import (
    add_against_option,
    add_data_options,
    check_output_dir,
    data_config,
    results,
    tokenizer_model,
)
from tunewise.rundir import CURATION_FILES


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "curate",
        help="audit a data file and write a curated copy with a changelog",
        description="Audit DATA, then apply the curation plan (config section `curate`): drop empty/malformed rows, "
        "exact duplicates, all but one row per near/semantic-duplicate cluster, leaked rows; resolve conflicting "
        "duplicates; drop or relabel likely label errors (and queue them for review); optionally rebalance. "
        "Every removed or changed row is listed in changelog.jsonl with its reason; the input is never modified.",
    )
    add_data_options(parser)
    parser.add_argument("--out", type=Path, required=True, help="folder for curated.jsonl, changelog.jsonl, ...")
    add_against_option(parser, "an evaluation/test file; training rows leaking into it are dropped (repeatable)")
    parser.add_argument(
        "--findings",
        type=Path,
        metavar="AUDIT.json",
        help="act on this saved audit of DATA (`tunewise audit --json`) instead of auditing it again",
    )
    parser.add_argument(
        "--relabel-patch",
        type=Path,
        metavar="PATCH.jsonl",
        help="reviewers' labels from `tunewise review export --patch`, applied first (changelog reason human_review)",
    )
    parser.add_argument(
        "--add-labelled",
        type=Path,
        metavar="LABELS.jsonl",
        help="new rows labelled by reviewers (`tunewise review export --labels` of a label campaign): added after "
        "DATA's rows and audited with them; each kept one is in the changelog (reason pool_label, with its "
        "reviewers and agreement); none-of-these, unclear and tied rows are kept out and counted",
    )
    parser.set_defaults(handler=handle)


def handle(args) -> int:
    from tunewise.data.audit import audit_file
    from tunewise.data.audit.report import table
    from tunewise.data.curate import curate

    inputs = [args.data, *args.against, args.findings, args.relabel_patch, args.add_labelled]
    check_output_dir(args.out, inputs, owned=CURATION_FILES)
    cfg = data_config(args)
    model = None if args.findings else tokenizer_model(cfg)
    result, ctx = audit_file(cfg, args.data, args.against, model, args.findings, args.add_labelled)
    results.print(table(result))
    manifest = curate(result, ctx, cfg.curate, cfg.data.columns, cfg.seed, args.out, args.relabel_patch)
    view = Table(title=f"curation of {args.data}: {result.rows} rows in, {manifest['output']['rows']} rows out")
    view.add_column("action")
    view.add_column("rows", justify="right")
    for action, count in sorted(manifest["actions"].items()):
        view.add_row(action, str(count))
    results.print(view)
    results.print(
        f"wrote {args.out}/curated.jsonl, changelog.jsonl, relabel_queue.jsonl "
        f"({manifest['relabel_queue']} rows to review), manifest.json"
    )
    added = manifest["added_labelled"]
    if added:
        kept_out = ", ".join(f"{status.replace('_', ' ')} {n}" for status, n in sorted(added["kept_out"].items()))
        results.print(
            f"labelled rows from {added['source'] or args.add_labelled}: {added['added']} added, "
            f"{added['dropped_by_curation']} dropped by curation (in the changelog), kept out: {kept_out or 'none'}"
        )
    if cfg.curate.upsample_to:
        console.print("[yellow]warning[/] upsampled rows are copies: they rebalance the loss but add no information")
    crashed = [f.check for f in result.findings if f.status == "error"]
    if crashed:
        results.print(f"[red]warning[/] checks crashed, so their curation steps did not run: {', '.join(crashed)}")
    return 1 if crashed else 0
