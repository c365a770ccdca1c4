"""`tunewise tune`: hyperparameters found on the validation split, not guessed, then one run on the test split."""

from __future__ import annotations

from pathlib import Path

from rich import box
from rich.table import Table

from tunewise.cli.output import add_config_arguments, check_run_output, results


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "tune",
        help="search hyperparameters on the validation split (Optuna), then run the chosen setting once",
        description="Search the config's tune.space (or the method's defaults: learning rate, epochs, weight decay, "
        "warmup, LoRA rank/alpha/dropout) with Optuna, one trial at a time (one per GPU where there are several: "
        "tune.workers), each scored on the same validation rows and pruned from its validation losses. The best "
        "setting is kept only if it beats the default and every cheaper setting beyond the noise; then one run "
        "with it opens the test split, once. The study is stored in OUT/study.db: run the same command again to "
        "resume a killed search.",
    )
    add_config_arguments(parser, example="tune.trials=20")
    parser.add_argument("--out", type=Path, required=True, help="the search's folder (study.db, trials/, run/)")
    parser.add_argument("--trials", type=int, help="trials in all, finished ones included (default: tune.trials)")
    parser.add_argument(
        "--budget-minutes", type=float, help="start no trial after this many minutes (default: tune.budget_minutes)"
    )
    parser.set_defaults(handler=handle)


def handle(args) -> int:
    from tunewise.config import load_config
    from tunewise.errors import TunewiseError
    from tunewise.tune import tune

    if args.trials is not None and args.trials < 1:
        raise TunewiseError(f"--trials must be at least 1, got {args.trials}")
    if args.budget_minutes is not None and args.budget_minutes <= 0:
        raise TunewiseError(f"--budget-minutes must be above 0, got {args.budget_minutes:g}")
    cfg = load_config(args.config, list(args.overrides))
    check_run_output(cfg, args.out)
    found = tune(cfg, args.out, args.trials, args.budget_minutes)
    decision = found["decision"]
    results.print(trials_table(found))
    results.print(f"chosen: trial {decision['chosen']}: {decision['reason']}")
    run = found["run"]
    results.print(f"final run (the only test read): {run['folder']}, verdict {run['verdict']}")
    results.print(f"wrote {args.out / 'tuning.json'}")
    return 0


def trials_table(found: dict) -> Table:
    """The search's trials, one row each: its setting, validation score, state and minutes."""
    decision = found["decision"]
    keys = list(found["space"])
    # headers in words ("learning rate"), each column at least as wide as its longest word, and no vertical rules:
    # a narrow terminal (80 columns: CI logs, a split pane) wraps a header between words instead of cutting it off
    headers = [key.removeprefix("train.").removeprefix("encoder.").replace(".", " ").replace("_", " ") for key in keys]
    rows = []
    for trial in found["trials"]:
        mark = " (default)" if trial["default"] else ""
        mark += " (chosen)" if trial["number"] == decision["chosen"] else ""
        values = [_value(trial["values"].get(key)) for key in keys]
        score = f"{trial['score']:.4f}" if trial["score"] is not None else "-"
        minutes = f"{trial['minutes']:.1f}" if trial["minutes"] is not None else "-"
        rows.append([f"{trial['number']}{mark}", *values, score, trial["state"], minutes])
    table = Table(
        title=f"tune: validation {found['metric']} on {found['validation_rows']} rows",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        pad_edge=False,
        collapse_padding=True,
    )
    for index, column in enumerate(("trial", *headers, found["metric"], "state", "minutes")):
        words = [word for text in (column, *(row[index] for row in rows)) for word in text.split()]
        table.add_column(column, justify="right", min_width=max(map(len, words)))
    for row in rows:
        table.add_row(*row)
    return table


def _value(value) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if isinstance(value, float) else str(value)
