"""Statistics of human ratings: agreement between raters, win rates with Wilson intervals, and Bradley-Terry
scores with bootstrap intervals for more than two systems.

Plain functions over plain data. A pairwise vote is ``(system_a, system_b, outcome)`` with ``outcome`` one of
"a", "b", "tie" or "both_bad"; ratings are ``{item: {rater: value}}`` (missing ratings simply absent).
"""

from __future__ import annotations

from collections import Counter
from itertools import combinations

import numpy as np

OUTCOMES = ("a", "b", "tie", "both_bad")
LEVEL = 0.95


def cohen_kappa(ratings: dict[str, dict[str, object]], rater_a: str, rater_b: str, weights: str | None = None) -> dict:
    """Cohen's kappa of two raters over the items both rated (scikit-learn's implementation); ``weights``
    "linear" or "quadratic" for ordinal scores."""
    from sklearn.metrics import cohen_kappa_score

    shared = [item for item, by in ratings.items() if rater_a in by and rater_b in by]
    if len(shared) < 2:
        return {"kappa": None, "items": len(shared)}
    first, second = [ratings[i][rater_a] for i in shared], [ratings[i][rater_b] for i in shared]
    if len(set(first) | set(second)) == 1:  # one value everywhere: agreement is total, kappa is undefined
        return {"kappa": None, "items": len(shared)}
    return {"kappa": float(cohen_kappa_score(first, second, weights=weights)), "items": len(shared)}


def krippendorff_alpha(ratings: dict[str, dict[str, float]], level: str = "ordinal") -> dict:
    """Krippendorff's alpha over all raters, missing ratings allowed (the `krippendorff` package)."""
    import krippendorff

    raters = sorted({rater for by in ratings.values() for rater in by})
    items = [item for item, by in ratings.items() if len(by) >= 2]  # only items rated twice carry information
    values = {value for item in items for value in ratings[item].values()}
    if not items or len(values) < 2:
        return {"alpha": None, "items": len(items), "raters": len(raters)}
    matrix = np.array([[ratings[item].get(rater, np.nan) for item in items] for rater in raters], dtype=float)
    alpha = krippendorff.alpha(reliability_data=matrix, level_of_measurement=level)
    return {"alpha": float(alpha), "items": len(items), "raters": len(raters), "level": level}


def wilson_interval(successes: int, trials: int) -> list[float] | None:
    """95 % Wilson score interval of a proportion (scipy's binomtest)."""
    from scipy.stats import binomtest

    if trials == 0:
        return None
    interval = binomtest(successes, trials).proportion_ci(confidence_level=LEVEL, method="wilson")
    return [float(interval.low), float(interval.high)]


def win_rates(votes: list[tuple[str, str, str]]) -> dict[str, dict]:
    """Per system: wins, losses, ties and both-bad votes, and the win rate among decisive votes with its
    Wilson interval (ties and both-bad are reported, not counted as half wins)."""
    _check(votes)
    counts: dict[str, Counter] = {}
    for system_a, system_b, outcome in votes:
        for system, own, other in ((system_a, "a", "b"), (system_b, "b", "a")):
            tally = counts.setdefault(system, Counter())
            tally["wins" if outcome == own else "losses" if outcome == other else outcome] += 1
    found = {}
    for system, tally in sorted(counts.items()):
        decisive = tally["wins"] + tally["losses"]
        found[system] = {
            "wins": tally["wins"],
            "losses": tally["losses"],
            "ties": tally["tie"],
            "both_bad": tally["both_bad"],
            "win_rate": tally["wins"] / decisive if decisive else None,
            "win_rate_ci": wilson_interval(tally["wins"], decisive),
        }
    return found


def bradley_terry(votes: list[tuple[str, str, str]], rounds: int = 500, seed: int = 0) -> dict[str, dict]:
    """Bradley-Terry strengths (log scale, mean 0) from decisive votes, by choix's iterative Luce spectral
    ranking, with 95 % intervals from resampling the votes."""
    import choix

    _check(votes)
    systems = sorted({s for a, b, _ in votes for s in (a, b)})
    index = {s: i for i, s in enumerate(systems)}
    decisive = [
        (index[a], index[b]) if outcome == "a" else (index[b], index[a])
        for a, b, outcome in votes
        if outcome in ("a", "b")
    ]
    if len(systems) < 2 or not decisive:
        return {s: {"score": 0.0, "ci": None} for s in systems}

    def fit(pairs) -> np.ndarray:
        scores = choix.ilsr_pairwise(len(systems), pairs, alpha=0.01)  # a little regularisation: no infinities
        return scores - scores.mean()

    point = fit(decisive)
    rng = np.random.default_rng(seed)
    samples = np.array(
        [fit([decisive[i] for i in rng.integers(0, len(decisive), len(decisive))]) for _ in range(rounds)]
    )
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(samples, tail, axis=0), np.percentile(samples, 100 - tail, axis=0)
    return {s: {"score": float(point[i]), "ci": [float(low[i]), float(high[i])]} for s, i in index.items()}


def pairwise_kappas(ratings: dict[str, dict[str, object]], weights: str | None = None) -> list[dict]:
    """Cohen's kappa for every pair of raters who rated at least two items in common."""
    raters = sorted({rater for by in ratings.values() for rater in by})
    found = []
    for first, second in combinations(raters, 2):
        result = cohen_kappa(ratings, first, second, weights)
        if result["items"] >= 2:
            found.append({"raters": [first, second], **result})
    return found


def _check(votes) -> None:
    for vote in votes:
        if len(vote) != 3 or vote[2] not in OUTCOMES:
            raise ValueError(f"a vote is (system_a, system_b, outcome in {OUTCOMES}), got {vote!r}")
