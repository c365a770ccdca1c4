"""The memory plan against the measured peak: `tunewise plan` (in its own process) and a short training of the same
config (in another), for SmolLM2-135M with LoRA, full fine-tuning and QLoRA, a classification head (the demo's
Banking77 rows) and generation (DialogSum's long dialogues), with and without gradient checkpointing.

On a CPU the measure is the training process's peak resident set (VmHWM); on a GPU, torch's peak allocation.
The plan has no fitted constant: it counts (tunewise/train/plan.py). Target (issue 35): within 25 %.

Usage: .venv/bin/python benchmarks/memory_plan.py [--steps 4] [--only NAME ...]
Writes benchmarks/results/memory_plan.json (scripts/figures.py puts it in docs/figures.md).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import REPO, record  # noqa: E402 - benchmarks/record.py, beside this script

DEMO = REPO / "tunewise" / "resources" / "demo.yaml"
DIALOGSUM = REPO / "configs" / "lora" / "dialogsum.yaml"
BITSANDBYTES = Path(sys.prefix) / "tools" / "bitsandbytes"
SETTINGS = {  # name: (config, overrides)
    "head, LoRA": (DEMO, []),
    "head, full": (DEMO, ["train.method=full", "train.learning_rate=2e-5"]),
    "generate, LoRA": (DIALOGSUM, ["train.batch_size=8"]),
    "generate, LoRA, checkpointing": (DIALOGSUM, ["train.batch_size=8", "train.gradient_checkpointing=true"]),
    "generate, full": (DIALOGSUM, ["train.batch_size=8", "train.method=full", "train.learning_rate=2e-5"]),
    "generate, QLoRA": (DIALOGSUM, ["train.batch_size=8", "train.method=qlora"]),
}
TRAIN = """
import json, sys
from pathlib import Path
from tunewise.config import load_config
from tunewise.data.split import write_split
from tunewise.models.loading import model_and_renderer
from tunewise.train.stage import train_stage

config, out, *overrides = sys.argv[1:]
cfg = load_config(config, overrides)
model_path, renderer = model_and_renderer(cfg)
splits, task = write_split(cfg, Path(out) / "split")
result = train_stage(cfg, model_path, renderer, splits, task, Path(out) / "train")
print(json.dumps(result.peak_memory))
"""


def last_json(command: list[str], environment: dict) -> dict:
    done = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])}... failed:\n{done.stderr[-2000:]}")
    text = done.stdout.strip()
    return json.loads(text if text.startswith("{") else text.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4, help="training steps per setting (the peak comes early)")
    parser.add_argument("--only", nargs="+", choices=sorted(SETTINGS), help="measure only these settings")
    args = parser.parse_args()
    tunewise = str(Path(sys.executable).parent / "tunewise")
    environment = os.environ | {"PYTHONPATH": str(BITSANDBYTES)}  # for QLoRA (Makefile: beside the venv)
    figures = {}
    for name in args.only or SETTINGS:
        config, overrides = SETTINGS[name]
        overrides = [*overrides, f"train.max_steps={args.steps}", f"train.eval_steps={args.steps}"]
        overrides += ["train.validation_rows=16"]
        plan = last_json([tunewise, "plan", str(config), *overrides, "--json"], environment)["plan"]
        with tempfile.TemporaryDirectory() as out:
            measured = last_json([sys.executable, "-c", TRAIN, str(config), out, *overrides], environment)
        error = plan["total"] / measured["bytes"] - 1
        print(
            f"{name}: plan {plan['total'] / 2**20:.0f} MiB, measured {measured['bytes'] / 2**20:.0f} MiB "
            f"({measured['measure']}), {error:+.0%}; batch {plan['batch']} x {plan['tokens']} tokens, "
            f"{plan['precision']}"
        )
        figures[name] = {
            "plan (MiB)": round(plan["total"] / 2**20),
            "measured (MiB)": round(measured["bytes"] / 2**20),
            "error": f"{error:+.1%}",
            "measure": measured["measure"],
            "batch x tokens": f"{plan['batch']} x {plan['tokens']}",
            "precision": plan["precision"],
            "parts (MiB)": {part: round(size / 2**20) for part, size in plan["parts"].items()},
        }
    if args.only:  # the other settings keep their last measurement
        previous = json.loads((REPO / "benchmarks" / "results" / "memory_plan.json").read_text())["figures"]
        figures = {
            name: figures.get(name) or previous[name] for name in SETTINGS if name in figures or name in previous
        }
    worst = max(abs(float(f["error"].rstrip("%")) / 100) for f in figures.values() if isinstance(f, dict))
    figures["worst error"] = f"{worst:.1%}"
    print(f"worst error {worst:.1%} (target: within 25 %)")
    note = f"{args.steps} training steps per setting; SmolLM2-135M-Instruct"
    if args.only:
        note += f"; this command measured {', '.join(args.only)}; the others are from the last run without --only"
    record("memory_plan", figures, note=note)


if __name__ == "__main__":
    main()
