"""End-to-end figures: a tunewise pipeline run as a user runs it, timed, with what the run itself measured.

Usage:
  .venv/bin/python benchmarks/pipeline_runs.py demo [--out runs/demo]
      `tunewise demo` (what `make demo` runs): the README's worked example.
  .venv/bin/python benchmarks/pipeline_runs.py fintech [--out runs/fintech]
      examples/fintech/run.sh: the fintech routing story (its summary and the per-fault audit scores).
  .venv/bin/python benchmarks/pipeline_runs.py select NAME CONFIG [OVERRIDE ...] [--out runs/NAME]
      `tunewise select`: the base-model selection's ranking, probe scores and measured costs.
  .venv/bin/python benchmarks/pipeline_runs.py learning-curve NAME CONFIG [OVERRIDE ...] [--out runs/NAME]
      `tunewise learning-curve`: validation score against training rows, and its reading.
  .venv/bin/python benchmarks/pipeline_runs.py tune NAME CONFIG [OVERRIDE ...] [--out runs/NAME]
      `tunewise tune`: the search's trials, its choice and the final run (tune.trials=12 sets the trials).
  .venv/bin/python benchmarks/pipeline_runs.py run NAME CONFIG [OVERRIDE ...] [--out runs/NAME]
      `tunewise run CONFIG OVERRIDE ... --out runs/NAME`, e.g. `run banking77-classify configs/classify/banking77.yaml`.
The command runs in its own process; wall time and the peak resident memory of its largest process are measured
here. It runs with a fresh tunewise cache that shares only the dequantised models (TUNEWISE_CACHE): embeddings,
selection probes and baselines are measured, not read from an earlier run's cache.
Writes benchmarks/results/pipeline-NAME.json (scripts/figures.py puts it in docs/figures.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from command_cost import run_measured  # noqa: E402 - benchmarks/command_cost.py, beside this script
from record import REPO, record  # noqa: E402

from tunewise._io import read_jsonl  # noqa: E402
from tunewise.models.registry import default_cache_dir  # noqa: E402
from tunewise.rundir import SELECTION, RunDir, read_json  # noqa: E402

TUNEWISE = REPO / ".venv" / "bin" / "tunewise"
# too long for a page: in the run folder
LEFT_OUT = {"per_class", "confusion", "bins", "settings", "per_example", "per_row"}


def timed(command: list[str]) -> tuple[str, dict]:
    """Run ``command`` in the repository; its stdout, and its wall time and peak memory."""
    with tempfile.TemporaryDirectory(prefix="tunewise-cache-") as cache:
        if not (default_cache_dir() / "models").exists():
            raise SystemExit("no dequantised models cached yet: run `tunewise models prepare NAME` first")
        for shared in ("models", "gguf"):  # dequantising a model once is not what these figures measure
            if (default_cache_dir() / shared).exists():
                os.symlink(default_cache_dir() / shared, Path(cache) / shared)
        exit_code, stdout, seconds, peak_gib = run_measured(
            command, env={**os.environ, "TUNEWISE_CACHE": cache}, capture=True
        )
    print(stdout, end="")
    if exit_code != 0:  # a no-go verdict exits 0: anything else is a failure, not a figure
        raise SystemExit(f"{' '.join(command)} exited with {exit_code}")
    # the largest single process of the command (not the sum of processes running at once)
    cost = {"wall seconds": round(seconds, 1), "peak RSS of its largest process (GiB)": round(peak_gib, 2)}
    print(json.dumps(cost))  # in the log even if reading the run's files fails below
    return stdout, cost


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
    summary = read_json(RunDir(run).summary)
    scores = {"tuned": scalars(summary["tuned"])}
    if summary.get("base"):
        scores = {"base": scalars(summary["base"]), **scores}
    for name, speed in (summary.get("rows_per_second") or {}).items():
        scores[name]["rows_per_second"] = speed
    for name, baseline in (summary.get("baselines") or {}).items():
        comparison = baseline.get("comparison", {})
        scores[f"baseline {name}"] = {
            **scalars(baseline),
            **{f"its {key}": value for key, value in scalars(baseline.get("settings") or {}).items()},
            "tuned minus it": rounded(comparison.get("gain")),
            "its 95 % CI": rounded([comparison.get("ci_low"), comparison.get("ci_high")]),
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
    figures["validation loss by step"] = validation_losses(run)
    figures["audit: rows flagged by check"] = audit_flags(run)
    if RunDir(run).selection.exists():  # model.name: auto
        figures["selection (validation probe)"] = selection_figures(RunDir(run).select)["candidates"]
        selection = read_json(RunDir(run).selection)
        trained = next(c for c in selection["candidates"] if c["name"] == selection["train_pick"])
        projected, actual = trained.get("projected_train_seconds"), (summary.get("train") or {}).get("seconds")
        figures["selection: compared"] = selection.get("compared")
        figures["selection: pick / trained"] = f"{selection['pick']} / {selection['train_pick']}"
        figures["training seconds: projected by the selection / measured"] = rounded([projected, actual])
        if projected and actual:
            figures["training time: measured / projected"] = round(actual / projected, 3)
    figures["checks"] = {
        check["check"]: {"passed": check["passed"], "message": check["message"]}
        for check in summary["decision"]["checks"]
    }
    return figures


def validation_losses(run: Path) -> str:
    """The validation curve training wrote (train/metrics.jsonl), e.g. "40: 0.645, 80: 0.312"."""
    rows = [row for row in read_jsonl(RunDir(run).train_log, missing_ok=True) if row.get("split") == "validation"]
    # DPO's validation also has TRL's reward accuracy: "20: 0.683 (reward accuracy 0.656)"
    said = [f"{row['step']}: {row['loss']:.3f}" + _reward_accuracy(row) for row in rows]
    return ", ".join(said) or "-"


def _reward_accuracy(row: dict) -> str:
    return f" (reward accuracy {row['reward_accuracy']:.3f})" if "reward_accuracy" in row else ""


def audit_flags(run: Path) -> str:
    """What the run's audit of its training file flagged, e.g. "226 of 720 rows: exact_duplicate 6, leakage 10"."""
    audit = read_json(RunDir(run).findings)
    if audit is None:
        return "-"
    flagged = ", ".join(f"{f['check']} {len(f['rows'])}" for f in audit["findings"] if f["rows"])
    return f"{audit['summary']['flagged_rows']} of {audit['rows']} rows: {flagged or 'none'}"


def demo(out: Path) -> dict:
    _, cost = timed([str(TUNEWISE), "demo", "--out", str(out)])
    return {**cost, **run_figures(REPO / out)}


def fintech(out: Path) -> dict:
    stdout, cost = timed(["bash", "examples/fintech/run.sh", str(out)])
    story = json.loads(stdout.strip().splitlines()[-1])
    caught = read_json(REPO / out / "caught.json")
    overall = caught.pop("any_check")
    figures = {**cost, **{key: value for key, value in story.items() if not isinstance(value, dict)}}
    figures["minutes by stage"] = ", ".join(
        f"{stage} {minutes}" for stage, minutes in story["minutes_by_stage"].items()
    )
    figures["by intents"] = {name: scalars(group) for name, group in story["by_intents"].items()}
    pool = dict(story["pool"])
    distinct = pool.pop("skewed_distinct_inputs") or {}
    pool["skewed intents' distinct training inputs (min / median)"] = ", ".join(
        f"{run} {found['min']} / {found['median']}" for run, found in distinct.items()
    )
    figures["the labelled pool (second act)"] = {
        key: rounded(value) if not isinstance(value, dict) else json.dumps(value) for key, value in pool.items()
    }
    figures["each injected fault against the check that exists for it"] = caught
    figures["rows flagged by any check"] = f"{overall['rows_flagged']} of {overall['rows']}"
    figures["selection (validation probe)"] = selection_figures(REPO / out / "select")["candidates"]
    curated = run_figures(REPO / out / "runs" / "curated")  # its baselines, checks and verdict, on the test split
    figures.update(
        {f"curated run: {key}": value for key, value in curated.items() if key != "selection (validation probe)"}
    )
    labelled = run_figures(REPO / out / "runs" / "labelled")  # the final model: curated plus the labelled pool
    figures.update(
        {f"labelled run: {key}": value for key, value in labelled.items() if key != "selection (validation probe)"}
    )
    return figures


def selection_figures(out: Path) -> dict:
    selection = read_json(out / SELECTION)
    candidates = {}
    for candidate in selection["candidates"]:
        values = {key: value for key, value in candidate.items() if key not in ("name", "model", "per_row")}
        values["probe score"], values["probe score_ci"] = candidate["probe"]["score"], candidate["probe"]["score_ci"]
        values["vs best"] = (candidate.get("vs_best") or {}).get("gain")
        values["vs best p"] = (candidate.get("vs_best") or {}).get("p_value")
        candidates[candidate["name"]] = scalars(values)
    ranked = {name: candidates[name] for name in selection["ranking"]}
    return {"pick": selection["pick"], "validation rows": selection["validation_rows"], "candidates": ranked} | {
        f"reason {n}": reason for n, reason in enumerate(selection["reasons"], 1)
    }


def curve_figures(out: Path) -> dict:
    curve = read_json(out / "curve.json")
    points = {f"{point['train_rows']} rows": scalars(point) for point in curve["points"]}
    return {
        "metric": curve["metric"],
        "validation rows": curve["validation_rows"],
        "points": points,
        "reading": curve["reading"],
    }


def tune_figures(out: Path) -> dict:
    """`tunewise tune`: every trial, the choice and why, the final run's figures and its test reads."""
    tuning = read_json(out / "tuning.json")
    trials = {
        f"trial {t['number']}" + (" (default)" if t["default"] else ""): {
            **{key.removeprefix("train."): rounded(value) for key, value in t["values"].items()},
            tuning["metric"]: rounded(t["score"]),
            "state": t["state"],
            "minutes": t["minutes"],
        }
        for t in tuning["trials"]
    }
    looks = read_jsonl(RunDir(out / "run").test_access, missing_ok=True)
    tuned, metric = read_json(RunDir(out / "run").summary)["tuned"], tuning["metric"]
    low, high = tuned.get(f"{metric}_ci") or (None, None)
    return {
        f"final run's test {metric} (95 % CI)": f"{tuned[metric]:.4f}"
        + (f" [{low:.4f}, {high:.4f}]" if low is not None else "")
        + f" on {tuned.get('n', '?')} rows",
        "validation rows": tuning["validation_rows"],
        "trials": trials,
        "chosen": f"trial {tuning['decision']['chosen']}: {tuning['decision']['reason']}",
        "minutes in trials": tuning["search_minutes"],
        "test reads in the whole search": len(looks),
        "final run": run_figures(out / "run"),
    }


COMMANDS = {"run": run_figures, "select": selection_figures, "learning-curve": curve_figures, "tune": tune_figures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    kinds = parser.add_subparsers(dest="kind", required=True)
    kinds.add_parser("demo").add_argument("--out", type=Path, default=Path("runs/demo"))
    kinds.add_parser("fintech").add_argument("--out", type=Path, default=Path("runs/fintech"))
    for command in COMMANDS:
        named = kinds.add_parser(command)
        named.add_argument("name")
        named.add_argument("config")
        named.add_argument("overrides", nargs="*")
        named.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.kind in COMMANDS:
        out = args.out or Path("runs") / args.name
        _, cost = timed([str(TUNEWISE), args.kind, args.config, *args.overrides, "--out", str(out)])
        name, figures = args.name, {**cost, **COMMANDS[args.kind](REPO / out)}
    else:
        name, figures = args.kind, (demo if args.kind == "demo" else fintech)(args.out)
    record(f"pipeline-{name}", figures, note=f"outputs in {args.out or out}")


if __name__ == "__main__":
    main()
