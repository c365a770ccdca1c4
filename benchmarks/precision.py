"""Does the training precision change the answer? The same rows trained in fp32 and in bf16 on this machine.

Two kinds:
- fixture: the tiny model of the test suite (tests/conftest.py) with a classification head on the fixture intents,
  over learning rates x seeds x {fp32, bf16}: the experiment that found why the head test failed in bf16 (its
  learning rate made training unstable in fp32 too; see docs/precision.md). Minutes.
- tasks: `tunewise run` as a user would, once with train.precision=fp32 and once with bf16 (eval.precision the same
  as training's, except DPO, scored in fp32 in both arms as eval.precision: auto scores preference pairs), on the
  demo (SmolLM2 + head on the shipped Banking77 subset), Banking77 with a head on SmolLM2
  (a subset: --rows) and DPO on the shipped preference data. Each arm in its own process. For each: best validation
  loss, test accuracy (or preference accuracy) with its 95 % interval, and training examples and tokens per second.
  bf16 passes when its score lies inside fp32's interval. Where bf16 is emulated (no AVX-512 BF16 or AMX) a bf16 arm
  runs many times slower than fp32; --rows and --steps keep it affordable and the record says so.

Usage:
  .venv/bin/python benchmarks/precision.py fixture [--seeds 7 1 2] [--rates 0.02 0.005]
  .venv/bin/python benchmarks/precision.py tasks [--only demo banking77 dpo] [--rows N] [--steps N] [--test-rows N]
Writes benchmarks/results/precision-KIND.json, or precision-tasks-NAME.json for a task run alone with its own caps
(scripts/figures.py puts them in docs/figures.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from command_cost import run_measured  # noqa: E402 - benchmarks/command_cost.py, beside this script
from record import REPO, record  # noqa: E402

from tunewise.models.precision import FP32_EVALUATION  # noqa: E402

TUNEWISE = REPO / ".venv" / "bin" / "tunewise"
SHARED = REPO.parent / "shared" / "datasets"
PRECISIONS = ("fp32", "bf16")


def machine_line() -> str:
    sys.path.insert(0, str(REPO))
    from tunewise.models.precision import machine

    found = machine()
    return f"{found.name}: {found.why}"


def fixture(seeds: list[int], rates: list[float]) -> dict:
    """The tiny model's head on `intent_rows` (216 distinct rows) and on `classification_rows` (18 distinct queries,
    3 of them in a grouped test split), with the head test's settings, every (rate, seed, precision)."""
    sys.path.insert(0, str(REPO))
    from tests.conftest import LEARNING_SPLIT, build_tiny_model, classification_rows, intent_rows, write_jsonl
    from tests.test_pipeline import make_config
    from tunewise.config import load_config
    from tunewise.pipeline import run

    rows = {}
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        model = build_tiny_model(work / "tiny-model")
        for fixture_name, data, split in (
            ("classification_rows (the old head test)", classification_rows(), ""),
            ("intent_rows (the head test now)", intent_rows(), LEARNING_SPLIT),
        ):
            write_jsonl(work / "rows.jsonl", data)
            # the head test's own config (tests/train/test_classify.py): batch 4, 36 steps, validation every 12
            evaluation = "  batch_size: 8\n  compare_base: false\n  baselines: []\n"
            config = make_config(work, model, "rows.jsonl", evaluation + split + "audit:\n  in_run: false\n")
            for rate in rates:
                for seed in seeds:
                    for precision in PRECISIONS:
                        overrides = [f"train.learning_rate={rate}", "train.max_steps=36", "train.eval_steps=12"]
                        overrides += [f"seed={seed}", f"train.precision={precision}"]
                        out = work / f"run-{rate}-{seed}-{precision}"
                        summary = run(load_config(config, overrides), out)
                        curve = [
                            json.loads(line)["loss"]
                            for line in (out / "train" / "metrics.jsonl").read_text().splitlines()
                            if '"validation"' in line
                        ]
                        rows[f"{fixture_name[:20]} lr {rate} seed {seed} {precision}"] = {
                            "fixture": fixture_name,
                            "test rows": summary["tuned"]["n"],
                            "accuracy": round(summary["tuned"]["accuracy"], 3),
                            "validation loss at 12/24/36": " / ".join(f"{v:.2f}" for v in curve),
                        }
                        print(rows[f"{fixture_name[:20]} lr {rate} seed {seed} {precision}"], flush=True)
    return {"runs": rows}


TASKS = {
    # name: (config, overrides that make it affordable, score key, task)
    "demo": ("tunewise/resources/demo.yaml", [], "accuracy", "classification"),
    "banking77": (
        "configs/classify/banking77.yaml",
        ["model.name=smollm2-135m-instruct", "audit.in_run=false", "eval.baselines=[]"],
        "accuracy",
        "classification",
    ),
    "dpo": ("examples/dpo/config.yaml", ["audit.in_run=false"], "preference_accuracy", "preference"),
}


def task_arm(name: str, precision: str, caps: list[str], out: Path) -> dict:
    config, overrides, key, task = TASKS[name]
    if name == "dpo" and not (REPO / "examples" / "dpo" / "data" / "pairs.jsonl").is_file():
        prepare = [sys.executable, "examples/dpo/prepare_hh_rlhf.py", "examples/dpo/data/pairs.jsonl"]
        run_measured(prepare)
    # evaluated as eval.precision: auto would: in the training's precision, except a task tunewise always
    # scores in fp32 (FP32_EVALUATION: preference pairs), so that arm compares the training precision alone
    evaluation = "fp32" if task in FP32_EVALUATION else precision
    command = [str(TUNEWISE), "run", config, f"train.precision={precision}", f"eval.precision={evaluation}"]
    command += ["eval.compare_base=false", *overrides, *caps, "--out", str(out)]
    code, _, seconds, peak = run_measured(command)
    if code != 0:
        return {"exit code": code, "command": " ".join(command[1:])}
    summary = json.loads((out / "summary.json").read_text())
    tuned, train = summary["tuned"], summary["train"]
    low, high = tuned.get(f"{key}_ci") or tuned.get("ci") or [None, None]
    return {
        "score": key,
        "evaluated in": summary.get("precision", {}).get("eval"),
        "tuned": round(tuned[key], 4),
        "95 % CI": f"[{low:.3f}, {high:.3f}]" if low is not None else "-",
        "test rows": tuned.get("n"),
        "best validation loss": round(train["best_val_loss"], 4) if train.get("best_val_loss") else None,
        "steps": train["steps"],
        "train seconds": train.get("seconds"),
        "examples/s": train.get("examples_per_second"),
        "tokens/s": train.get("tokens_per_second"),
        "run seconds": round(seconds, 1),
        "peak GiB": round(peak, 2),
    }


def tasks(names: list[str], caps: list[str]) -> dict:
    found = {}
    with tempfile.TemporaryDirectory() as work:
        for name in names:
            arms = {p: task_arm(name, p, caps, Path(work) / f"{name}-{p}") for p in PRECISIONS}
            for precision, figures in arms.items():
                found[f"{name} {precision}"] = figures
                print(name, precision, figures, flush=True)
            fp32, bf16 = arms["fp32"], arms["bf16"]
            if "tuned" in fp32 and "tuned" in bf16 and fp32["95 % CI"] != "-":
                low, high = (float(x) for x in fp32["95 % CI"].strip("[]").split(","))
                found[f"{name} bf16"]["inside fp32's CI"] = low <= bf16["tuned"] <= high
    return {"runs": found}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    kinds = parser.add_subparsers(dest="kind", required=True)
    one = kinds.add_parser("fixture", help="the tiny model's head: learning rates x seeds x precisions")
    one.add_argument("--seeds", type=int, nargs="+", default=[7, 1, 2])
    one.add_argument("--rates", type=float, nargs="+", default=[0.02, 0.005])
    many = kinds.add_parser("tasks", help="tunewise run in fp32 and in bf16 on real models and data")
    many.add_argument("--only", nargs="+", choices=list(TASKS), default=list(TASKS))
    many.add_argument("--rows", type=int, help="use only the first N rows of each data file (data.max_rows)")
    many.add_argument("--steps", type=int, help="cap training at N optimizer steps (train.max_steps)")
    many.add_argument("--test-rows", type=int, help="score a seeded sample of N test rows (eval.max_rows)")
    args = parser.parse_args()
    if args.kind == "fixture":
        figures = fixture(args.seeds, args.rates)
        note = "tunewise.pipeline.run in this process; the head test's config: 36 steps of batch 4, validation every 12"
    else:
        caps = [f"data.max_rows={args.rows}"] if args.rows else []
        caps += [f"train.max_steps={args.steps}"] if args.steps else []
        caps += [f"eval.max_rows={args.test_rows}"] if args.test_rows else []
        figures = tasks(args.only, caps)
        note = f"overrides {' '.join(caps) or 'none'}; each arm its own `tunewise run`"
    name = f"precision-{args.kind}"
    if args.kind == "tasks" and sorted(args.only) != sorted(TASKS):
        name += "-" + "-".join(args.only)  # a task run alone (its own caps) keeps its own record
    record(name, figures, note=f"{machine_line()}; {note}")


if __name__ == "__main__":
    main()
