"""Training speed: TRL's SFTTrainer at its defaults, TRL configured as well as its documentation allows here, and
tunewise's training path, on the same examples, in one run.

Every arm trains SmolLM2-135M-Instruct with the same LoRA adapter (r 16, alpha 32, all linear layers, dropout 0),
on the same Banking77 examples, 8 per step, for the same number of steps (one pass over --examples), at the same
learning rate (2e-4), with the loss on the answer only. Each arm runs in its own process (its own peak RSS).

- trl-default: SFTConfig at TRL's defaults otherwise (gradient checkpointing on, bf16 autocast, padded batches,
  full-vocabulary logits at every position, transformers' linear schedule without warm-up). On a CPU without
  native bf16 its bf16 autocast makes a step take minutes (85 s measured here), so it trains the first
  --default-steps batches only (default 4, one pass over their rows): its tokens/s is comparable, its
  validation loss (after fewer steps) is not.
- trl-tuned: what TRL's documentation offers for speed that runs on this machine: gradient checkpointing off;
  the same precision as tunewise (bf16 weights through `model_init_kwargs` where the hardware computes bf16, fp32
  otherwise: this CPU has no native bf16) and the same attention kernel (eager on a CPU); length-grouped batches;
  tunewise's schedule, warm-up and weight decay (the same `training_arguments`). Not used, with the reason:
  `padding_free`/`packing` (TRL documents them for FlashAttention 2/3 only, which has no CPU build) and
  `use_liger_kernel` (Liger's kernels are Triton GPU kernels).
- tunewise: its `train:` defaults, through the same `build_trainer` a run uses (answer-aligned batches whose
  output layer runs at answer positions only).

Real tokens/s = tokens of the examples (no padding) / wall time of `trainer.train()`.
Validation loss = mean answer-token NLL on the same held-out rows, computed the same way for every arm (fp32).

The machine's own limit, measured in the same run: the matmul throughput of the model's own linear layers (each
layer's [tokens of a step x in] @ [in x out], at the tunewise arm's mean tokens per step, in the precision it
trains in), divided by the work per token (4 FLOP per linear parameter: 2 forward, 2 for the activations' gradient;
the frozen weights get no gradient). tunewise's real tokens/s is reported as a share of that limit. Attention's own
matmuls, the output layer, the norms and the adapters are left out of the work, so the limit is generous and the
share a lower bound (benchmarks/train_profile.py profiles where the rest of a step goes). On a GPU the matmuls run
there, synchronised.

Ablations (the tunewise arm only): --attention eager|sdpa, --lora-dropout P, --batching aligned|packed|padded.

Usage: .venv/bin/python benchmarks/train_throughput.py [--examples 800] [--validation 200] [--arms ...]
Rows: ../shared/datasets/banking77/train.csv, a seeded sample over all 77 intents.
Writes benchmarks/results/train_throughput.json (scripts/figures.py puts it in docs/figures.md).
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
from tunewise.train.sft import build_trainer, encode_all, resolve_attention, resolve_precision, training_arguments

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import record  # noqa: E402 - benchmarks/record.py, beside this script

BANKING77_TRAIN = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "banking77" / "train.csv"
SYSTEM_PROMPT = "Route the banking customer's query to its intent."
MODEL = "smollm2-135m-instruct"
LORA = {"r": 16, "alpha": 32, "dropout": 0.0, "target_modules": "all-linear"}
BATCH, LEARNING_RATE = 8, 2e-4
PRECISION = resolve_precision("auto")  # what tunewise trains in here: bf16 only where it is native
DTYPE = torch.bfloat16 if PRECISION == "bf16" else torch.float32
ARMS = ("trl-default", "trl-tuned", "tunewise")


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


def run_tunewise(train_rows, val_rows, renderer, model_path, work: Path, steps: int, ablation: dict) -> dict:
    lora = {**LORA, "dropout": ablation["lora_dropout"]}
    cfg = TrainConfig(
        max_steps=steps, batch_size=BATCH, learning_rate=LEARNING_RATE, lora=lora,
        attention=ablation["attention"], batching=ablation["batching"],
    )  # fmt: skip
    train_set, _ = encode_all(renderer, conversations(train_rows), 256)
    val_set, _ = encode_all(renderer, conversations(val_rows), 256)
    trainer = build_trainer(
        model_path, renderer, train_set, val_set, cfg, 0, work,
        eval_strategy="no", save_strategy="no", load_best_model_at_end=False, disable_tqdm=True,
    )  # fmt: skip
    seconds = timed_train(trainer)
    tokens = sum(len(e["input_ids"]) for e in train_set)
    settings = {"precision": PRECISION, "attention": resolve_attention(cfg.attention), **ablation}
    return {"tokens": tokens, "seconds": seconds, "val_loss": validation_loss(trainer.model, val_set), **settings}


def run_trl(train_rows, val_rows, renderer, model_path, work: Path, steps: int, tuned: bool) -> dict:
    """TRL's SFTTrainer on the same prompt-completion rows, LoRA, steps, batch size and learning rate."""
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

    if tuned:
        config = training_arguments(
            TrainConfig(max_steps=steps, batch_size=BATCH, learning_rate=LEARNING_RATE, lora=LORA), 0, work,
            PRECISION, args_class=SFTConfig,
            eval_strategy="no", save_strategy="no", load_best_model_at_end=False,
            gradient_checkpointing=False,  # TRL turns it on: it recomputes activations a CPU run has room for
            train_sampling_strategy="group_by_length",  # less padding per batch
            model_init_kwargs={"dtype": DTYPE, "attn_implementation": resolve_attention("auto")},
        )  # fmt: skip
    else:
        config = SFTConfig(
            output_dir=str(work), max_steps=steps, per_device_train_batch_size=BATCH, learning_rate=LEARNING_RATE,
            report_to="none", use_cpu=not torch.cuda.is_available(), seed=0, disable_tqdm=True,
        )  # fmt: skip
    trainer = SFTTrainer(
        model=model_path,
        args=config,
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
    settings = {
        "gradient_checkpointing": config.gradient_checkpointing,
        "bf16": config.bf16,
        "lr_scheduler": str(config.lr_scheduler_type),
        "model_init_kwargs": {key: str(value) for key, value in (config.model_init_kwargs or {}).items()},
    }
    return {"tokens": tokens, "seconds": seconds, "val_loss": validation_loss(trainer.model, val_set), **settings}


def timed_train(trainer) -> float:
    start = time.perf_counter()
    trainer.train()
    return time.perf_counter() - start


def run_arm(arm: str, args) -> dict:
    from transformers import AutoTokenizer

    torch.manual_seed(0)
    train_rows, val_rows = sample_rows(args.examples, args.validation)
    if arm == "trl-default":
        train_rows = train_rows[: args.default_steps * BATCH]
    steps = len(train_rows) // BATCH
    model_path = resolve_model(MODEL)
    renderer = make_renderer(AutoTokenizer.from_pretrained(model_path), system_prompt=SYSTEM_PROMPT)
    ablation = {"attention": args.attention, "lora_dropout": args.lora_dropout, "batching": args.batching}
    with tempfile.TemporaryDirectory() as work:
        if arm == "tunewise":
            result = run_tunewise(train_rows, val_rows, renderer, model_path, Path(work), steps, ablation)
        else:
            result = run_trl(train_rows, val_rows, renderer, model_path, Path(work), steps, arm == "trl-tuned")
    result["steps"] = steps
    result["tokens_per_second"] = result["tokens"] / result["seconds"]
    result["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=800, help="training rows: --examples / 8 steps")
    parser.add_argument("--validation", type=int, default=200)
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS))
    parser.add_argument("--default-steps", type=int, default=4, help="steps of the trl-default arm (see above)")
    parser.add_argument("--attention", choices=["auto", "eager", "sdpa"], default="auto", help="tunewise arm")
    parser.add_argument("--lora-dropout", type=float, default=0.0, help="tunewise arm")
    parser.add_argument("--batching", choices=["aligned", "packed", "padded"], default="aligned", help="tunewise arm")
    parser.add_argument("--arm", choices=ARMS, help=argparse.SUPPRESS)  # a child process
    args = parser.parse_args()
    if args.arm:
        print(json.dumps(run_arm(args.arm, args)))
        return
    results = {}
    for arm in args.arms:
        child = [a for a in sys.argv[1:] if a not in args.arms and a != "--arms"]
        done = subprocess.run([sys.executable, __file__, *child, "--arm", arm], capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"{arm} failed:\n{done.stderr[-3000:]}")
        results[arm] = r = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"{arm:12s} {r['tokens_per_second']:7.1f} real tok/s  ({r['tokens']} tokens, {r['steps']} steps in "
            f"{r['seconds']:.1f} s)  val loss {r['val_loss']:.4f}  peak RSS {r['peak_rss_gb']:.2f} GiB",
            flush=True,
        )
    print(f"{args.examples} Banking77 rows (77 intents), {MODEL} LoRA r16, {BATCH} per step, lr {LEARNING_RATE}")
    figures = dict(results)
    if "tunewise" in results:
        for baseline in ("trl-default", "trl-tuned"):
            if baseline in results:
                ratio = results["tunewise"]["tokens_per_second"] / results[baseline]["tokens_per_second"]
                figures[f"tunewise_vs_{baseline}"] = round(ratio, 2)
                print(f"tunewise vs {baseline}: {ratio:.2f}x")
    if "tunewise" in results:
        found = results["tunewise"]
        limit = machine_limit(round(found["tokens"] / found["steps"]), PRECISION)
        figures.update({f"machine limit: {key}": value for key, value in limit.items()})
        share = found["tokens_per_second"] / limit["limit (tokens/s)"]
        figures["tunewise share of the limit"] = round(share, 3)
        print(
            f"limit of this machine on {MODEL}'s shapes in {PRECISION}: {limit['limit (tokens/s)']:.0f} tok/s "
            f"({limit['matmul GFLOP/s']:.1f} GFLOP/s); tunewise reaches {share:.0%} of it"
        )
    defaults = args.attention == "auto" and args.lora_dropout == 0.0 and args.batching == "aligned"
    variant = "" if defaults else f"-attention-{args.attention}-dropout-{args.lora_dropout}-{args.batching}"
    record(f"train_throughput{variant}", figures)


def machine_limit(tokens_per_step: int, precision: str, repeats: int = 5) -> dict:
    """Tokens/s this machine could train at if every linear layer's matmuls ran at the rate it measures for the
    model's own shapes (see the docstring): GFLOP/s of those matmuls, in the training's precision."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(resolve_model(MODEL))
    hidden, inner, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    head = getattr(config, "head_dim", None) or hidden // config.num_attention_heads
    kv = config.num_key_value_heads * head
    shapes = [(hidden, hidden), (hidden, kv), (hidden, kv), (hidden, hidden), (hidden, inner), (hidden, inner)]
    shapes.append((inner, hidden))  # q k v o, gate up down: one decoder layer
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")  # where the arms trained
    torch.manual_seed(0)
    pairs = [
        (torch.randn(tokens_per_step, k, dtype=dtype, device=device), torch.randn(k, n, dtype=dtype, device=device))
        for k, n in shapes
    ]
    for a, b in pairs:  # warm-up
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        for a, b in pairs:
            a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / repeats
    flop = sum(2 * tokens_per_step * k * n for k, n in shapes)
    per_token = layers * sum(k * n for k, n in shapes)  # linear parameters a token passes through
    gflops = flop / seconds / 1e9
    return {
        "tokens per step": tokens_per_step,
        "precision": precision,
        "matmul GFLOP/s": round(gflops, 1),
        "linear parameters per token": per_token,
        "limit (tokens/s)": round(gflops * 1e9 / (4 * per_token), 1),
    }


if __name__ == "__main__":
    main()
