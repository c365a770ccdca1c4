"""Rank the measured candidates and say which base model to fine-tune, and why, in plain words.

The rule: the candidate with the best validation score after the probe fine-tune leads; every candidate whose
difference from the leader is not significant (its 95 % paired interval reaches zero, or the paired test's
p >= 0.05) is as good within the noise; of those, the cheapest to serve is recommended, and among those within
10 % of that cost (measurement noise) the one whose full run is projected to train soonest (within 1.5x counts as
equal), then the one with the fewest parameters. A candidate whose validation interval reaches chance (the most
common label's share) is not ranked against those above it: its score says nothing yet.
"""

from __future__ import annotations

from tunewise._format import duration
from tunewise.evaluate.metrics import compare_scores

ALPHA = 0.05
SAME_COST = 1.10  # serving costs within 10 % of each other are treated as equal: then the smaller model is picked
SAME_SIZE = 1.10  # sizes within 10 % (e.g. one encoder with another head) are not "a smaller model"
SAME_TRAIN_TIME = 1.5  # projected full-run training times within 1.5x of each other count as equal


def rank(candidates: list[dict], task: str, metric: str, chance: float | None = None) -> dict:
    """``candidates``: one dict per model with ``name``, ``parameters``, ``seconds_per_1k`` and
    ``probe`` = {score, score_ci, per_row} (and ``kind``: baseline | encoder | decoder; ``projected_train_seconds``).
    ``chance``: the score of always answering the most common validation label (classification); a candidate whose
    interval reaches it is at chance, and is ranked only when every candidate is. Returns the ranking, the pick,
    the candidate a run fine-tunes (the pick, or the best that trains when the pick is a baseline) and the reasons."""
    for candidate in candidates:
        candidate["at_chance"] = chance is not None and candidate["probe"]["score_ci"][0] <= chance
    above = [c for c in candidates if not c["at_chance"]] or candidates
    leader, pick, tied = _choose(above, task)
    for candidate in candidates:
        candidate["vs_best"] = (
            None
            if candidate is leader
            else _public(compare_scores(task, leader["probe"]["per_row"], candidate["probe"]["per_row"]))
        )
    front = pareto_front(candidates)
    for candidate in candidates:
        candidate["pareto"] = candidate["name"] in front
        candidate["within_noise_of_best"] = candidate in tied
    others = sorted((c for c in candidates if c is not pick), key=lambda c: -c["probe"]["score"])
    ordered = [pick, *others]
    trainable = [c for c in above if c.get("kind") != "baseline" and _fits(c)] or [
        c for c in candidates if c.get("kind") != "baseline" and _fits(c)
    ]
    train_pick = pick if pick in trainable or not trainable else _choose(trainable, task)[1]
    said = reasons(pick, leader, ordered, metric)
    if train_pick is not pick:
        said.insert(1, _train_pick_reason(pick, train_pick))
    too_big = [c for c in candidates if not _fits(c)]
    if too_big:
        said.append(_too_big(too_big))
    at_chance = _at_chance(candidates, chance, metric)
    if at_chance:
        said.insert(0 if all(c["at_chance"] for c in candidates) else 1, at_chance)
    return {
        "pick": pick["name"],
        "train_pick": train_pick["name"],
        "best_score": leader["name"],
        "ranking": [c["name"] for c in ordered],
        "reasons": said,
    }


def _choose(candidates: list[dict], task: str) -> tuple[dict, dict, list[dict]]:
    """The leader, the pick and the candidates tied with the leader within the noise. Among the tied, the cheapest
    to serve; within 10 % of that cost, the smallest (sizes within 10 % count as equal, and then one that needs no
    fine-tune wins), then the fewest parameters."""
    leader = max(candidates, key=lambda c: c["probe"]["score"])

    def tied_with_leader(c):
        if c is leader:
            return True
        return _within_noise(compare_scores(task, leader["probe"]["per_row"], c["probe"]["per_row"]))

    tied = [c for c in candidates if tied_with_leader(c)]
    cheapest = min(c["seconds_per_1k"] for c in tied)
    as_cheap = [c for c in tied if _as_cheap(c, cheapest)]
    trained = [c["projected_train_seconds"] for c in as_cheap if c.get("projected_train_seconds")]
    if trained:  # then the one whose full run trains soonest (a probe's timing is noisier than serving: 1.5x)
        as_cheap = [c for c in as_cheap if (c.get("projected_train_seconds") or 0) <= SAME_TRAIN_TIME * min(trained)]
    smallest = min(c["parameters"] for c in as_cheap)
    pick = min(
        (c for c in as_cheap if c["parameters"] <= SAME_SIZE * smallest),
        key=lambda c: (c.get("kind") != "baseline", c["parameters"], c["seconds_per_1k"]),
    )
    return leader, pick, tied


def _train_pick_reason(pick: dict, train_pick: dict) -> str:
    if pick.get("kind") != "baseline":  # the pick's full run does not fit this device's memory
        return (
            f"{pick['name']}'s full run does not fit this device's memory (the plan below): `tunewise run` with "
            f"model.name: auto fine-tunes {train_pick['name']}, the best candidate that fits."
        )
    return (
        f"{pick['name']} needs no fine-tune at all: ship it unless the run shows otherwise. `tunewise run` with "
        f"model.name: auto fine-tunes {train_pick['name']}, the best candidate that trains, and its verdict "
        "(beats_baselines, with eval.baselines on) checks it against the strongest cheap baseline on the test split."
    )


def _fits(candidate: dict) -> bool:
    """False only when the memory plan says the candidate's full run cannot fit this device."""
    return (candidate.get("train_memory") or {}).get("fits") is not False


def _too_big(candidates: list[dict]) -> str:
    said = "; ".join(f"{c['name']} {c['train_memory']['planned_peak_bytes'] / 2**30:.1f} GiB" for c in candidates)
    memory = candidates[0]["train_memory"]
    return (
        f"The memory plan of the full run does not fit this {memory['device']}'s "
        f"{memory['device_memory'] / 2**30:.1f} GiB for: {said}; `tunewise run` with model.name: auto does not "
        "fine-tune them here (`tunewise plan` says which method or gradient checkpointing would fit)."
    )


def _within_noise(gap: dict) -> bool:
    return gap["ci_high"] >= 0 or gap["p_value"] >= ALPHA


def _as_cheap(candidate: dict, cost: float) -> bool:
    return candidate["seconds_per_1k"] <= SAME_COST * cost


def pareto_front(candidates: list[dict]) -> set[str]:
    """Candidates no other candidate beats on both validation score and serving cost."""

    def dominated(c):
        return any(
            o["probe"]["score"] >= c["probe"]["score"]
            and o["seconds_per_1k"] <= c["seconds_per_1k"]
            and (o["probe"]["score"] > c["probe"]["score"] or o["seconds_per_1k"] < c["seconds_per_1k"])
            for o in candidates
        )

    return {c["name"] for c in candidates if not dominated(c)}


def reasons(pick: dict, leader: dict, ordered: list[dict], metric: str) -> list[str]:
    """The recommendation, why, and what the prior fit said, as sentences."""
    said = [_verdict(pick, leader, ordered, metric), _costs(ordered)]
    prior = _prior_agreement(ordered)
    if prior:
        said.append(prior)
    probe = pick["probe_budget"]
    steps = ", ".join(
        f"{c['name']} {c['probe_budget']['steps']} steps" if c.get("kind") != "baseline" else f"{c['name']} one fit"
        for c in ordered
    )
    said.append(
        f"Every candidate got the same probe: the same {probe['examples']} training examples, seen once ({steps}), "
        "with the run's train settings (an encoder with train.encoder's), scored on the same "
        f"{len(pick['probe']['per_row'])} validation rows (never the test split). A longer fine-tune can change the "
        "gaps; the ranking is what this budget shows."
    )
    return said


def _verdict(pick: dict, leader: dict, ordered: list[dict], metric: str) -> str:
    score = _scored(pick, metric)
    rivals = [c for c in ordered if c is not pick]
    if not rivals:
        return f"{pick['name']} is the only candidate: {score}."
    if pick is not leader:
        gap = pick["vs_best"]
        return (
            f"Recommend {pick['name']}: {leader['name']} scored highest ({_scored(leader, metric)}), but "
            f"{pick['name']} is within the noise of it ({score}; difference {_difference(gap)}) and is "
            f"{_compared(pick, leader)}. The lead of {leader['name']} is not a gain this validation set can detect."
        )
    beaten = [c for c in rivals if not c["within_noise_of_best"]]
    tied = [c for c in rivals if c["within_noise_of_best"]]
    parts = [f"Recommend {pick['name']}: it scored highest ({score})"]
    favour = f"in {pick['name']}'s favour"
    if beaten:
        parts.append(
            "significantly ahead of "
            + "; ".join(f"{c['name']} ({_difference(_flipped(c['vs_best']), favour)})" for c in beaten)
        )
    sentence = ", ".join(parts) + "."
    for c in tied:
        sentence += (
            f" {c['name']} is within the noise of it ({_difference(_flipped(c['vs_best']), favour)}), and "
            f"{pick['name']} is {_compared(pick, c)}."
        )
    smaller_win = [c for c in beaten if c["parameters"] > SAME_SIZE * pick["parameters"]]
    if smaller_win:
        sentence += (
            f" The smaller model wins: {', '.join(c['name'] for c in smaller_win)} "
            f"{'has' if len(smaller_win) == 1 else 'have'} more parameters and still scored lower."
        )
    pricier = [c for c in beaten if not _as_cheap(pick, c["seconds_per_1k"])]
    if pricier:
        sentence += (
            " It costs "
            + ", ".join(
                f"{pick['seconds_per_1k'] / c['seconds_per_1k']:.1f}x as much to serve as {c['name']}" for c in pricier
            )
            + ", and the paired test says that buys a real gain."
        )
    return sentence


def _costs(ordered: list[dict]) -> str:
    """The measured serving figures side by side, so that 'cheaper' has numbers behind it, and the projected
    training time of the full run."""
    figures = "; ".join(_serving(c) for c in ordered)
    said = f"Measured serving cost: {figures}."
    projected = [c for c in ordered if c.get("projected_train_seconds")]
    if projected:
        times = "; ".join(
            f"{c['name']} {duration(c['projected_train_seconds'])}"
            + (" (a fit, no fine-tune)" if c.get("kind") == "baseline" else "")
            for c in projected
        )
        said += (
            f" Projected training time of the full run (the run's rows, epochs and batch at the probe's measured "
            f"speed; early stopping can only shorten it): {times}."
        )
    return said


def _at_chance(candidates: list[dict], chance: float | None, metric: str) -> str | None:
    """Which candidates the probe could not tell from always answering the most common label."""
    found = [c for c in candidates if c["at_chance"]]
    if not found:
        return None
    names = ", ".join(f"{c['name']} ({_scored(c, metric)})" for c in found)
    if len(found) == len(candidates):
        return (
            f"No candidate scored above chance on this probe (the most common label alone gets {chance:.3f}): {names}. "
            "The ranking below is noise, not evidence; give the probe more examples per class "
            "(select.probe_per_class) or more validation rows before trusting a pick."
        )
    return (
        f"At chance on this probe (their interval reaches {chance:.3f}, the most common label's share), so not "
        f"ranked against the others: {names}."
    )


def _serving(candidate: dict) -> str:
    said = [f"{candidate['name']} {candidate['rows_per_second']:.1f} rows/s"]
    if candidate.get("latency_seconds"):
        said.append(f"{1000 * candidate['latency_seconds']:.0f} ms per request alone")
    if candidate.get("inference_peak_bytes"):
        said.append(f"{candidate['inference_peak_bytes'] / 2**30:.2f} GiB peak memory")
    return ", ".join(said)


def _prior_agreement(ordered: list[dict]) -> str | None:
    """Whether the untuned signals (zero-shot score, bits per byte) rank the candidates as the probe does."""
    ordered = [c for c in ordered if c.get("zero_shot") and c.get("bits_per_byte") is not None]
    if len(ordered) < 2:  # baselines and encoders write no text before tuning
        return None
    by_probe = [c["name"] for c in sorted(ordered, key=lambda c: -c["probe"]["score"])]
    by_zero = [c["name"] for c in sorted(ordered, key=lambda c: -c["zero_shot"]["score"])]
    by_fit = [c["name"] for c in sorted(ordered, key=lambda c: c["bits_per_byte"])]
    signals = ", ".join(
        f"{c['name']} {c['zero_shot']['score']:.3f} zero-shot, {c['bits_per_byte']:.3f} bits/byte" for c in ordered
    )
    if by_zero == by_probe and by_fit == by_probe:
        return f"The untuned signals agree with the probe ({signals})."
    return (
        f"The untuned signals rank the candidates differently ({signals}): how well a model does before tuning "
        "does not tell how far a fine-tune takes it, which is why the probe decides."
    )


def _scored(candidate: dict, metric: str) -> str:
    low, high = candidate["probe"]["score_ci"]
    return f"{metric} {candidate['probe']['score']:.3f} [{low:.3f}, {high:.3f}]"


def _difference(gap: dict, side: str = "") -> str:
    gain = f"{gap['gain']:+.3f}" + (f" {side}" if side else "")
    return f"{gain}, 95 % CI {gap['ci_low']:+.3f} to {gap['ci_high']:+.3f}, p = {gap['p_value']:.2g}"


def _flipped(gap: dict) -> dict:
    """A difference seen from the other side: leader minus candidate."""
    return {**gap, "gain": -gap["gain"], "ci_low": -gap["ci_high"], "ci_high": -gap["ci_low"]}


def _compared(pick: dict, other: dict) -> str:
    """How ``pick`` compares with ``other`` on serving cost and size, in the direction it goes."""
    ratio = other["seconds_per_1k"] / pick["seconds_per_1k"]
    if ratio >= SAME_COST:
        cost = f"{ratio:.1f}x cheaper to serve"
    elif ratio * SAME_COST <= 1:
        cost = f"{1 / ratio:.1f}x as costly to serve"
    else:
        cost = "as cheap to serve (within 10 %)"
    size = other["parameters"] / pick["parameters"]
    if size == 1:
        return f"{cost}, at the same size"
    if 1 / SAME_SIZE < size < SAME_SIZE:
        return f"{cost}, at about the same size"
    return f"{cost} and {size:.1f}x smaller" if size > 1 else f"{cost} and {1 / size:.1f}x larger"


def _public(comparison: dict) -> dict:
    return {k: comparison[k] for k in ("gain", "ci_low", "ci_high", "p_value", "mde", "n")}
