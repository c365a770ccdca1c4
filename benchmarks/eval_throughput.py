"""Classification evaluation speed: plain greedy generation vs tunewise's label-trie decoding, same rows, same
model, same precision, same warm-up.

Both paths decode greedily with the same fine-tuned model. Plain generation (``model.generate``, batched,
left-padded, full prompts) may write text that is no label at all; tunewise's path computes the shared prompt
prefix once, batches rows of similar length and stops as soon as one label is left. One table per precision
(fp32, and bf16, which this CPU emulates where it has no native bf16): each arm is warmed up on the same 8 rows
before it is timed.

Usage: .venv/bin/python benchmarks/eval_throughput.py [--run runs/demo-generate] [--rows 480] [--precisions fp32 bf16]
  --run: a finished `tunewise run` of Banking77 classification that answers as text (`train.objective=generate`;
  `tunewise demo --out runs/demo-generate train.objective=generate` makes one).
Rows: the official Banking77 test rows (../shared/datasets/banking77/test.csv) of the run's intents.
Writes benchmarks/results/eval_throughput.json (scripts/figures.py puts it in docs/figures.md).
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

from tunewise._io import read_jsonl
from tunewise.data.formats import to_conversation
from tunewise.data.split import class_labels
from tunewise.evaluate.predict import generate_answers, predict_labels
from tunewise.models.loading import load_for_eval, model_and_renderer
from tunewise.rundir import RunDir

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import record  # noqa: E402 - benchmarks/record.py, beside this script

BANKING77_TEST = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "banking77" / "test.csv"


def load_rows(labels: list[str], limit: int) -> list[dict]:
    with open(BANKING77_TEST, newline="", encoding="utf-8") as handle:
        rows = [{"text": r["text"], "label": r["category"]} for r in csv.DictReader(handle) if r["category"] in labels]
    return rows[:limit]


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("runs/demo-generate"))
    parser.add_argument("--rows", type=int, default=480)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--precisions", nargs="+", choices=["fp32", "bf16"], default=["fp32", "bf16"])
    args = parser.parse_args()
    run = RunDir(args.run)
    cfg = run.load_config()
    splits = {name: read_jsonl(run.split_file(name)) for name in ("train", "validation")}
    labels = class_labels(cfg, splits)
    rows = load_rows(labels, args.rows)
    model_path, renderer = model_and_renderer(cfg)
    prompts = [to_conversation(r, "classification", cfg.model.instruction)[0] for r in rows]
    truth = [r["label"] for r in rows]
    longest = max(len(renderer.answer_ids(prompts[0], label)) for label in labels)
    print(f"rows: {len(rows)} Banking77 test rows, {len(labels)} intents, model {cfg.model.name} + {args.run}")

    def accuracy(predictions):
        return sum(p == t for p, t in zip(predictions, truth, strict=True)) / len(truth)

    arms = {
        "plain generate": lambda model, some: generate_answers(model, renderer, some, longest, args.batch_size),
        "tunewise label trie": lambda model, some: predict_labels(model, renderer, some, labels, args.batch_size),
    }
    figures = {}
    for precision in args.precisions:
        model = load_for_eval(
            model_path,
            run.checkpoint,
            cfg.model_copy(update={"eval": cfg.eval.model_copy(update={"precision": precision})}),
        )
        answers = {}
        for arm, answer in arms.items():
            answer(model, prompts[:8])  # the same warm-up for every arm: first-call allocations and kernels
            answers[arm], seconds = timed(lambda answer=answer, model=model: answer(model, prompts))
            figures[f"{arm} ({precision})"] = {
                "rows_per_second": len(rows) / seconds,
                "accuracy": accuracy(answers[arm]),
                "no_label_answers": sum(a not in labels for a in answers[arm]),
            }
            print(
                f"{f'{arm} ({precision})':28s} {len(rows) / seconds:7.1f} rows/s  accuracy {accuracy(answers[arm]):.4f}"
            )
        plain, trie = answers["plain generate"], answers["tunewise label trie"]
        valid = [i for i, answer in enumerate(plain) if answer in labels]
        speedup = (
            figures[f"tunewise label trie ({precision})"]["rows_per_second"]
            / figures[f"plain generate ({precision})"]["rows_per_second"]
        )
        figures[f"speed-up ({precision})"] = round(speedup, 2)
        figures[f"trie agrees with plain where plain wrote a label ({precision})"] = (
            f"{sum(trie[i] == plain[i] for i in valid)}/{len(valid)}"
        )
        print(f"speed-up ({precision}): {speedup:.1f}x")
    record("eval_throughput", figures, note=f"{len(rows)} Banking77 test rows, {len(labels)} intents, run {args.run}")


if __name__ == "__main__":
    main()
