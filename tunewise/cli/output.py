"""What several commands print: the run summary with its decision, numbers with intervals, sizes; and the
options the data commands share. Results go to stdout (``results``); progress and notes to stderr.

Command modules import the stages inside their handlers, so `tunewise --help` does not load torch."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tunewise._format import with_interval
from tunewise._progress import console
from tunewise.config import TASK_FIELD_NAMES, TunewiseConfig, load_config
from tunewise.errors import TunewiseError
from tunewise.rundir import RunDir

results = Console()


def rate(per_second: float) -> str:
    """Rows per second; beyond a million (a constant answer) the exact figure only measures the timer."""
    return "> 1M" if per_second > 1e6 else f"{per_second:,.0f}"


def print_summary(summary: dict, run_dir: Path) -> None:
    from tunewise.evaluate.metrics import headline_keys

    base, tuned = summary.get("base"), summary["tuned"]
    keys = headline_keys(summary["task"], short=True)
    table = Table(title=f"{summary['model']} ({summary['method']}) on {tuned['n']} test rows")
    table.add_column("metric")
    if base:
        table.add_column("base", justify="right")
    table.add_column("fine-tuned", justify="right")
    if base:
        table.add_column("change", justify="right")
    for key in keys:
        cells = [with_interval(tuned, key)]
        if base:
            cells = [with_interval(base, key), *cells, f"{tuned[key] - base[key]:+.3f}"]
        table.add_row(key, *cells)
    results.print(table)
    if summary.get("baselines"):
        results.print(baselines_table(summary, keys[0]))
    comparison = summary.get("comparison")
    if comparison:
        results.print(
            f"{comparison['metric']} gain {comparison['gain']:+.3f} (95% CI {comparison['ci_low']:+.3f} to "
            f"{comparison['ci_high']:+.3f}), {comparison['test']} p = {comparison['p_value']:.2g}"
        )
    if summary.get("calibration"):
        results.print(f"classification head: expected calibration error {summary['calibration']['ece']:.3f}")
    for warning in summary.get("warnings", []):
        results.print(f"[yellow]warning[/] {warning}")
    if "decision" in summary:
        print_decision(summary["decision"])
    train = summary.get("train")
    if train:
        best = f"{train['best_val_loss']:.4f}" if train["best_val_loss"] is not None else "n/a"
        results.print(
            f"trained {train['steps']} steps, best validation loss {best} at step "
            f"{train['best_step']}{' (stopped early)' if train['stopped_early'] else ''}"
        )
        if train.get("stopped"):
            results.print(f"training: {train['stopped']}")
    results.print(f"{summary['seconds']:.0f} s; run directory: {run_dir}")
    report = RunDir(run_dir).report / "report.html"
    if report.exists():
        results.print(f"report: {report}")


def baselines_table(summary: dict, key: str) -> Table:
    """The cheap baselines beside the fine-tuned model: score, the tuned model's paired gain over each, cost."""
    tuned = summary["tuned"]
    table = Table(title=f"cheap baselines on the same {tuned['n']} test rows (fitted on the training split)")
    for column in ("system", f"{key} [95% CI]", "tuned minus it [95% CI]", "fit s", "rows/s"):
        table.add_column(column, justify="left" if column == "system" else "right")
    for name, found in summary["baselines"].items():
        c = found["comparison"]
        table.add_row(
            name,
            with_interval(found, key),
            f"{c['gain']:+.3f} [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}]",
            f"{found['fit_seconds']:.1f}",
            rate(found["rows_per_second"]),
        )
    speed = summary.get("rows_per_second", {}).get("tuned")
    table.add_row("fine-tuned", with_interval(tuned, key), "", "", rate(speed) if speed else "-")
    return table


def print_decision(decision: dict) -> None:
    for check in decision["checks"]:
        mark = "[green]pass[/]" if check["passed"] else ("[red]FAIL[/]" if check["blocking"] else "[yellow]note[/]")
        results.print(f"  {mark} {check['check']}: {check['message']}")
    colour = "green" if decision["verdict"] == "go" else "red"
    why = f" (decided by: {', '.join(decision['deciding'])})" if decision["deciding"] else ""
    results.print(f"verdict: [bold {colour}]{decision['verdict']}[/]{why}")


def fraction(text: str) -> float:
    """An argparse type: a number from 0 to 1."""
    value = _number(text)
    if not 0.0 <= value <= 1.0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text} is not a fraction from 0 to 1")
    return value


def nonnegative(text: str) -> float:
    """An argparse type: a finite number, 0 or more (e.g. rows added per clean row)."""
    value = _number(text)
    if not 0.0 <= value < float("inf"):  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text} is not a rate of 0 or more")
    return value


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None


def positive(text: str) -> int:
    """An argparse type: a whole number, 1 or more."""
    value = count(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not 1 or more")
    return value


def count(text: str) -> int:
    """An argparse type: a whole number, 0 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def _same(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))


def check_output_file(out: Path, inputs: list[Path | None]) -> None:
    """Refuse, before any work, an output file that is an input or that cannot be a file."""
    for source in filter(None, inputs):
        if _same(Path(out), Path(source)):
            raise TunewiseError(f"{out}: this is an input of the command; write the output elsewhere")
    if Path(out).is_dir():
        raise TunewiseError(f"{out}: is a folder; give a file name for the output")
    if any(parent.is_file() for parent in Path(out).parents):
        raise TunewiseError(f"{out}: a part of this path is a file, not a folder")


def check_output_dir(out: Path, inputs: list[Path | None], owned: set[str] | None = None) -> None:
    """Refuse, before any work, an output folder that is a file, holds an input, or (when the command replaces
    its folder as a whole: ``owned`` names the files it writes) holds anything else: a folder of other files is
    never deleted to make room."""
    if Path(out).exists() and not Path(out).is_dir():
        raise TunewiseError(f"{out}: is a file; give a folder for the output")
    if any(parent.is_file() for parent in Path(out).parents):
        raise TunewiseError(f"{out}: a part of this path is a file, not a folder")
    folder, here = Path(out).resolve(), Path.cwd().resolve()
    for source in filter(None, inputs):
        if folder == Path(source).resolve() or folder in Path(source).resolve().parents:
            raise TunewiseError(f"{out}: holds the input {source}; write the output elsewhere")
    if owned is None:
        return
    if folder == here or folder in here.parents:
        raise TunewiseError(f"{out}: the current folder or one above it; give a folder of its own for the output")
    others = sorted(p.name for p in folder.iterdir() if p.name not in owned) if folder.is_dir() else []
    if others:
        raise TunewiseError(
            f"{out}: holds other files ({', '.join(others[:3])}{', …' if len(others) > 3 else ''}) and this command "
            "replaces its folder as a whole; give a new or empty folder, or the folder of an earlier run of it"
        )


def check_port_free(host: str, port: int) -> None:
    """Refuse, before a model or database is loaded, a host and port a server cannot listen on."""
    import socket

    if not 0 < port < 65536:
        raise TunewiseError(f"--port {port}: not a port number (1 to 65535)")
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]  # IPv4 or IPv6, as uvicorn binds
        with socket.create_server((host, port), family=family):
            pass
    except OSError as exc:
        raise TunewiseError(f"--host {host} --port {port}: cannot listen there ({exc.strerror or exc})") from None


def check_run_output(cfg: TunewiseConfig, out: Path) -> None:
    """A run, selection or learning-curve folder: refused before any work if it is a file or holds a data file
    (the split would be written over it). Its own config.yaml may be the config: it is written back unchanged."""
    inputs = [cfg.resolve_path(cfg.data.path), cfg.resolve_path(cfg.data.test_path)]
    check_output_dir(out, [path for path in inputs if path is not None])


def add_config_arguments(parser: argparse.ArgumentParser, example: str = "train.epochs=2") -> None:
    parser.add_argument("config", type=Path, help="a tunewise.yaml")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help=f"override config keys, e.g. {example}")


def add_against_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--against", type=Path, action="append", default=[], metavar="EVAL_FILE", help=help_text)


def add_data_options(parser: argparse.ArgumentParser) -> None:
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
    parser.add_argument(
        "--label-case",
        choices=["keep", "lower"],
        help="lower: lower-case and strip labels, so labels differing only in case or spaces are one class "
        "(default: data.label_case, keep)",
    )


def data_config(args) -> TunewiseConfig:
    """The config for a data command: --config if given, then --task, --column and --model on top."""
    cfg = load_config(args.config) if args.config else TunewiseConfig()
    if args.task:
        cfg.data.task = args.task
    for item in args.column:
        field, sep, column = item.partition("=")
        if not sep or not field or not column:
            raise TunewiseError(f"--column '{item}': expected FIELD=COLUMN, e.g. label=category")
        if field not in TASK_FIELD_NAMES:
            raise TunewiseError(
                f"--column '{item}': unknown task field '{field}' (fields: {', '.join(TASK_FIELD_NAMES)})"
            )
        cfg.data.columns = {**cfg.data.columns, field: column}
    if args.model:
        cfg.model.name = args.model
    if args.label_case:
        cfg.data.label_case = args.label_case
    return cfg


def tokenizer_model(cfg) -> str | None:
    """The base model folder for the length check, or None (the check is then skipped, with the reason)."""
    if cfg.audit.checks is not None and "length" not in cfg.audit.checks:
        return None
    from tunewise.models.registry import resolve_model

    try:
        return resolve_model(
            cfg.model.name, cfg.resolve_path(cfg.model.cache_dir), cfg.model.revision, cfg.model.trust_remote_code
        )
    except TunewiseError as exc:
        console.print(f"[yellow]warning[/] length check skipped: {exc}")
        return None
