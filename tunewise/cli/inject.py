"""`tunewise inject`: known faults injected into a clean data file, with the truth listed."""

from __future__ import annotations

from pathlib import Path

from tunewise._io import atomic_write_json, atomic_write_jsonl
from tunewise.cli.output import add_data_options, check_output_file, count, data_config, fraction, nonnegative, results
from tunewise.errors import TunewiseError

# rows added per clean row (rate), or the share of the clean rows changed (fraction)
RATES = (
    ("exact-duplicate", 0.05, nonnegative),
    ("near-duplicate", 0.05, nonnegative),
    ("decorated-duplicate", 0.0, nonnegative),  # a greeting or sign-off added: what normalisation cannot undo
    ("label-noise", 0.05, fraction),
    ("empty", 0.01, nonnegative),
)
LEAKAGE = 0.02  # with --test only


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "inject",
        help="inject known faults into a clean data file (what-if studies, measuring the audit)",
        description="Write a copy of DATA with realistic faults injected at the given rates (fractions of the "
        "clean row count), plus OUT.truth.json listing the 0-based rows of each fault. DATA is not modified.",
    )
    add_data_options(parser)
    parser.add_argument("--out", type=Path, required=True, help="the faulty JSONL file to write")
    parser.add_argument("--test", type=Path, help="an evaluation file to leak rows from")
    parser.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    for name, default, kind in RATES:
        parser.add_argument(f"--{name}", type=kind, default=default, metavar="RATE", help=f"(default {default})")
    parser.add_argument(
        "--leakage",
        type=nonnegative,
        metavar="RATE",
        help=f"test rows copied into the data (default {LEAKAGE} with --test)",
    )
    parser.add_argument("--starve-classes", type=count, default=0, help="classes cut down to --starve-to rows")
    parser.add_argument("--starve-to", type=count, default=3, help="(default 3)")
    parser.add_argument(
        "--boilerplate",
        type=nonnegative,
        default=0.0,
        metavar="RATE",
        help="signature/auto-reply/'test' rows with a label (default 0)",
    )
    parser.add_argument(
        "--skew-rarest",
        type=fraction,
        default=0.0,
        metavar="FRACTION",
        help="the rarest FRACTION of classes keep only --skew-keep of their rows (default 0)",
    )
    parser.add_argument("--skew-keep", type=fraction, default=1.0, metavar="FRACTION", help="(default 1)")
    parser.add_argument(
        "--duplicates-from-common",
        type=fraction,
        default=0.0,
        metavar="FRACTION",
        help="duplicates copy rows of the most common FRACTION of classes only (default 0: any)",
    )
    parser.add_argument(
        "--noise-confusable-only",
        action="store_true",
        help="flip only rows whose label has a confusable neighbour (shares a word)",
    )
    parser.add_argument(
        "--pool-out",
        type=Path,
        metavar="POOL.jsonl",
        help="also write the rows the skew removed as an unlabelled pool (inputs only; their labels, and which "
        "rows are distractors, in POOL.jsonl.truth.json), for `tunewise pool select`",
    )
    parser.add_argument(
        "--pool-distractors",
        type=fraction,
        default=0.15,
        metavar="FRACTION",
        help="share of the pool that is distractors: near-copies of common classes' rows and off-topic chat "
        "lines (default 0.15)",
    )
    parser.set_defaults(handler=handle)


def handle(args) -> int:
    from collections import Counter

    from tunewise.data.curate import as_file_row
    from tunewise.data.faults import FaultRates, inject, pool_of
    from tunewise.data.load import load_data, load_eval_data

    if args.leakage and not args.test:
        raise TunewiseError("--leakage needs --test: the evaluation file whose rows leak into the data")
    if args.pool_out and not args.skew_rarest:
        raise TunewiseError("--pool-out needs --skew-rarest: the pool is the rows the skew removes")
    check_output_file(args.out, [args.data, args.test])
    if args.pool_out:
        check_output_file(args.pool_out, [args.data, args.test, args.out])
    cfg = data_config(args)
    loaded = load_data(cfg.data, args.data)
    test = load_eval_data(cfg.data, args.test, loaded.task).records if args.test else None
    rates = FaultRates(
        exact_duplicate=args.exact_duplicate,
        near_duplicate=args.near_duplicate,
        decorated_duplicate=args.decorated_duplicate,
        label_noise=args.label_noise,
        empty=args.empty,
        leakage=(LEAKAGE if args.test else 0.0) if args.leakage is None else args.leakage,
        starve_classes=args.starve_classes,
        starve_to=args.starve_to,
        boilerplate=args.boilerplate,
        skew_rarest=args.skew_rarest,
        skew_keep=args.skew_keep,
        duplicates_from_common=args.duplicates_from_common,
        noise_confusable_only=args.noise_confusable_only,
    )
    removed: list[dict] = []
    rows, truth = inject(loaded.records, loaded.task, rates, seed=args.seed, test_records=test, removed=removed)
    atomic_write_jsonl(args.out, [as_file_row(r, cfg.data.columns) for r in rows])
    truth_path = args.out.with_name(args.out.name + ".truth.json")
    atomic_write_json(truth_path, {"rates": rates.__dict__, "seed": args.seed, "rows": len(rows), "faults": truth})
    counts = ", ".join(f"{kind} {len(found)}" for kind, found in sorted(truth.items()))
    results.print(f"wrote {args.out} ({len(rows)} rows from {len(loaded.records)}: {counts}) and {truth_path}")
    if args.pool_out:
        pool, pool_truth = pool_of(removed, loaded.records, loaded.task, args.pool_distractors, args.seed)
        atomic_write_jsonl(args.pool_out, [as_file_row(r, cfg.data.columns) for r in pool])
        pool_truth_path = args.pool_out.with_name(args.pool_out.name + ".truth.json")
        atomic_write_json(
            pool_truth_path, {"seed": args.seed, "distractors": args.pool_distractors, "rows": pool_truth}
        )
        kinds = Counter(row["kind"] for row in pool_truth)
        results.print(
            f"wrote {args.pool_out} ({len(pool)} unlabelled rows: "
            f"{', '.join(f'{kind} {n}' for kind, n in sorted(kinds.items()))}) and {pool_truth_path}"
        )
    return 0
