"""Catastrophic-forgetting probe: perplexity on general text (shipped with tunewise) before and after tuning.

A fine-tune that teaches the task while making ordinary English markedly less likely has overwritten general
ability; the change in perplexity is a cheap, model-agnostic signal of it.
"""

from __future__ import annotations

import json
import math
from importlib.resources import files

import torch

GENERAL_TEXT = "general_text.jsonl"


def general_texts() -> list[str]:
    lines = files("tunewise.resources").joinpath(GENERAL_TEXT).read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["text"] for line in lines if line.strip()]


def perplexity(model, tokenizer, texts: list[str]) -> float:
    """exp of the mean next-token NLL over all tokens of the texts (one text at a time: no padding to mask)."""
    device = next(model.parameters()).device
    total, count = 0.0, 0
    model.eval()
    with torch.inference_mode():
        for text in texts:
            ids = tokenizer(text, return_tensors="pt")["input_ids"].to(device)
            logits = model(input_ids=ids).logits[0, :-1].float()
            total += float(torch.nn.functional.cross_entropy(logits, ids[0, 1:], reduction="sum"))
            count += ids.shape[1] - 1
    return math.exp(total / count)


def forgetting_probe(base_model, tuned_model, tokenizer, texts: list[str] | None = None) -> dict:
    """Perplexity of both models on the general texts and the relative change."""
    texts = texts or general_texts()
    before, after = perplexity(base_model, tokenizer, texts), perplexity(tuned_model, tokenizer, texts)
    return {
        "texts": len(texts),
        "base_perplexity": before,
        "tuned_perplexity": after,
        "relative_change": after / before - 1,
    }
