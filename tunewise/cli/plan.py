"""`tunewise plan`: the memory a run's training needs, before it starts."""

from __future__ import annotations

import json

from rich.table import Table

from tunewise._format import size
from tunewise.cli.output import add_config_arguments, results
from tunewise.config import load_config

PARTS = (
    "weights",
    "reference model",
    "gradients",
    "optimizer state",
    "activations",
    "logits",
    "runtime",
    "freed, still resident",
)


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "plan",
        help="estimate the training's peak memory, and which methods fit this device",
        description="Estimate the peak memory of the config's training on this device (a GPU's memory, or the "
        "machine's RAM): weights, trainable master weights, gradients, optimizer state, activations of the longest "
        "batch of the training split, logits, and on a CPU the libraries' own memory; then the same for full, "
        "LoRA and QLoRA, with and without gradient checkpointing, and which fit. `tunewise run` refuses a "
        "training this plan says cannot fit (train.check_memory=false to try anyway). Reads the training split "
        "only, loads no weights. Every run records its measured peak (summary.json: train.peak_memory).",
    )
    add_config_arguments(parser, "train.batch_size=16")
    parser.add_argument("--json", action="store_true", help="print the plan as JSON on stdout instead of tables")
    parser.set_defaults(handler=handle)


def handle(args) -> int:
    from tunewise.pipeline import plan_training

    found = plan_training(load_config(args.config, list(args.overrides)))
    if args.json:
        print(json.dumps(found, indent=2, default=str))
        return 0
    plan = found["plan"]
    table = Table(title=f"memory plan: {found['model']} ({found['parameters'] / 1e6:.0f}M parameters)")
    table.add_column("part")
    table.add_column("estimate", justify="right")
    for part in PARTS:
        if part in plan["parts"]:
            table.add_row(part, size(plan["parts"][part]))
    table.add_row("[bold]peak[/]", f"[bold]{size(plan['total'])}[/]")
    results.print(table)
    results.print(
        f"{plan['method']}, {plan['precision']}, batch {plan['batch']} x {plan['tokens']} tokens (the longest "
        f"batch), gradient checkpointing {'on' if plan['checkpointing'] else 'off'}: "
        f"{'fits' if plan['fits'] else '[red]does not fit[/]'} in {size(found['device_memory'])} ({found['device']})"
    )
    if found["auto_batch"]:
        chosen = found["auto_batch"]
        results.print(
            f"train.batch_size: auto → {chosen['batch_size']} per step x {chosen['gradient_accumulation']} "
            f"accumulated (effective batch {chosen['effective_batch']}, {chosen['room']:.0%} of the device kept free)"
        )
    options = Table(title="every method on this device")
    for column in ("method", "checkpointing", "peak", "fits"):
        options.add_column(column, justify="right" if column == "peak" else "left")
    for option in found["options"]:
        chosen = option["method"] == plan["method"] and option["checkpointing"] == plan["checkpointing"]
        options.add_row(
            option["method"] + (" (config)" if chosen else ""),
            "on" if option["checkpointing"] else "off",
            size(option["total"]),
            "yes" if option["fits"] else "[red]no[/]",
        )
    results.print(options)
    return 0
