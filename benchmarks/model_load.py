"""Why tunewise caches dequantised weights: load time of a registry model from its GGUF vs from the cache.

Usage: .venv/bin/python benchmarks/model_load.py [--model smollm2-135m-instruct] [--repeats 3]
Writes benchmarks/results/model_load-MODEL.json (scripts/figures.py puts it in docs/figures.md).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

from tunewise.models.registry import MODELS, load_gguf, prepare_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import record  # noqa: E402 - benchmarks/record.py, beside this script


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct", choices=sorted(MODELS))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        gguf = MODELS[args.model].gguf(Path(cache))
        gguf_s = timed(lambda: load_gguf(gguf), 1)  # one GGUF load is slow enough to measure once
        folder = prepare_model(args.model, Path(cache))
        cached_s = timed(lambda: AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32), args.repeats)
    print(
        f"{args.model}: GGUF load + dequantise {gguf_s:.2f} s; cached safetensors load {cached_s:.2f} s "
        f"(median of {args.repeats}); {gguf_s / cached_s:.0f}x faster from the cache"
    )
    figures = {
        "model": args.model,
        "GGUF load + dequantise (s)": round(gguf_s, 3),
        "cached safetensors load (s)": round(cached_s, 3),
        "speed-up": round(gguf_s / cached_s, 1),
    }
    record(f"model_load-{args.model}", figures, note=f"cached load: median of {args.repeats}; GGUF load: once")


if __name__ == "__main__":
    main()
