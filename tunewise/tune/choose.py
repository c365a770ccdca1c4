"""The noise-aware choice among a search's finished trials: the best validation score is kept only where it
beats, beyond the noise of the validation rows, the default setting and every cheaper setting that scored at
least as well as the default (a cheaper setting is never kept below the default's own score)."""

from __future__ import annotations

from tunewise.evaluate.metrics import compare_scores
from tunewise.tune.space import cost_order


def within_noise(comparison: dict) -> bool:
    """A paired difference whose 95 % interval holds 0."""
    return comparison["ci_low"] <= 0 <= comparison["ci_high"]


def choose(task: str, trials: list[dict], scores: dict[int, list[float]]) -> dict:
    """``trials``: the finished ones ({number, values, score, minutes, default}); ``scores``: each one's per-row
    validation scores (the same rows, in the same order). Returns the chosen trial's number, why (the best's lead
    over the runner-up, with its interval, included), and the paired comparisons behind it (best vs default, best
    vs runner-up, the cheaper settings within noise of the best)."""
    found = _choose(task, trials, scores)
    ranked = sorted(trials, key=lambda t: (-t["score"], t["number"]))
    if len(ranked) > 1:
        lead = found["comparisons"][str(ranked[1]["number"])]
        found["runner_up"] = ranked[1]["number"]
        found["reason"] += f"; the best leads the runner-up (trial {ranked[1]['number']}) by {_gain(lead)}"
    return found


def _choose(task: str, trials: list[dict], scores: dict[int, list[float]]) -> dict:
    ranked = sorted(trials, key=lambda t: (-t["score"], t["number"]))
    best = ranked[0]
    default = next((t for t in trials if t.get("default")), None)
    found = {"best": best["number"], "default": default["number"] if default else None, "comparisons": {}}

    def versus(trial: dict) -> dict:  # the best minus this trial, paired on the validation rows
        comparison = compare_scores(task, scores[trial["number"]], scores[best["number"]])
        found["comparisons"][str(trial["number"])] = comparison
        return comparison

    if len(ranked) > 1:
        versus(ranked[1])
    if default is not None and default is not best:
        against_default = versus(default)
        if within_noise(against_default):
            return found | {
                "chosen": default["number"],
                "reason": f"the best trial ({best['number']}) beats the default setting by "
                f"{_gain(against_default)}: within the noise of {against_default['n']} validation rows, so the "
                "default is kept",
            }
    floor = default["score"] if default is not None else float("-inf")  # never below what would have run anyway
    cheaper = [
        t
        for t in trials
        if t is not best
        and t["score"] >= floor
        and (cost_order(t["values"]), t["minutes"]) < (cost_order(best["values"]), best["minutes"])
    ]
    level = [t for t in cheaper if within_noise(versus(t))]
    if level:
        pick = min(level, key=lambda t: (cost_order(t["values"]), t["minutes"], -t["score"]))
        return found | {
            "chosen": pick["number"],
            "reason": f"trial {pick['number']} trains for less ({_cost(pick)} against {_cost(best)}) and the best "
            f"trial ({best['number']}) beats it by {_gain(found['comparisons'][str(pick['number'])])}: within "
            "the noise, so the cheaper setting is kept",
        }
    if default is best:
        return found | {"chosen": best["number"], "reason": "the default setting scored best on validation"}
    reason = f"trial {best['number']} scored best on validation"
    if default is not None:
        reason += f", {_gain(found['comparisons'][str(default['number'])])} over the default setting"
    return found | {"chosen": best["number"], "reason": reason}


def _gain(comparison: dict) -> str:
    return (
        f"{comparison['gain']:+.3f} (95 % CI {comparison['ci_low']:+.3f} to {comparison['ci_high']:+.3f}, "
        f"{comparison['metric']})"
    )


def _cost(trial: dict) -> str:
    epochs = trial["values"].get("train.epochs", trial["values"].get("train.encoder.epochs"))
    return (f"{epochs:g} epochs, " if epochs is not None else "") + f"{trial['minutes']:.1f} min"
