"""The encoder's recipe (train.encoder): all-MiniLM-L6-v2 fine-tuned in full on Banking77, one arm per call.

The arm is chosen on validation accuracy (1,000 rows held out of Banking77's training file with a fixed seed); the
official test file is scored at the end of each arm for the record, not for the choice. Each arm: mean pooling
over the token states, L2-normalised (the sentence embedding itself), one linear layer to the 77 intents, every
weight trained with transformers' Trainer (AdamW, linear decay, 6 % warm-up, weight decay 0.01, batch 32,
length-grouped batches, fp32), the head either started from a logistic regression (C = 10) on the frozen
embeddings ("lp", linear probing then fine-tuning) or left at its random initialisation ("random").

Usage: .venv/bin/python benchmarks/encoder_recipe.py LEARNING_RATE EPOCHS lp|random
e.g.   .venv/bin/python benchmarks/encoder_recipe.py 5e-5 2 lp
Data: ../shared/datasets/banking77 (train.csv, test.csv). Prints validation accuracy before training and after
each epoch, training seconds, and the test accuracy with evaluation rows/s. Writes
benchmarks/results/encoder_recipe-LR-EPOCHS-HEAD.json (scripts/figures.py puts it in docs/figures.md).
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import time
from pathlib import Path

import torch
from transformers import AutoTokenizer, DataCollatorWithPadding, Trainer, TrainingArguments, set_seed

from tunewise.models.encoder import encoder_classifier, set_head
from tunewise.models.registry import default_cache_dir, prepare_model
from tunewise.train.classify import linear_probe

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import record  # noqa: E402 - benchmarks/record.py, beside this script

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "banking77"


def read(path: Path) -> list[tuple[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return [(row["text"], row["category"]) for row in csv.DictReader(handle)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("learning_rate", type=float)
    parser.add_argument("epochs", type=float)
    parser.add_argument("head", choices=("lp", "random"))
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    torch.set_num_threads(2)
    train, test = read(DATA / "train.csv"), read(DATA / "test.csv")
    random.Random(0).shuffle(train)
    validation, train = train[:1000], train[1000:]
    labels = sorted({label for _, label in train})
    index = {label: i for i, label in enumerate(labels)}
    path = str(prepare_model("minilm-l6"))
    tokenizer = AutoTokenizer.from_pretrained(path)
    set_seed(0)
    model = encoder_classifier(path, labels)
    if args.head == "lp":
        texts, row_labels = [text for text, _ in train], [label for _, label in train]
        set_head(model, *linear_probe(texts, row_labels, labels, default_cache_dir()))

    def encoded(rows):
        return [
            {"input_ids": tokenizer(text, truncation=True, max_length=64)["input_ids"], "labels": index[label]}
            for text, label in rows
        ]

    def accuracy(prediction):
        return {"accuracy": float((prediction.predictions.argmax(-1) == prediction.label_ids).mean())}

    arguments = TrainingArguments(
        "/tmp/tunewise-encoder-recipe",
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=128,
        learning_rate=args.learning_rate,
        num_train_epochs=args.epochs,
        warmup_steps=0.06,
        weight_decay=0.01,
        eval_strategy="epoch",
        save_strategy="no",
        logging_steps=50,
        report_to=[],
        train_sampling_strategy="group_by_length",
        seed=0,
        use_cpu=True,
        dataloader_num_workers=0,
    )
    trainer = Trainer(
        model=model,
        args=arguments,
        train_dataset=encoded(train),
        eval_dataset=encoded(validation),
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=accuracy,
    )
    before = trainer.evaluate()["eval_accuracy"]
    print("validation accuracy before training", before, flush=True)
    started = time.perf_counter()
    trainer.train()
    train_seconds = round(time.perf_counter() - started, 1)
    print("training seconds", train_seconds)
    by_epoch = [entry["eval_accuracy"] for entry in trainer.state.log_history if "eval_accuracy" in entry]
    test_set = encoded(test)
    started = time.perf_counter()
    result = trainer.evaluate(test_set)
    seconds = time.perf_counter() - started
    test_accuracy, rate = round(result["eval_accuracy"], 4), round(len(test_set) / seconds, 1)
    print("test accuracy", test_accuracy, "rows/s", rate)
    figures = {
        "validation accuracy before training": round(before, 4),
        "validation accuracy by epoch": [round(value, 4) for value in by_epoch],
        "training seconds": train_seconds,
        "test accuracy": test_accuracy,
        "test rows per second": rate,
    }
    note = f"learning rate {args.learning_rate}, {args.epochs} epochs, head {args.head}, batch {args.batch_size}"
    record(f"encoder_recipe-{args.learning_rate:g}-{args.epochs:g}-{args.head}", figures, note=note)


if __name__ == "__main__":
    main()
