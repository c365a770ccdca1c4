"""`tunewise demo`: the quickstart on the bundled Banking77 subset."""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

from tunewise._progress import console
from tunewise.cli.output import print_summary
from tunewise.config import load_config

DEMO_CONFIG = "demo.yaml"


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "demo",
        help="the quickstart: Banking77 subset, SmolLM2-135M + LoRA, on CPU",
        description="Fine-tune SmolLM2-135M-Instruct with LoRA on a Banking77 subset shipped "
        "with tunewise and print base vs fine-tuned accuracy and macro-F1.",
    )
    parser.add_argument("--out", type=Path, default=Path("runs/demo"), help="run directory (default runs/demo)")
    parser.add_argument("--cache-dir", type=Path, help="model cache (default $TUNEWISE_CACHE or ~/.cache/tunewise)")
    parser.set_defaults(handler=handle)


def handle(args) -> int:
    from tunewise.pipeline import run

    if args.cache_dir:
        os.environ["TUNEWISE_CACHE"] = str(args.cache_dir)
    cfg = load_config(Path(str(files("tunewise") / "resources" / DEMO_CONFIG)))
    console.print(
        "[bold]tunewise demo[/]: LoRA fine-tune of SmolLM2-135M-Instruct on a Banking77 subset "
        "(PolyAI, CC BY 4.0), base vs tuned on a held-out test set"
    )
    summary = run(cfg, args.out)
    print_summary(summary, args.out)
    return 0
