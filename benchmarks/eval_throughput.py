"""Classification evaluation speed: plain greedy generation vs tunewise's label-trie decoding, same rows.

Both paths decode greedily with the same fine-tuned model. Plain generation (``model.generate``, batched,
left-padded, full prompts, fp32) may write text that is no label at all; tunewise's path computes the shared
prompt prefix once, batches rows of similar length, stops as soon as one label is left, and uses bf16 where
the CPU computes it natively.

Usage: .venv/bin/python benchmarks/eval_throughput.py [--run runs/demo] [--rows 480]
  --run: a finished `tunewise run` directory of a Banking77 classification run (`tunewise demo` makes one).
Rows: the official Banking77 test rows (../shared/datasets/banking77/test.csv) of the run's intents.
Last line: {"plain_rows_s": …, "tunewise_rows_s": …, "plain_accuracy": …, "tunewise_accuracy": …}
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import torch

from tunewise._io import read_jsonl
from tunewise.data.formats import to_conversation
from tunewise.data.split import class_labels
from tunewise.evaluate.predict import generate_answers, predict_labels
from tunewise.models.loading import load_for_eval, model_and_renderer
from tunewise.rundir import RunDir

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
    parser.add_argument("--run", type=Path, default=Path("runs/demo"))
    parser.add_argument("--rows", type=int, default=480)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    run = RunDir(args.run)
    cfg = run.load_config()
    splits = {name: read_jsonl(run.split_file(name)) for name in ("train", "validation")}
    labels = class_labels(cfg, splits)
    rows = load_rows(labels, args.rows)
    model_path, renderer = model_and_renderer(cfg)
    checkpoint = run.checkpoint
    plain_model = load_for_eval(
        model_path, checkpoint, cfg.model_copy(update={"eval": cfg.eval.model_copy(update={"precision": "fp32"})})
    )
    model = load_for_eval(model_path, checkpoint, cfg)  # as `tunewise eval` loads it (bf16 where native)
    prompts = [to_conversation(r, "classification", cfg.model.instruction)[0] for r in rows]
    truth = [r["label"] for r in rows]
    longest = max(len(renderer.answer_ids(prompts[0], label)) for label in labels)

    predict_labels(model, renderer, prompts[:8], labels)  # warm-up: first-call allocations
    plain, plain_s = timed(lambda: generate_answers(plain_model, renderer, prompts, longest, args.batch_size))
    exact, exact_s = timed(lambda: predict_labels(plain_model, renderer, prompts, labels, args.batch_size))
    fast, fast_s = timed(lambda: predict_labels(model, renderer, prompts, labels, args.batch_size))

    def accuracy(predictions):
        return sum(p == t for p, t in zip(predictions, truth, strict=True)) / len(truth)

    valid = [i for i, p in enumerate(plain) if p in labels]
    print(f"rows: {len(rows)} Banking77 test rows, {len(labels)} intents, model {cfg.model.name} + {args.run}")
    print(f"plain generate (fp32):         {len(rows) / plain_s:7.1f} rows/s  accuracy {accuracy(plain):.4f}")
    print(f"tunewise label trie (fp32):    {len(rows) / exact_s:7.1f} rows/s  accuracy {accuracy(exact):.4f}")
    dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
    print(f"tunewise label trie ({dtype}): {len(rows) / fast_s:7.1f} rows/s  accuracy {accuracy(fast):.4f}")
    print(f"plain answers that are no label: {len(rows) - len(valid)}")
    print(
        "tunewise (fp32) agrees with plain on rows where plain wrote a label: "
        f"{sum(exact[i] == plain[i] for i in valid)}/{len(valid)}; tunewise bf16 vs fp32 agree on "
        f"{sum(a == b for a, b in zip(fast, exact, strict=True))}/{len(rows)} rows"
    )
    print(f"speed-up: {plain_s / fast_s:.1f}x")
    result = {
        "plain_rows_s": round(len(rows) / plain_s, 2),
        "tunewise_rows_s": round(len(rows) / fast_s, 2),
        "plain_accuracy": round(accuracy(plain), 4),
        "tunewise_accuracy": round(accuracy(fast), 4),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
