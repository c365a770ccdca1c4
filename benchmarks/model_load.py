"""Why tunewise caches dequantised weights: load time of a registry model from its GGUF vs from the cache.

Usage: .venv/bin/python benchmarks/model_load.py [--model smollm2-135m-instruct] [--repeats 3]
Last line: {"model": …, "gguf_load_s": …, "cached_load_s": …, "speedup": …}
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

from tunewise.models.registry import MODELS, load_gguf, prepare_model


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
    print(
        json.dumps(
            {
                "model": args.model,
                "gguf_load_s": round(gguf_s, 3),
                "cached_load_s": round(cached_s, 3),
                "speedup": round(gguf_s / cached_s, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
