"""`tunewise select`: choose the base model on quality and cost."""

from __future__ import annotations

import json
from pathlib import Path

from rich.table import Table

from tunewise._format import duration, planned_memory, size, with_interval
from tunewise.cli.output import add_config_arguments, check_run_output, results
from tunewise.config import load_config


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "select",
        help="choose the base model on quality and cost: the same probe fine-tune for every candidate",
        description="For each model in select.candidates (unset: every family that applies to the task: for "
        "classification embedding_lr, minilm-l6 and the registry decoders with a head; for completion and chat "
        "retrieval and the registry decoders): how well it fits the task untuned (bits per byte, zero- and "
        "few-shot validation score), the validation score after the same short probe fine-tune (at least "
        "select.probe_per_class examples of each class), flagged where it cannot be told from chance, the "
        "projected training time of the full run, and its measured cost (parameters, disk, peak memory, training "
        "tokens/s, latency, throughput, serving cost per 1,000 requests). Prints a ranked table and a "
        "recommendation with reasons; writes selection.json and selection.png. Measurements are cached, so adding "
        "a candidate measures only it. Never reads the test split.",
    )
    add_config_arguments(parser, "select.probe_steps=40")
    parser.add_argument("--out", type=Path, help="output folder (default: <run directory>-select)")
    parser.add_argument("--json", action="store_true", help="print the selection as JSON on stdout instead of tables")
    parser.set_defaults(handler=handle)


def handle(args) -> int:
    from tunewise.select import select_base_model

    cfg = load_config(args.config, list(args.overrides))
    out = args.out or Path(f"{cfg.run_dir()}-select")
    check_run_output(cfg, out)
    selection = select_base_model(cfg, out)
    if args.json:
        print(json.dumps(selection_summary(selection), indent=2))
        return 0
    print_selection(selection)
    results.print(f"wrote {out / 'selection.json'} and {out / 'selection.png'}")
    return 0


def selection_summary(selection: dict) -> dict:
    """The selection without per-row scores (those stay in selection.json)."""

    def public(value):
        if isinstance(value, dict):
            return {k: public(v) for k, v in value.items() if k != "per_row"}
        return [public(v) for v in value] if isinstance(value, list) else value

    return public(selection)


def print_selection(selection: dict) -> None:
    by_name = {c["name"]: c for c in selection["candidates"]}
    ordered = [by_name[name] for name in selection["ranking"]]
    results.print(_quality_table(selection, ordered))
    results.print(_cost_table(selection, ordered))
    for sentence in selection["reasons"]:
        results.print(sentence)


def _quality_table(selection: dict, ordered: list[dict]) -> Table:
    table = Table(
        title=f"base-model selection: validation {selection['metric']} on {selection['validation_rows']} rows"
    )
    for column in ("#", "model", "probe [95% CI]", "vs best [95% CI]", "0-shot", "few-shot", "bits/B"):
        table.add_column(column, justify="left" if column == "model" else "right", no_wrap=column != "model")
    for position, candidate in enumerate(ordered, 1):
        gap = candidate["vs_best"]
        few = candidate["few_shot"]
        table.add_row(
            str(position),
            candidate["name"] + _marks(candidate["name"], selection),
            with_interval({"s": candidate["probe"]["score"], "s_ci": candidate["probe"]["score_ci"]}, "s"),
            "best" if gap is None else f"{gap['gain']:+.3f} [{gap['ci_low']:+.3f}, {gap['ci_high']:+.3f}]",
            f"{candidate['zero_shot']['score']:.3f}" if candidate["zero_shot"] else "-",
            f"{few['score']:.3f}" if few else "-",
            f"{candidate['bits_per_byte']:.3f}" if candidate["bits_per_byte"] is not None else "-",
        )
    return table


def _marks(name: str, selection: dict) -> str:
    role = (
        " (pick)" if name == selection["pick"] else " (trained by run)" if name == selection.get("train_pick") else ""
    )
    at_chance = any(c["name"] == name and c.get("at_chance") for c in selection["candidates"])
    return role + (" (at chance)" if at_chance else "")


def _cost_table(selection: dict, ordered: list[dict]) -> Table:
    currency = selection["currency"]
    table = Table(
        title=f"measured cost (peak memory includes the runtime); serving at {selection['price_per_hour']:g} "
        f"{currency}/hour"
    )
    headers = (
        "model",
        "params",
        "disk",
        "mem train",
        "mem plan",
        "mem serve",
        "train tok/s",
        "full train",
        "latency",
        "rows/s",
        "per 1k",
        "Pareto",
    )
    for column in headers:
        table.add_column(column, justify="left" if column == "model" else "right", no_wrap=column != "model")
    for candidate in ordered:
        table.add_row(
            candidate["name"],
            f"{candidate['parameters'] / 1e6:.0f}M",
            size(candidate["disk_bytes"]),
            size(candidate["train_peak_bytes"]),
            planned_memory(candidate.get("train_memory")),
            size(candidate["inference_peak_bytes"]),
            f"{candidate['train_tokens_per_second']:.0f}" if candidate["train_tokens_per_second"] else "-",
            duration(candidate["projected_train_seconds"]) if candidate.get("projected_train_seconds") else "-",
            f"{1000 * candidate['latency_seconds']:.0f} ms",
            f"{candidate['rows_per_second']:.1f}",
            f"{candidate['cost_per_1k']:.2g} {currency}",
            "yes" if candidate["pareto"] else "no",
        )
    return table
