"""Where a tunewise LoRA training step goes, and how far it is from what this CPU can compute.

1. The compute limit: this machine's matmul peak (a large square matmul, in fp32 and bf16) divided by the work per
   token. SmolLM2-135M has about 106M parameters that take part per token once the output layer runs only at
   answer positions (the embedding is a lookup); LoRA costs about 4 FLOP per such parameter per token (2 forward,
   2 for the gradient of the activations; the frozen weights get none), plus the adapter's own small matmuls.
2. The measured speed: benchmarks/results/train_throughput.json (the tunewise arm of the same day), as a share of
   that limit.
3. A profile of training steps (torch.profiler, after warm-up steps): the operators by self CPU time.

Usage: .venv/bin/python benchmarks/train_profile.py [--steps 6]
Writes benchmarks/results/train_profile.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import RESULTS, record  # noqa: E402 - benchmarks/record.py, beside this script
from train_throughput import BATCH, LEARNING_RATE, LORA, MODEL, SYSTEM_PROMPT, conversations, sample_rows  # noqa: E402

FLOP_PER_PARAMETER_PER_TOKEN = 4


def matmul_peak(dtype: torch.dtype, size: int = 1024, repeats: int = 3) -> float:
    """GFLOP/s of a large square matmul: the best this CPU does on the operation a training step is made of
    (1024: large enough to reach the peak, small enough for a CPU that emulates bf16 at about 1 GFLOP/s)."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    a @ b  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9


def parameters_per_token(model) -> int:
    """Parameters that take part in every token's forward pass: all but the embedding (a lookup) and the output
    layer (run at answer positions only)."""
    embedding = model.get_input_embeddings().weight
    skipped = {id(embedding), id(model.get_output_embeddings().weight)}
    return sum(p.numel() for p in model.parameters() if id(p) not in skipped)


def profiled_steps(steps: int) -> tuple[list[tuple[str, float]], float]:
    from transformers import AutoTokenizer, TrainerCallback

    from tunewise.config import TrainConfig
    from tunewise.models import resolve_model
    from tunewise.models.prompts import make_renderer
    from tunewise.train.sft import build_trainer, encode_all

    model_path = resolve_model(MODEL)
    renderer = make_renderer(AutoTokenizer.from_pretrained(model_path), system_prompt=SYSTEM_PROMPT)
    train_rows, _ = sample_rows((steps + 2) * BATCH, 0)
    train_set, _ = encode_all(renderer, conversations(train_rows), 256)
    cfg = TrainConfig(max_steps=steps + 2, batch_size=BATCH, learning_rate=LEARNING_RATE, lora=LORA)
    profiler = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])

    class ProfileAfterWarmUp(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 2:
                profiler.start()

    with tempfile.TemporaryDirectory() as work:
        trainer = build_trainer(
            model_path, renderer, train_set, train_set[:BATCH], cfg, 0, Path(work), [ProfileAfterWarmUp()],
            eval_strategy="no", save_strategy="no", load_best_model_at_end=False, disable_tqdm=True,
        )  # fmt: skip
        trainer.train()
        profiler.stop()
        model = trainer.model
    events = profiler.key_averages()
    total = sum(event.self_cpu_time_total for event in events)
    top = sorted(((e.key, e.self_cpu_time_total / total) for e in events), key=lambda item: -item[1])
    return top, parameters_per_token(model.get_base_model())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6, help="profiled steps (after 2 warm-up steps)")
    args = parser.parse_args()
    torch.manual_seed(0)
    peaks = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
    top, per_token = profiled_steps(args.steps)
    figures = {f"matmul peak {name} (GFLOP/s)": round(value, 1) for name, value in peaks.items()}
    figures["parameters per token"] = per_token
    for name, peak in peaks.items():
        figures[f"limit at the {name} peak (tokens/s)"] = round(peak * 1e9 / (FLOP_PER_PARAMETER_PER_TOKEN * per_token))
    measured = json.loads((RESULTS / "train_throughput.json").read_text())["figures"]["tunewise"]
    precision = measured.get("precision", "fp32")
    figures["tunewise measured (tokens/s, train_throughput.json)"] = round(measured["tokens_per_second"], 1)
    figures[f"share of the {precision} limit"] = round(
        measured["tokens_per_second"] / figures[f"limit at the {precision} peak (tokens/s)"], 3
    )
    figures["profile: operators by share of self CPU time"] = {
        name: {"share": round(share, 3)} for name, share in top[:12]
    }
    for key, value in figures.items():
        if not isinstance(value, dict):
            print(f"{key}: {value}")
    for name, share in top[:12]:
        print(f"  {share:6.1%}  {name}")
    record("train_profile", figures, note=f"{args.steps} profiled steps after 2 warm-up steps, {BATCH} rows per step")


if __name__ == "__main__":
    main()
