"""Classification: a head over the last hidden state vs generating the label, on the same rows in one run.

Both arms fine-tune SmolLM2-135M-Instruct with the same LoRA (r 16, all linear layers), the same learning rate,
the same examples in the same number of steps, then answer the same test rows. The generative arm trains on the
chat-templated prompt with the loss on the label's tokens (tunewise's answer-aligned batches) and answers by
label-trie decoding; the head arm reads the text itself and answers in one forward pass per batch. Each arm runs
in its own process and is warmed up the same way (one batch of 8 rows before timing).

Training speed is given as examples/s (the same examples in both arms) and as real tokens/s (the head reads
fewer tokens: no chat template). Evaluation speed is test rows/s, model loading excluded.

Usage: .venv/bin/python benchmarks/classify_throughput.py [--steps 60] [--rows 240]
Data: the Banking77 subset `tunewise demo` ships (12 intents), its official test rows.
Writes benchmarks/results/classify_throughput.json (scripts/figures.py puts it in docs/figures.md).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from importlib.resources import files
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import record  # noqa: E402 - benchmarks/record.py, beside this script

RESOURCES = Path(str(files("tunewise") / "resources"))


def arm(objective: str, steps: int, rows: int) -> dict:
    import tempfile

    import torch

    from tunewise._io import read_jsonl
    from tunewise.config import load_config
    from tunewise.data.formats import classifier_text, to_conversation
    from tunewise.data.split import class_labels
    from tunewise.evaluate.predict import predict_classes, predict_labels
    from tunewise.models.loading import load_classifier, load_for_eval, model_and_renderer
    from tunewise.select.cost import StepTimer

    cfg = load_config(RESOURCES / "demo.yaml", [f"train.max_steps={steps}", "train.eval_steps=100000"])
    train = read_jsonl(RESOURCES / "banking77_demo_train.jsonl")[: steps * cfg.train.batch_size]
    test = read_jsonl(RESOURCES / "banking77_demo_test.jsonl")[:rows]
    labels = class_labels(cfg, {"train": train, "validation": []})
    model_path, renderer = model_and_renderer(cfg)

    timer = StepTimer()  # time inside optimizer steps only, added to the guards' callbacks below
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        if objective == "classify":
            from tunewise.train.classify import classify_tune, encode_rows

            pairs = [(classifier_text(r), r["label"]) for r in train]
            examples, _ = encode_rows(renderer.tokenizer, pairs, {lab: i for i, lab in enumerate(labels)}, 96)
            tokens = sum(len(e["input_ids"]) for e in examples)
            import tunewise.train.classify as module

            original = module.guard_callbacks
            module.guard_callbacks = lambda *a: (original(*a)[0] + [timer], None)
            result = classify_tune(model_path, renderer.tokenizer, pairs, pairs[:16], labels, cfg.train, 96, 42, work)
            model = load_classifier(model_path, result.checkpoint, cfg, labels, renderer.tokenizer.pad_token_id)
            texts = [classifier_text(r) for r in test]
            predict_classes(model, renderer.tokenizer, texts[:8], 32, 96)  # warm-up
            started = time.perf_counter()
            answers, _ = predict_classes(model, renderer.tokenizer, texts, cfg.eval.batch_size, 96)
        else:
            from tunewise.train.sft import encode_all, fine_tune

            conversations = [to_conversation(r, "classification") for r in train]
            examples, _ = encode_all(renderer, conversations, 96)
            tokens = sum(len(e["input_ids"]) for e in examples)
            import tunewise.train.sft as module

            original = module.guard_callbacks
            module.guard_callbacks = lambda *a: (original(*a)[0] + [timer], None)
            result = fine_tune(model_path, renderer, conversations, conversations[:16], cfg.train, 96, 42, work)
            model = load_for_eval(model_path, result.checkpoint, cfg)
            prompts = [to_conversation(r, "classification")[0] for r in test]
            predict_labels(model, renderer, prompts[:8], labels, 32)  # warm-up
            started = time.perf_counter()
            answers = predict_labels(model, renderer, prompts, labels, cfg.eval.batch_size)
        eval_seconds = time.perf_counter() - started
    accuracy = sum(a == r["label"] for a, r in zip(answers, test, strict=True)) / len(test)
    return {
        "objective": objective,
        "train_examples_per_s": round(len(train) / timer.seconds, 2),
        "train_tokens_per_s": round(tokens / timer.seconds, 1),
        "train_seconds": round(timer.seconds, 1),
        "eval_rows_per_s": round(len(test) / eval_seconds, 1),
        "test_accuracy": round(accuracy, 4),
        "eval_dtype": str(next(model.parameters()).dtype).removeprefix("torch."),
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--rows", type=int, default=240)
    args = parser.parse_args()
    found = {}
    for objective in ("generate", "classify"):
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            found[objective] = pool.submit(arm, objective, args.steps, args.rows).result()
        print(json.dumps(found[objective]))
    head, text = found["classify"], found["generate"]
    print(
        f"{args.steps} steps of 8 examples, then {args.rows} test rows: head {head['train_examples_per_s']} vs "
        f"generate {text['train_examples_per_s']} training examples/s "
        f"({head['train_examples_per_s'] / text['train_examples_per_s']:.2f}x); evaluation {head['eval_rows_per_s']} "
        f"vs {text['eval_rows_per_s']} rows/s ({head['eval_rows_per_s'] / text['eval_rows_per_s']:.2f}x); accuracy "
        f"{head['test_accuracy']} vs {text['test_accuracy']}"
    )
    figures = {
        "head": {k: v for k, v in head.items() if k != "objective"},
        "generate (label trie)": {k: v for k, v in text.items() if k != "objective"},
        "training speed-up (examples/s)": round(head["train_examples_per_s"] / text["train_examples_per_s"], 2),
        "evaluation speed-up (rows/s)": round(head["eval_rows_per_s"] / text["eval_rows_per_s"], 2),
    }
    note = f"{args.steps} steps of 8 examples, {args.rows} Banking77 test rows (the demo subset's 12 intents)"
    record("classify_throughput", figures, note=note)


if __name__ == "__main__":
    main()
