"""Preference data (prompt, chosen, rejected): how often a model prefers the chosen answer.

Without a reference model the preference is the answer's summed log-likelihood; with one it is DPO's
implicit reward, log pi(answer) - log pi_ref(answer), so preference accuracy measures what preference
tuning changed rather than what the model already liked.
"""

from __future__ import annotations

import numpy as np
import torch

from tunewise.errors import TunewiseError
from tunewise.evaluate.stats import mcnemar, mean_ci, minimum_detectable_effect, paired_difference
from tunewise.models.prompts import Renderer

SIDES = ("chosen", "rejected")


def answer_logprobs(
    model, renderer: Renderer, prompts: list[list[dict]], answers: list[str], batch_size: int = 8
) -> list[float]:
    """Summed log-probability of each answer's tokens (end-of-turn included) after its prompt."""
    pairs = [(renderer.prompt_ids(p), renderer.answer_ids(p, a)) for p, a in zip(prompts, answers, strict=True)]
    device = next(model.parameters()).device
    pad = renderer.tokenizer.pad_token_id or 0
    scores: list[float] = []
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(pairs), batch_size):
            batch = pairs[start : start + batch_size]
            width = max(len(p) + len(a) for p, a in batch)
            ids = torch.full((len(batch), width), pad, dtype=torch.long, device=device)
            mask = torch.zeros_like(ids)
            for row, (prompt, answer) in enumerate(batch):  # right padding: positions start at 0 for every row
                ids[row, : len(prompt) + len(answer)] = torch.tensor(prompt + answer, device=device)
                mask[row, : len(prompt) + len(answer)] = 1
            logprobs = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
            for row, (prompt, answer) in enumerate(batch):
                positions = torch.arange(len(prompt) - 1, len(prompt) + len(answer) - 1, device=device)
                targets = torch.tensor(answer, device=device)
                scores.append(float(logprobs[row, positions, targets].sum()))
    return scores


def pair_logprobs(model, renderer: Renderer, rows: list[dict], batch_size: int = 8) -> dict[str, list[float]]:
    """Summed log-probability of each row's chosen and rejected answer after its prompt."""
    if not rows:
        raise TunewiseError("preference accuracy needs at least one (prompt, chosen, rejected) row")
    prompts = [[{"role": "user", "content": r["prompt"]}] for r in rows]
    return {side: answer_logprobs(model, renderer, prompts, [r[side] for r in rows], batch_size) for side in SIDES}


def accuracy_of(rewards: dict[str, list[float]], reference: dict[str, list[float]] | None = None) -> dict:
    """Share of pairs whose chosen answer gets the higher reward (a tie counts half), with a 95 % interval.
    The reward is the log-likelihood, or with ``reference`` DPO's implicit reward log pi - log pi_ref."""
    if reference is not None:
        rewards = {side: [a - b for a, b in zip(rewards[side], reference[side], strict=True)] for side in SIDES}
    prefers_chosen = [
        float(c > r) + 0.5 * (c == r) for c, r in zip(rewards["chosen"], rewards["rejected"], strict=True)
    ]
    return {
        "preference_accuracy": sum(prefers_chosen) / len(prefers_chosen),
        "preference_accuracy_ci": mean_ci(prefers_chosen),
        "n": len(prefers_chosen),
        "per_row": prefers_chosen,
    }


def compare_preference(base: dict, tuned: dict) -> dict:
    """Tuned vs base preference accuracy on the same pairs: paired-bootstrap interval, McNemar's exact test on
    the pairs each gets right, and the smallest detectable effect."""
    difference = paired_difference(base["per_row"], tuned["per_row"])
    test = mcnemar([s == 1 for s in base["per_row"]], [s == 1 for s in tuned["per_row"]])
    mde = minimum_detectable_effect(np.subtract(tuned["per_row"], base["per_row"], dtype=float))
    return {"metric": "preference_accuracy", **difference, **test, "mde": mde, "n": len(base["per_row"])}
