"""End-to-end figures: a tunewise pipeline run as a user runs it, timed, with what the run itself measured.

Usage:
  .venv/bin/python benchmarks/pipeline_runs.py demo [--out runs/demo]
      `tunewise demo` (what `make demo` runs): the README's worked example.
  .venv/bin/python benchmarks/pipeline_runs.py fintech [--out runs/fintech]
      examples/fintech/run.sh: the fintech routing story (its summary and the per-fault audit scores).
  .venv/bin/python benchmarks/pipeline_runs.py run NAME CONFIG [OVERRIDE ...] [--out runs/NAME]
      `tunewise run CONFIG OVERRIDE ... --out runs/NAME`, e.g. `run banking77-classify configs/classify/banking77.yaml`.
The command runs in its own process; wall time and the peak resident memory of its largest process are measured
here. Writes benchmarks/results/pipeline-NAME.json (scripts/figures.py puts it in docs/figures.md).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import REPO, record  # noqa: E402 - benchmarks/record.py, beside this script

TUNEWISE = REPO / ".venv" / "bin" / "tunewise"
LEFT_OUT = {"per_class", "confusion", "bins", "settings", "per_example"}  # too long for a page: in the run folder


def timed(command: list[str]) -> tuple[str, dict]:
    """Run ``command`` in the repository; its stdout, and its wall time and peak memory."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - started
    print(done.stdout, end="")
    if done.returncode not in (0, 1):  # 1: a no-go verdict or audit findings, not a failure
        raise SystemExit(f"{' '.join(command)} exited with {done.returncode}")
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2  # kB on Linux
    return done.stdout, {"wall seconds": round(seconds, 1), "peak RSS of one process (GB)": round(peak_gb, 2)}


def scalars(values: dict) -> dict:
    """The numbers and short values of a summary section, without the per-class and per-bin detail."""
    return {key: rounded(value) for key, value in values.items() if key not in LEFT_OUT and not isinstance(value, dict)}


def rounded(value):
    """Four decimals, three significant digits for small values (p-values), element-wise for intervals."""
    if isinstance(value, list):
        return [rounded(item) for item in value]
    if isinstance(value, float):
        return float(f"{value:.3g}") if 0 < abs(value) < 1e-3 else round(value, 4)
    return value


def run_figures(run: Path) -> dict:
    """What a finished run folder's summary.json says: scores with intervals, baselines, the decision, training."""
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    scores = {"tuned": scalars(summary["tuned"])}
    if summary.get("base"):
        scores = {"base": scalars(summary["base"]), **scores}
    for name, speed in (summary.get("rows_per_second") or {}).items():
        scores[name]["rows_per_second"] = speed
    for name, baseline in (summary.get("baselines") or {}).items():
        comparison = baseline.get("comparison", {})
        scores[f"baseline {name}"] = {
            **scalars(baseline),
            "tuned minus it": rounded(comparison.get("gain")),
            "p value": rounded(comparison.get("p_value")),
        }
    figures = {
        "model": summary["model"],
        "split": " / ".join(f"{rows} {name}" for name, rows in summary["split"].items()),
        "scores": scores,
        "verdict": summary["decision"]["verdict"],
        "deciding checks": ", ".join(summary["decision"]["deciding"]) or "none",
        "run seconds (summary.json)": summary.get("seconds"),
    }
    if summary.get("comparison"):
        figures.update({f"tuned vs base: {key}": value for key, value in scalars(summary["comparison"]).items()})
    if summary.get("calibration"):
        figures["calibration error (ECE)"] = round(summary["calibration"]["ece"], 4)
    figures.update({f"training: {key}": value for key, value in scalars(summary.get("train") or {}).items()})
    figures["checks"] = {
        check["check"]: {"passed": check["passed"], "message": check["message"]}
        for check in summary["decision"]["checks"]
    }
    return figures


def demo(out: Path) -> dict:
    _, cost = timed([str(TUNEWISE), "demo", "--out", str(out)])
    return {**cost, **run_figures(REPO / out)}


def fintech(out: Path) -> dict:
    stdout, cost = timed(["bash", "examples/fintech/run.sh", str(out)])
    story = json.loads(stdout.strip().splitlines()[-1])
    caught = json.loads((REPO / out / "caught.json").read_text(encoding="utf-8"))
    overall = caught.pop("any_check")
    figures = {**cost, **{key: value for key, value in story.items() if not isinstance(value, dict)}}
    figures["minutes by stage"] = ", ".join(
        f"{stage} {minutes}" for stage, minutes in story["minutes_by_stage"].items()
    )
    figures["by intents"] = {name: scalars(group) for name, group in story["by_intents"].items()}
    figures["each injected fault against the check that exists for it"] = caught
    figures["rows flagged by any check"] = f"{overall['rows_flagged']} of {overall['rows']}"
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    kinds = parser.add_subparsers(dest="kind", required=True)
    kinds.add_parser("demo").add_argument("--out", type=Path, default=Path("runs/demo"))
    kinds.add_parser("fintech").add_argument("--out", type=Path, default=Path("runs/fintech"))
    run = kinds.add_parser("run")
    run.add_argument("name")
    run.add_argument("config")
    run.add_argument("overrides", nargs="*")
    run.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.kind == "run":
        out = args.out or Path("runs") / args.name
        _, cost = timed([str(TUNEWISE), "run", args.config, *args.overrides, "--out", str(out)])
        name, figures = args.name, {**cost, **run_figures(REPO / out)}
    else:
        name, figures = args.kind, (demo if args.kind == "demo" else fintech)(args.out)
    record(f"pipeline-{name}", figures, note=f"outputs in {args.out or out}")


if __name__ == "__main__":
    main()
