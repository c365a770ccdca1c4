"""Shared fixtures: a tiny random Llama model with a real (small, freshly trained) tokenizer, and data files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "datasets"
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
LABELS = ["card_arrival", "change_pin", "exchange_rate"]
TEXTS = {
    "card_arrival": [
        "where is my new card",
        "my card has not arrived yet",
        "when will the card come",
        "card still not delivered",
        "how long until my card arrives",
        "is my card on its way",
    ],
    "change_pin": [
        "how do i change my pin",
        "i want a new pin",
        "can i reset my pin number",
        "change the pin on my card",
        "where do i update my pin",
        "pin change please",
    ],
    "exchange_rate": [
        "what is the exchange rate",
        "how much is a euro in dollars",
        "current rate for pounds",
        "which exchange rate do you use",
        "is the rate good today",
        "rate for converting money",
    ],
}


def require(present: bool, what: str, how: str) -> None:
    """Skip a test whose prerequisite is missing on a developer's machine; under CI (CI set) fail instead: CI
    installs everything the tests need (`make test`), and a skip there would hide a missing install step."""
    if present:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing under CI ({how})")
    pytest.skip(f"{what} is missing ({how})")


def classification_rows(copies: int = 3) -> list[dict]:
    """18 distinct queries per copy round, each reworded by a suffix so that rows stay distinct."""
    rows = []
    for round_ in range(copies):
        for label, texts in TEXTS.items():
            rows.extend({"text": f"{text} {'please' * round_}".strip(), "label": label} for text in texts)
    return rows


FRAMES = [
    "",
    "hi,",
    "hello there,",
    "quick question:",
    "sorry,",
    "excuse me,",
    "good morning,",
    "hey team,",
    "one thing:",
    "urgent:",
    "thanks in advance,",
    "i need help:",
]


def intent_rows() -> list[dict]:
    """216 distinct rows, each fixture query inside one of 12 opening phrases: a held-out row is a new (opening,
    query) pair, so a learning test scores dozens of rows instead of the three distinct queries a grouped split of
    `classification_rows` leaves in its test split (there, one query more or less right moves accuracy by 0.33)."""
    return [
        {"text": f"{frame} {text}".strip(), "label": label}
        for frame in FRAMES
        for label, texts in TEXTS.items()
        for text in texts
    ]


LEARNING_SPLIT = "split:\n  validation: 0.15\n  test: 0.25\n  group_near_duplicates: false\n"


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def finished_runs(tiny_model_dir, tmp_path_factory) -> dict[str, Path]:
    """Two finished runs of the tiny model on the classification fixture (no base-model comparison): a head
    ('classify') and label decoding ('generate'). Shared by the test modules that use a finished run (predict,
    export, serve): a test copies a run before it changes anything in it."""
    from tests.test_pipeline import make_config  # here, not at the top: test_pipeline imports this module
    from tunewise.cli import main

    folder = tmp_path_factory.mktemp("finished")
    write_jsonl(folder / "intents.jsonl", classification_rows())
    found = {}
    for objective in ("classify", "generate"):
        config = make_config(folder, tiny_model_dir, "intents.jsonl", "  compare_base: false\n")
        config = config.rename(folder / f"{objective}.yaml")
        assert main(["run", str(config), f"train.objective={objective}", "--out", str(folder / objective)]) == 0
        found[objective] = folder / objective
    return found


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A 2-layer Llama (about 60k parameters) with a byte-level BPE tokenizer trained on the fixture texts."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


def build_tiny_model(folder: Path, hidden_size: int = 32, intermediate_size: int = 64) -> Path:
    """The tiny model of `tiny_model_dir`, written to ``folder`` (also used by benchmarks/precision.py); wider
    layers on request (QLoRA's tests: bitsandbytes quantises in blocks of 64 weights)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<pad>", "<s>", "<|im_start|>", "<|im_end|>"]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    corpus = [t for texts in TEXTS.values() for t in texts] + LABELS + ["user assistant system summary dialogue"]
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(corpus * 5, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", bos_token="<s>", eos_token="<|im_end|>"
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(folder)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=256,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
        tie_word_embeddings=True,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


@pytest.fixture
def tiny_tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


@pytest.fixture
def classification_file(tmp_path) -> Path:
    return write_jsonl(tmp_path / "intents.jsonl", classification_rows())
