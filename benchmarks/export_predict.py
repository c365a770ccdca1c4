"""`tunewise predict` and `tunewise export` as a user runs them: wall time, peak memory, file size, and whether the
answers equal the run's own evaluation.

Usage:
  .venv/bin/python benchmarks/export_predict.py [--predict-run runs/fintech/runs/curated]
      [--head-run runs/demo] [--generate-run runs/demo-generate] [--check-rows 240]
predict: the run's model on its own test file (only the inputs are read), compared row for row with the
predictions its evaluation wrote. export: a classification head as merged fp32 and bf16; a generative run as merged
fp32, GGUF f16 and q8_0, and Ollama; each export is loaded back and checked on --check-rows test rows by tunewise
itself (its agreement is what export.json says). Each command runs in its own process, one after another; an arm
whose run folder is missing is skipped, said aloud; a command that fails is recorded with its exit code.
Writes benchmarks/results/export_predict.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from command_cost import run_measured  # noqa: E402 - benchmarks/command_cost.py, beside this script
from record import REPO, record  # noqa: E402

from tunewise._io import read_jsonl  # noqa: E402
from tunewise.rundir import RunDir, read_json  # noqa: E402

TUNEWISE = REPO / ".venv" / "bin" / "tunewise"
EXPORTS = (  # (which run, format, extra arguments)
    ("head", "merged", ["--dtype", "fp32"]),
    ("head", "merged", ["--dtype", "bf16"]),
    ("generate", "merged", ["--dtype", "fp32"]),
    ("generate", "gguf", ["--quant", "f16"]),
    ("generate", "gguf", ["--quant", "q8_0"]),
    ("generate", "ollama", ["--quant", "f16"]),
)


def timed(command: list[str]) -> dict:
    """Run ``command`` in the repository: its wall time and the peak memory of its largest process."""
    exit_code, _, seconds, peak_gib = run_measured(command)
    return {"exit code": exit_code, "wall seconds": round(seconds, 1), "peak RSS (GiB)": round(peak_gib, 2)}


def predict_figures(run: Path, scratch: Path) -> dict:
    """Predict the run's own test rows and compare with what its evaluation predicted."""
    test_file = yaml.safe_load(RunDir(run).config.read_text(encoding="utf-8"))["data"]["test_path"]
    out = scratch / "predictions.jsonl"
    cost = timed([str(TUNEWISE), "predict", str(run), str(test_file), "--out", str(out)])
    if cost["exit code"] != 0:
        return {"run": str(run), **cost}
    predicted = [row["prediction"] for row in read_jsonl(out)]
    evaluated = [row["tuned"] for row in read_jsonl(RunDir(run).predictions())]
    same = sum(a == b for a, b in zip(predicted, evaluated, strict=True))
    return {
        "run": str(run),
        "rows": len(predicted),
        **cost,
        "rows/s, whole command": round(len(predicted) / cost["wall seconds"], 1),
        "equal to the run's evaluation": f"{same} of {len(evaluated)}",
    }


def export_figures(run: Path, fmt: str, extra: list[str], check_rows: int, scratch: Path) -> dict:
    out = Path(tempfile.mkdtemp(dir=scratch)) / "export"  # a folder of its own: export refuses an existing --out
    cost = timed(
        [str(TUNEWISE), "export", str(run), "--format", fmt, *extra, "--check-rows", str(check_rows), "--out", str(out)]
    )
    if cost["exit code"] != 0:  # e.g. 1: the export's answers disagreed with the run's (a finding, recorded)
        return {"run": str(run), "format": " ".join([fmt, *extra[1::2]]), **cost}
    checked = read_json(out / "export.json")
    weights = [path for path in out.iterdir() if path.suffix in (".safetensors", ".gguf")]
    return {
        "run": str(run),
        "format": f"{fmt} {checked['dtype']}",
        **cost,
        "model files (MiB)": round(sum(path.stat().st_size for path in weights) / 1024**2),
        "agreement with the run": f"{checked['agreement']:.1%} of {checked['rows']} rows",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--predict-run", type=Path, default=Path("runs/fintech/runs/curated"))
    parser.add_argument("--head-run", type=Path, default=Path("runs/demo"))
    parser.add_argument("--generate-run", type=Path, default=Path("runs/demo-generate"))
    parser.add_argument("--check-rows", type=int, default=240)
    args = parser.parse_args()
    runs = {"head": args.head_run, "generate": args.generate_run}
    figures = {}
    with tempfile.TemporaryDirectory(prefix="tunewise-export-") as scratch:
        if RunDir(args.predict_run).summary.exists():
            figures["predict"] = predict_figures(args.predict_run, Path(scratch))
        else:
            print(f"skipped predict: {args.predict_run} is not a finished run")
        for kind, fmt, extra in EXPORTS:
            if not RunDir(runs[kind]).summary.exists():
                print(f"skipped export {fmt} {' '.join(extra)}: {runs[kind]} is not a finished run")
                continue
            arm = export_figures(runs[kind], fmt, extra, args.check_rows, Path(scratch))
            figures[f"export {kind}: {arm['format']}"] = arm
            print(arm)
    record("export_predict", figures, note="each command in its own process, one after another")


if __name__ == "__main__":
    main()
