"""The `tunewise` command line: parse arguments, call one function, turn errors into exit codes.

Exit codes: 0 ok, 1 checks failed, 2 bad usage or input (config, data, model name), 3 internal error.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pydantic import ValidationError

from tunewise._progress import quiet_libraries
from tunewise.errors import TunewiseError

EXIT_OK, EXIT_INTERNAL = 0, 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tunewise",
        description="Fine-tune LLMs that work: audit and split data, fine-tune with guards, evaluate base vs tuned.",
        epilog="Exit codes: 0 ok, 1 checks failed, 2 bad usage or input, 3 internal error.",
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    init = commands.add_parser(
        "init",
        help="write a commented starter config",
        description="Write a starter config with every key at its documented default.",
    )
    init.add_argument("path", nargs="?", default="tunewise.yaml", type=Path, help="where to write (tunewise.yaml)")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")

    run = commands.add_parser(
        "run",
        help="split → fine-tune → evaluate, as one run directory",
        description="Split the data, fine-tune the base model with validation-based early "
        "stopping, and evaluate base vs fine-tuned on the test split.",
    )
    run.add_argument("config", type=Path, help="a tunewise.yaml")
    run.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="override config keys, e.g. train.epochs=2")
    run.add_argument("--out", type=Path, help="run directory (default: output_dir from the config, or runs/<name>)")
    run.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run in --out from its last checkpoint (same config and seed)",
    )
    run.add_argument(
        "--skip-invalid",
        action="store_true",
        help="skip invalid data rows (each one listed) instead of stopping at the first",
    )

    demo = commands.add_parser(
        "demo",
        help="the quickstart: Banking77 subset, SmolLM2-135M + LoRA, on CPU",
        description="Fine-tune SmolLM2-135M-Instruct with LoRA on a Banking77 subset shipped "
        "with tunewise and print base vs fine-tuned accuracy and macro-F1.",
    )
    demo.add_argument("--out", type=Path, default=Path("runs/demo"), help="run directory (default runs/demo)")
    demo.add_argument("--cache-dir", type=Path, help="model cache (default $TUNEWISE_CACHE or ~/.cache/tunewise)")

    curve = commands.add_parser(
        "learning-curve",
        help="would more data of this kind help? train on 25/50/100 %% of it",
        description="Train on nested subsets of the training split (same settings and epochs, so the same budget "
        "per example), score each on the same validation rows, and say whether more data is likely to help. "
        "Writes curve.json and curve.png. Never reads the test split.",
    )
    curve.add_argument("config", type=Path, help="a tunewise.yaml")
    curve.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="override config keys, e.g. train.epochs=2")
    curve.add_argument("--out", type=Path, help="output folder (default: <run directory>-curve)")
    curve.add_argument(
        "--fractions", type=float, nargs="+", default=[0.25, 0.5, 1.0], help="fractions of the training split"
    )

    select = commands.add_parser(
        "select",
        help="choose the base model on quality and cost: the same probe fine-tune for every candidate",
        description="For each model in select.candidates: how well it fits the task untuned (bits per byte, zero- and "
        "few-shot validation score), the validation score after the same short LoRA probe fine-tune, and its measured "
        "cost (parameters, disk, peak memory, training tokens/s, latency, throughput, serving cost per 1,000 "
        "requests). Prints a ranked table and a recommendation with reasons; writes selection.json and "
        "selection.png. Measurements are cached, so adding a candidate measures only it. Never reads the test split.",
    )
    select.add_argument("config", type=Path, help="a tunewise.yaml")
    select.add_argument(
        "overrides", nargs="*", metavar="KEY=VALUE", help="override config keys, e.g. select.probe_steps=40"
    )
    select.add_argument("--out", type=Path, help="output folder (default: <run directory>-select)")
    select.add_argument("--json", action="store_true", help="print the selection as JSON on stdout instead of tables")

    evaluate = commands.add_parser(
        "eval",
        help="evaluate a run's fine-tuned model (and its base) again",
        description="Evaluate a finished run's checkpoint and its base model on one split: metrics with 95 % "
        "intervals, a paired test, slices and a go/no-go decision. Evaluations on the test split are logged.",
    )
    evaluate.add_argument("run_dir", type=Path, help="a run directory written by `tunewise run`")
    evaluate.add_argument("--split", choices=["test", "validation"], default="test", help="default: test")
    evaluate.add_argument("--no-base", action="store_true", help="skip the base model")

    compare = commands.add_parser(
        "compare",
        help="this run's fine-tuned model vs a baseline run's, on the same test rows",
        description="Paired comparison of two evaluated runs on the same test rows (e.g. the same model and "
        "budget trained on raw vs curated data): both scores with 95 % intervals, the gain with its paired "
        "interval and McNemar's test (or a paired bootstrap), per-slice scores of both, and what the two data "
        "audits found. Writes RUN_DIR/baseline/comparison.json, which the run's report shows.",
    )
    compare.add_argument("run_dir", type=Path, help="the run to judge")
    compare.add_argument("--baseline", type=Path, required=True, metavar="RUN_DIR", help="the run to beat")
    compare.add_argument(
        "--curation",
        type=Path,
        metavar="CURATE_DIR",
        help="the `tunewise curate --out` folder that made this run's data (its actions go in the comparison)",
    )

    report = commands.add_parser(
        "report",
        help="write the go/no-go report (HTML and Markdown) of a run",
        description="Render what a run directory holds (audit, splits, training curves, metrics with intervals, "
        "confusion matrix, slices, decision) as one self-contained HTML page and a Markdown file.",
    )
    report.add_argument("run_dir", type=Path, help="a run directory written by `tunewise run`")
    report.add_argument("--out", type=Path, help="folder for report.html, report.md and plots (default RUN_DIR/report)")

    audit = commands.add_parser(
        "audit",
        help="find what is wrong with a data file before training on it",
        description="Audit a data file: malformed and empty rows, exact/near/semantic/conflicting duplicates, "
        "likely label errors, class imbalance, token lengths, leakage into evaluation files, PII, encoding. "
        "Exit code 1 when an error-severity check flags rows (so it can gate CI).",
    )
    _data_options(audit)
    _against_option(audit, "an evaluation/test file to check for leakage (repeatable)")
    audit.add_argument("--json", type=Path, help="write the findings as JSON here")
    audit.add_argument("--html", type=Path, help="write a readable HTML report here")

    curate = commands.add_parser(
        "curate",
        help="audit a data file and write a curated copy with a changelog",
        description="Audit DATA, then apply the curation plan (config section `curate`): drop empty/malformed rows, "
        "exact duplicates, all but one row per near/semantic-duplicate cluster, leaked rows; resolve conflicting "
        "duplicates; drop or relabel likely label errors (and queue them for review); optionally rebalance. "
        "Every removed or changed row is listed in changelog.jsonl with its reason; the input is never modified.",
    )
    _data_options(curate)
    curate.add_argument("--out", type=Path, required=True, help="folder for curated.jsonl, changelog.jsonl, ...")
    _against_option(curate, "an evaluation/test file; training rows leaking into it are dropped (repeatable)")
    curate.add_argument(
        "--findings",
        type=Path,
        metavar="AUDIT.json",
        help="act on this saved audit of DATA (`tunewise audit --json`) instead of auditing it again",
    )
    curate.add_argument(
        "--relabel-patch",
        type=Path,
        metavar="PATCH.jsonl",
        help="reviewers' labels from `tunewise review export --patch`, applied first (changelog reason human_review)",
    )

    split = commands.add_parser(
        "split",
        help="leakage-free, stratified train/validation/test split",
        description="Split DATA into train/validation/test: stratified by label, deterministic by seed, and "
        "group-aware (exact and near duplicates never straddle splits). Writes the three files and a manifest.",
    )
    _data_options(split)
    split.add_argument("--out", type=Path, required=True, help="folder for train/validation/test.jsonl")
    split.add_argument("--validation", type=float, help="validation fraction (default 0.15)")
    split.add_argument("--test", type=float, help="test fraction (default 0.15)")
    split.add_argument("--seed", type=int, help="seed (default 42)")
    split.add_argument("--semantic", action="store_true", help="also keep paraphrase clusters together (embeddings)")
    split.add_argument("--force", action="store_true", help="accept validation < 15%% or test < 10%%")

    inject = commands.add_parser(
        "inject",
        help="inject known faults into a clean data file (what-if studies, measuring the audit)",
        description="Write a copy of DATA with realistic faults injected at the given rates (fractions of the "
        "clean row count), plus OUT.truth.json listing the 0-based rows of each fault. DATA is not modified.",
    )
    _data_options(inject)
    inject.add_argument("--out", type=Path, required=True, help="the faulty JSONL file to write")
    inject.add_argument("--test", type=Path, help="an evaluation file to leak rows from")
    inject.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    for name, default in (
        ("exact-duplicate", 0.05),
        ("near-duplicate", 0.05),
        ("label-noise", 0.05),
        ("empty", 0.01),
        ("leakage", 0.02),
    ):
        inject.add_argument(f"--{name}", type=float, default=default, metavar="RATE", help=f"(default {default})")
    inject.add_argument("--starve-classes", type=int, default=0, help="classes cut down to --starve-to rows")
    inject.add_argument("--starve-to", type=int, default=3, help="(default 3)")
    inject.add_argument(
        "--boilerplate",
        type=float,
        default=0.0,
        metavar="RATE",
        help="signature/auto-reply/'test' rows with a label (default 0)",
    )
    inject.add_argument(
        "--skew-rarest",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="the rarest FRACTION of classes keep only --skew-keep of their rows (default 0)",
    )
    inject.add_argument("--skew-keep", type=float, default=1.0, metavar="FRACTION", help="(default 1)")
    inject.add_argument(
        "--duplicates-from-common",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="duplicates copy rows of the most common FRACTION of classes only (default 0: any)",
    )
    inject.add_argument(
        "--noise-confusable-only",
        action="store_true",
        help="flip only rows whose label has a confusable neighbour (shares a word)",
    )

    models = commands.add_parser(
        "models",
        help="list base models; `models prepare NAME` caches one",
        description="List the model registry, or prepare (dequantise and cache) a model.",
    )
    models.add_argument("--cache-dir", type=Path, help="model cache (default $TUNEWISE_CACHE or ~/.cache/tunewise)")
    models_commands = models.add_subparsers(dest="models_command", metavar="ACTION")
    prepare = models_commands.add_parser(
        "prepare",
        help="dequantise a registry model and cache it as safetensors",
        description="Dequantise a registry model's GGUF and cache it as safetensors.",
    )
    prepare.add_argument("name", help="registry name, see `tunewise models`")
    prepare.add_argument("--force", action="store_true", help="rebuild even if cached")
    prepare.add_argument("--cache-dir", type=Path, dest="prepare_cache_dir", help=argparse.SUPPRESS)
    _review_parser(commands)
    return parser


def _review_parser(commands) -> None:
    review = commands.add_parser(
        "review",
        help="human review: blind pairwise votes, rubric ratings, relabelling; agreement and results",
        description="Run a human-review campaign: create it from an items file or a run's test predictions, "
        "invite reviewers (login links), serve the review pages, read the results with agreement statistics, "
        "and export the votes as DPO preferences or a relabel patch for `tunewise curate`.",
    )
    actions = review.add_subparsers(dest="review_command", required=True, metavar="ACTION")

    def action(name: str, help_text: str, description: str) -> argparse.ArgumentParser:
        parser = actions.add_parser(name, help=help_text, description=description)
        parser.add_argument(
            "--db",
            metavar="URL",
            help="sqlite:///FILE, a file path, or postgresql://user@host/db "
            "(default: $TUNEWISE_REVIEW_DB or ./review.db)",
        )
        return parser

    serve = action("serve", "serve the review pages", "Serve the review app (FastAPI) until interrupted.")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8765, help="port (default 8765)")

    create = action(
        "create",
        "create a campaign from an items file or a run",
        "Create a campaign. Items file lines: pairwise/rating {id, prompt, outputs: {system: text}, meta}; "
        "relabel {id, text, label, suggested_label, labels} as `tunewise curate` writes relabel_queue.jsonl.",
    )
    create.add_argument("name", help="campaign name")
    create.add_argument("--kind", required=True, choices=["pairwise", "rating", "relabel"], help="campaign kind")
    source = create.add_mutually_exclusive_group(required=True)
    source.add_argument("--items", type=Path, metavar="FILE.jsonl", help="the items, one JSON object per line")
    source.add_argument("--from-run", type=Path, metavar="RUN_DIR", help="base vs tuned test predictions of a run")
    create.add_argument(
        "--baseline-run",
        type=Path,
        metavar="RUN_DIR",
        help="with --from-run: this run's tuned model against the baseline run's, not the base model",
    )
    create.add_argument("--per-item", type=int, default=2, metavar="K", help="reviewers per item (default 2)")
    create.add_argument(
        "--rubric",
        type=Path,
        metavar="FILE.yaml",
        help="rating criteria (default: relevance, "
        "coherence, tone, persuasiveness), a list of {name, question, anchors: [5 texts]}",
    )

    invite = action(
        "invite",
        "print a login URL for a reviewer",
        "Invite a reviewer: the last line printed is their login URL. Only the token's hash is stored.",
    )
    invite.add_argument("name", help="campaign name")
    invite.add_argument("--reviewer", required=True, metavar="WHO", help="the reviewer's name")
    invite.add_argument("--admin", action="store_true", help="may see the results page")
    invite.add_argument("--base-url", default="http://127.0.0.1:8765", help="where the app is served")
    invite.add_argument("--days", type=float, default=14, help="days until the link expires (default 14)")

    revoke = action(
        "revoke", "revoke a reviewer's login links", "Revoke every login link of a reviewer and end their sessions."
    )
    revoke.add_argument("name", help="campaign name")
    revoke.add_argument("--reviewer", required=True, metavar="WHO", help="the reviewer's name")

    results = action(
        "results",
        "agreement, win rates, scores",
        "Print a campaign's results: agreement "
        "(Cohen's kappa, Krippendorff's alpha), Wilson win rates, Bradley-Terry scores, criterion means.",
    )
    results.add_argument("name", help="campaign name")
    results.add_argument("--json", action="store_true", help="print JSON instead of tables")
    results.add_argument(
        "--out",
        type=Path,
        metavar="FILE.json",
        help="also write them here (RUN_DIR/review/results.json puts them in the run's report)",
    )

    export = action(
        "export",
        "votes as DPO data or a relabel patch",
        "Export a pairwise campaign's decisive votes "
        "as DPO rows (prompt, chosen, rejected; ties and both-bad left out), or a relabel campaign's "
        "majority labels as a patch for `tunewise curate --relabel-patch`.",
    )
    export.add_argument("name", help="campaign name")
    target = export.add_mutually_exclusive_group(required=True)
    target.add_argument("--preferences", type=Path, metavar="OUT.jsonl", help="DPO rows (pairwise campaigns)")
    target.add_argument("--patch", type=Path, metavar="OUT.jsonl", help="relabel patch (relabel campaigns)")
    export.add_argument(
        "--min-votes",
        type=int,
        metavar="N",
        help="relabel: items with fewer votes are left out (default: the campaign's --per-item)",
    )

    action("list", "list campaigns", "List the campaigns with their items, reviewers and votes.")


def _against_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--against", type=Path, action="append", default=[], metavar="EVAL_FILE", help=help_text)


def _data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", type=Path, help="JSONL, CSV or Parquet file")
    parser.add_argument("--config", type=Path, help="a tunewise.yaml for column mapping, thresholds and model")
    parser.add_argument(
        "--task",
        choices=["classification", "completion", "chat", "preference"],
        help="task format (default: from the config, or inferred from the columns)",
    )
    parser.add_argument(
        "--column",
        action="append",
        default=[],
        metavar="FIELD=COLUMN",
        help="map a task field to a column, e.g. --column label=category (repeatable)",
    )
    parser.add_argument("--model", help="base model whose tokenizer measures lengths (default: from the config)")


HANDLERS = {"eval": "evaluate", "learning-curve": "learning_curve"}  # commands whose name is a Python builtin


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    quiet_libraries(args.debug)
    if args.debug:
        os.environ["TUNEWISE_DEBUG"] = "1"  # for the processes tunewise starts (e.g. `select` measurements)
    try:
        from tunewise import commands

        return getattr(commands, HANDLERS.get(args.command, args.command))(args) or EXIT_OK
    except ValidationError as exc:  # a value set from the command line that the config model rejects
        if args.debug:
            raise
        for error in exc.errors():
            key = ".".join(str(part) for part in error["loc"]) or "value"
            print(f"error: {key}: {error['msg']}", file=sys.stderr)
        return TunewiseError.exit_code
    except TunewiseError as exc:
        if args.debug:
            raise
        for line in str(exc).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence against a traceback for users
        if args.debug:
            raise
        print(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
