"""Model-as-judge for pairwise comparison of two systems' answers.

The judge sees the request and both answers and must reply "A" or "B" (label-constrained decoding, so it
always gives a valid verdict). Every pair is judged in both orders: a judge that prefers whichever answer
comes first contradicts itself, and that row counts as a tie. The share of such rows is the flip rate, the
judge's own reliability figure.
"""

from __future__ import annotations

import numpy as np

from tunewise.evaluate.predict import predict_labels
from tunewise.evaluate.stats import mean_ci

JUDGE_RUBRIC = (
    "You compare two answers to the same request. Prefer the answer that is more relevant, correct, coherent "
    "and useful. Ignore length and order."
)
TEMPLATE = (
    "{rubric}\n\nRequest:\n{prompt}\n\nAnswer A:\n{first}\n\nAnswer B:\n{second}\n\n"
    "Which answer is better? Reply A or B."
)


def judge_pairs(
    model,
    renderer,
    prompts: list[str],
    answers_1: list[str],
    answers_2: list[str],
    rubric: str = JUDGE_RUBRIC,
    batch_size: int = 16,
) -> dict:
    """Compare system 1 and system 2 row by row; returns wins, ties, the win rate of system 2 (ties count half)
    with a 95 % interval, the flip rate and each row's outcome ("1", "2" or "tie")."""

    def ask(first: list[str], second: list[str]) -> list[str]:
        conversations = [
            [{"role": "user", "content": TEMPLATE.format(rubric=rubric, prompt=p, first=a, second=b)}]
            for p, a, b in zip(prompts, first, second, strict=True)
        ]
        return predict_labels(model, renderer, conversations, ["A", "B"], batch_size)

    forward, backward = ask(answers_1, answers_2), ask(answers_2, answers_1)
    outcomes = [_outcome(f, b) for f, b in zip(forward, backward, strict=True)]
    return summarize(outcomes)


def _outcome(forward: str, backward: str) -> str:
    """System 1 is A in the forward order and B in the backward one."""
    if forward == "A" and backward == "B":
        return "1"
    if forward == "B" and backward == "A":
        return "2"
    return "tie"  # the verdict followed the position, not the answer


def summarize(outcomes: list[str]) -> dict:
    points = [1.0 if o == "2" else 0.5 if o == "tie" else 0.0 for o in outcomes]
    return {
        "n": len(outcomes),
        "wins_1": outcomes.count("1"),
        "wins_2": outcomes.count("2"),
        "ties": outcomes.count("tie"),
        "win_rate_2": float(np.mean(points)) if points else 0.0,
        "win_rate_2_ci": mean_ci(points) if points else [0.0, 0.0],
        "flip_rate": outcomes.count("tie") / len(outcomes) if outcomes else 0.0,
        "outcomes": outcomes,
    }


def agreement_with_humans(judge: dict[str, str], humans: dict[str, str]) -> dict:
    """Cohen's kappa between the judge's and the human outcome on items both rated (keys: item ids)."""
    from sklearn.metrics import cohen_kappa_score

    shared = sorted(set(judge) & set(humans))
    if len(shared) < 2:
        return {"n": len(shared), "kappa": None, "raw_agreement": None}
    a, b = [judge[k] for k in shared], [humans[k] for k in shared]
    raw = sum(x == y for x, y in zip(a, b, strict=True)) / len(shared)
    kappa = cohen_kappa_score(a, b) if len(set(a) | set(b)) > 1 else 1.0
    return {"n": len(shared), "kappa": float(kappa), "raw_agreement": raw}
