"""Training speed: plain TRL SFTTrainer at its defaults vs tunewise's training path, same examples, one run.

Both arms train SmolLM2-135M-Instruct with the same LoRA adapter (r 16, alpha 32, all linear layers, tunewise's
default dropout 0) for one pass over the same Banking77 examples, 8 per step, loss on the answer only.
TRL runs at its own defaults otherwise: bf16 autocast, gradient checkpointing, padded batches, full-vocabulary
logits at every position, learning rate 2e-5. tunewise runs its defaults (`train:` section): packed
padding-free batches with answer-only logits, a bf16 frozen base, eager attention on a CPU, learning rate 2e-4.
Each arm runs in its own process, so each peak RSS is its own.

Real tokens/s = tokens of the examples (no padding) / wall time of `trainer.train()`.
Validation loss = mean answer-token NLL on the same held-out rows, computed the same way for both arms (fp32).

Usage: .venv/bin/python benchmarks/train_throughput.py [--examples 400] [--validation 200]
Rows: ../shared/datasets/banking77/train.csv, a seeded sample over all 77 intents.
Last line: {"trl_tok_s": …, "tunewise_tok_s": …, "ratio": …, "peak_rss_gb": … (tunewise's process), "trl_val_loss": …,
"tunewise_val_loss": …, "trl_peak_rss_gb": …}
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from tunewise.config import TrainConfig
from tunewise.models import resolve_model
from tunewise.models.prompts import make_renderer
from tunewise.train.batching import answer_loss, pack_answer_batch
from tunewise.train.sft import build_trainer, encode_all

BANKING77_TRAIN = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "banking77" / "train.csv"
SYSTEM_PROMPT = "Route the banking customer's query to its intent."
MODEL = "smollm2-135m-instruct"
LORA = {"r": 16, "alpha": 32, "dropout": 0.0, "target_modules": "all-linear"}


def sample_rows(examples: int, validation: int, seed: int = 0) -> tuple[list[dict], list[dict]]:
    with open(BANKING77_TRAIN, newline="", encoding="utf-8") as handle:
        rows = [{"text": r["text"], "label": r["category"]} for r in csv.DictReader(handle)]
    random.Random(seed).shuffle(rows)
    return rows[:examples], rows[examples : examples + validation]


def conversations(rows: list[dict]) -> list[tuple[list[dict], str]]:
    return [([{"role": "user", "content": r["text"]}], r["label"]) for r in rows]


def validation_loss(model, examples: list[dict]) -> float:
    """Mean NLL over all answer tokens of the held-out examples, in fp32."""
    model = model.float().eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(examples), 16):
            batch = pack_answer_batch(examples[start : start + 16])
            labels = batch.pop("labels")
            total += answer_loss(model(**batch), labels, num_items_in_batch=1).item()  # summed over tokens
            count += int((labels != -100).sum())
    return total / count


def run_tunewise(train_rows, val_rows, renderer, model_path, work: Path) -> dict:
    cfg = TrainConfig(epochs=1, batch_size=8, lora=LORA)
    train_set, _ = encode_all(renderer, conversations(train_rows), 256)
    val_set, _ = encode_all(renderer, conversations(val_rows), 256)
    trainer = build_trainer(
        model_path, renderer, train_set, val_set, cfg, 0, work,
        eval_strategy="no", save_strategy="no", load_best_model_at_end=False, disable_tqdm=True,
    )  # fmt: skip
    seconds = timed_train(trainer)
    tokens = sum(len(e["input_ids"]) for e in train_set)
    return {"tokens": tokens, "seconds": seconds, "val_loss": validation_loss(trainer.model, val_set)}


def run_trl(train_rows, val_rows, renderer, model_path, work: Path) -> dict:
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    def as_prompt_completion(rows):
        return Dataset.from_list(
            [
                {
                    "prompt": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": r["text"]}],
                    "completion": [{"role": "assistant", "content": r["label"]}],
                }
                for r in rows
            ]
        )

    trainer = SFTTrainer(
        model=model_path,
        args=SFTConfig(output_dir=str(work), num_train_epochs=1, report_to="none", use_cpu=True, seed=0),
        train_dataset=as_prompt_completion(train_rows),
        processing_class=renderer.tokenizer,
        peft_config=LoraConfig(
            r=LORA["r"], lora_alpha=LORA["alpha"], lora_dropout=LORA["dropout"],
            target_modules=LORA["target_modules"], task_type="CAUSAL_LM",
        ),
    )  # fmt: skip
    tokens = sum(len(ids) for ids in trainer.train_dataset["input_ids"])
    seconds = timed_train(trainer)
    val_set, _ = encode_all(renderer, conversations(val_rows), 256)
    return {"tokens": tokens, "seconds": seconds, "val_loss": validation_loss(trainer.model, val_set)}


def timed_train(trainer) -> float:
    start = time.perf_counter()
    trainer.train()
    return time.perf_counter() - start


def run_arm(arm: str, examples: int, validation: int) -> dict:
    from transformers import AutoTokenizer

    torch.manual_seed(0)
    train_rows, val_rows = sample_rows(examples, validation)
    model_path = resolve_model(MODEL)
    renderer = make_renderer(AutoTokenizer.from_pretrained(model_path), system_prompt=SYSTEM_PROMPT)
    with tempfile.TemporaryDirectory() as work:
        runner = run_trl if arm == "trl" else run_tunewise
        result = runner(train_rows, val_rows, renderer, model_path, Path(work))
    result["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=400)
    parser.add_argument("--validation", type=int, default=200)
    parser.add_argument("--arm", choices=["trl", "tunewise"], help=argparse.SUPPRESS)  # child process
    args = parser.parse_args()
    if args.arm:
        print(json.dumps(run_arm(args.arm, args.examples, args.validation)))
        return
    results = {}
    for arm in ("trl", "tunewise"):
        command = [sys.executable, __file__, "--arm", arm, "--examples", str(args.examples)]
        command += ["--validation", str(args.validation)]
        done = subprocess.run(command, check=True, capture_output=True, text=True)
        results[arm] = json.loads(done.stdout.strip().splitlines()[-1])
        r = results[arm]
        print(
            f"{arm:9s} {r['tokens'] / r['seconds']:7.1f} real tok/s  ({r['tokens']} tokens in {r['seconds']:.1f} s)"
            f"  val loss {r['val_loss']:.4f}  peak RSS {r['peak_rss_gb']:.2f} GB",
            flush=True,
        )
    trl, ours = results["trl"], results["tunewise"]
    ratio = (ours["tokens"] / ours["seconds"]) / (trl["tokens"] / trl["seconds"])
    print(f"examples: {args.examples} Banking77 rows (77 intents), {MODEL} LoRA, 1 epoch, 8 per step")
    print(f"speed-up: {ratio:.2f}x")
    print(
        json.dumps(
            {
                "trl_tok_s": round(trl["tokens"] / trl["seconds"], 1),
                "tunewise_tok_s": round(ours["tokens"] / ours["seconds"], 1),
                "ratio": round(ratio, 2),
                "peak_rss_gb": round(ours["peak_rss_gb"], 2),
                "trl_val_loss": round(trl["val_loss"], 4),
                "tunewise_val_loss": round(ours["val_loss"], 4),
                "trl_peak_rss_gb": round(trl["peak_rss_gb"], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
