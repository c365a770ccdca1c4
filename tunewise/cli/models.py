"""`tunewise models`: the model registry; `models prepare NAME` caches one."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.table import Table

from tunewise._progress import console
from tunewise.cli.output import results


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "models",
        help="list base models; `models prepare NAME` caches one",
        description="List the model registry, or prepare (dequantise and cache) a model.",
    )
    parser.add_argument("--cache-dir", type=Path, help="model cache (default $TUNEWISE_CACHE or ~/.cache/tunewise)")
    actions = parser.add_subparsers(dest="models_command", metavar="ACTION")
    prepare = actions.add_parser(
        "prepare",
        help="dequantise a registry model and cache it as safetensors",
        description="Dequantise a registry model's GGUF and cache it as safetensors.",
    )
    prepare.add_argument("name", help="registry name, see `tunewise models`")
    prepare.add_argument("--force", action="store_true", help="rebuild even if cached")
    prepare.add_argument("--cache-dir", type=Path, dest="prepare_cache_dir", help=argparse.SUPPRESS)
    parser.set_defaults(handler=handle)


def handle(args) -> int:
    from tunewise.models.registry import list_models, prepare_model

    cache_dir = getattr(args, "prepare_cache_dir", None) or args.cache_dir
    if args.models_command == "prepare":
        with console.status(f"preparing {args.name} (dequantise GGUF, cache as safetensors)"):
            path = prepare_model(args.name, cache_dir, force=args.force)
        console.print(f"{args.name}: cached at {path}")
        return 0
    table = Table(title="base models")
    for column in ("name", "parameters", "source", "license", "kind", "cached"):
        table.add_column(column, no_wrap=column in ("name", "parameters", "kind", "cached"))
    for row in list_models(cache_dir):
        table.add_row(*(("yes" if v else "no") if isinstance(v, bool) else str(v) for v in row.values()))
    results.print(table)
    console.print(
        "Also accepted as model.name: a local Hugging Face model folder, or a hub id when a hub is reachable."
    )
    return 0
