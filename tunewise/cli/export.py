"""`tunewise export`: a finished run's fine-tuned model as a folder other programs load, checked before it lands."""

from __future__ import annotations

from pathlib import Path

from tunewise.cli.output import check_output_dir, fraction, positive, results
from tunewise.errors import TunewiseError


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "export",
        help="save a run's fine-tuned model (merged, GGUF or Ollama), checked against the run",
        description="Save a finished run's fine-tuned model in a folder with a model card (README.md: data, "
        "verdict, test metrics with intervals, licence) and export.json. --format merged: one folder transformers "
        "loads by itself (a LoRA adapter merged into the base, or a head's full weights, as safetensors, with the "
        "tokenizer and chat template). --format gguf: a GGUF file for llama.cpp (written by llama.cpp's own "
        "converter; text generation only, not classification heads). --format ollama: the GGUF and a Modelfile. "
        "Before the folder is put in place, the export is loaded back from its own files and run on test rows; "
        "when its answers agree with the run's own predictions on fewer than --min-agreement of them, the "
        "command fails (exit 1) and writes nothing.",
    )
    parser.add_argument("run_dir", type=Path, help="a run directory written by `tunewise run`")
    parser.add_argument("--out", type=Path, required=True, help="the folder to create")
    parser.add_argument("--format", default="merged", choices=["merged", "gguf", "ollama"], help="(default merged)")
    parser.add_argument("--quant", default="f16", choices=["f16", "q8_0"], help="GGUF weight type (default f16)")
    parser.add_argument(
        "--dtype",
        default="auto",
        choices=["auto", "fp32", "bf16", "fp16"],
        help="merged weight precision (default auto: the precision the run was evaluated in here)",
    )
    parser.add_argument("--check-rows", type=positive, default=300, help="test rows to check on (default 300)")
    parser.add_argument(
        "--min-agreement",
        type=fraction,
        help="required share of equal answers (default: 0.995 merged, 0.99 GGUF f16, 0.95 GGUF q8_0)",
    )
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    parser.set_defaults(handler=handle)


def handle(args) -> int:
    from tunewise.pipeline import export_run

    if args.out.exists() and not args.force:
        raise TunewiseError(f"{args.out}: exists; give a new folder, or --force to replace it")
    if args.format == "merged" and args.quant != "f16":
        raise TunewiseError("--quant applies to --format gguf and ollama; a merged folder takes --dtype")
    if args.format != "merged" and args.dtype != "auto":
        raise TunewiseError(f"--dtype applies to --format merged; --format {args.format} takes --quant")
    check_output_dir(args.out, [args.run_dir])
    if args.out.is_dir() and any(args.out.iterdir()) and not (args.out / "export.json").is_file():
        raise TunewiseError(f"{args.out}: holds files that are not an earlier export; --force replaces only those")
    if args.out.resolve() in (Path.cwd().resolve(), *Path.cwd().resolve().parents):
        raise TunewiseError(f"{args.out}: the current folder or one above it; give a folder of its own")
    found = export_run(args.run_dir, args.out, args.format, args.dtype, args.quant, args.check_rows, args.min_agreement)
    results.print(
        f"exported {found['kind']} model ({found['format']}, {found['dtype']}) to {args.out}: loaded back, it gives "
        "the run's answer "
        f"on {found['agreement']:.1%} of {found['rows']} test rows (required {found['min_agreement']:.1%}); "
        f"{found['seconds']:.0f} s"
    )
    return 0
