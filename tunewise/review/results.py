"""What a campaign's votes say: agreement between reviewers, win rates, Bradley-Terry scores, per-criterion
means, reviewer-level figures; and what flows back into training (DPO pairs, a relabel patch)."""

from __future__ import annotations

from collections import Counter, defaultdict
from statistics import median

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tunewise.errors import TunewiseError
from tunewise.review import stats
from tunewise.review.campaigns import campaign_named
from tunewise.review.db import Assignment, Item, Reviewer, Vote
from tunewise.review.items import NONE_OF_THESE, UNCLEAR

STATUS = {NONE_OF_THESE: "none_of_these", UNCLEAR: "unclear"}  # a labeller's answers that are not a label


def campaign_votes(db: Session, name: str) -> tuple[object, list[dict]]:
    """The campaign and its votes as plain rows: item key and payload, reviewer name, answer, comment, seconds."""
    campaign = campaign_named(db, name)
    rows = db.execute(
        select(Vote, Item, Reviewer)
        .join(Item, Item.id == Vote.item_id)
        .join(Reviewer, Reviewer.id == Vote.reviewer_id)
        .where(Vote.campaign_id == campaign.id)
        .order_by(Item.position, Vote.id)
    ).all()
    votes = [
        {
            "item": item.key,
            "payload": item.payload,
            "reviewer": reviewer.name,
            "answer": vote.answer,
            "comment": vote.comment,
            "seconds": vote.seconds,
        }
        for vote, item, reviewer in rows
    ]
    return campaign, votes


def results(db: Session, name: str) -> dict:
    """Every figure of the campaign's results, as JSON-ready data."""
    campaign, votes = campaign_votes(db, name)
    found = {
        "campaign": campaign.name,
        "kind": campaign.kind,
        "per_item": campaign.per_item,
        "items": db.scalar(select(func.count()).where(Item.campaign_id == campaign.id)),
        "votes": len(votes),
        "items_reviewed": len({v["item"] for v in votes}),
        "reviewers": _reviewers(db, campaign, votes),
    }
    kind_results = {"pairwise": _pairwise, "rating": _rating, "relabel": _relabel, "label": _label}[campaign.kind]
    return found | kind_results(votes, campaign)


def preference_pairs(db: Session, name: str) -> list[dict]:
    """DPO rows from a pairwise campaign: one per decisive vote (ties and both-bad carry no preference)."""
    campaign, votes = campaign_votes(db, name)
    if campaign.kind != "pairwise":
        raise _kind_error(campaign, "--preferences", "pairwise")
    pairs = []
    for vote in votes:
        outcome, (left, right) = vote["answer"]["outcome"], vote["answer"]["systems"]
        if outcome not in ("a", "b"):
            continue
        winner, loser = (left, right) if outcome == "a" else (right, left)
        outputs = vote["payload"]["outputs"]
        pairs.append(
            {
                "prompt": vote["payload"]["prompt"],
                "chosen": outputs[winner],
                "rejected": outputs[loser],
                "meta": {"item": vote["item"], "reviewer": vote["reviewer"], "chosen_system": winner},
            }
        )
    return pairs


def relabel_patch(db: Session, name: str, min_votes: int | None = None) -> list[dict]:
    """One change per item whose reviewers' majority label differs from the current label (ties change
    nothing): ``{"row", "from", "to", "votes", "agreeing"}``, the patch `tunewise curate --relabel-patch` applies.
    Items with fewer than ``min_votes`` votes (default: the campaign's reviewers per item) are left out."""
    campaign, votes = campaign_votes(db, name)
    if campaign.kind != "relabel":
        raise _kind_error(campaign, "--patch", "relabel")
    min_votes = campaign.per_item if min_votes is None else min_votes
    patch = []
    for key, item_votes, label, agreeing, tied in _majorities(votes):
        current = item_votes[0]["payload"]["label"]
        if len(item_votes) < min_votes or tied or label == current:
            continue
        patch.append({"row": key, "from": current, "to": label, "votes": len(item_votes), "agreeing": agreeing})
    return patch


def majority_labels(db: Session, name: str, min_votes: int | None = None) -> tuple[list[dict], dict]:
    """A label campaign's answer per item: the majority label (status ``labelled``), or ``none_of_these``,
    ``unclear`` or ``no_majority`` (a tie), with its votes, how many agreed and who answered, for `tunewise curate
    --add-labelled`. Items with fewer than ``min_votes`` votes (default: the campaign's reviewers per item) are
    left out and counted. Returns (rows, counts by status)."""
    campaign, votes = campaign_votes(db, name)
    if campaign.kind != "label":
        raise _kind_error(campaign, "--labels", "label")
    min_votes = campaign.per_item if min_votes is None else min_votes
    rows, counts = [], Counter()
    for key, item_votes, answer, agreeing, tied in _majorities(votes):
        if len(item_votes) < min_votes:
            counts["too_few_votes"] += 1
            continue
        status = "no_majority" if tied else STATUS.get(answer, "labelled")
        counts[status] += 1
        payload = item_votes[0]["payload"]
        rows.append(
            {
                "id": key,
                "text": payload["text"],
                "label": answer if status == "labelled" else None,
                "status": status,
                "votes": len(item_votes),
                "agreeing": agreeing,
                "agreement": round(agreeing / len(item_votes), 4),
                "reviewers": sorted(v["reviewer"] for v in item_votes),
                "suggested_label": payload["suggested_label"],
                "meta": payload.get("meta", {}),
            }
        )
    return rows, dict(counts)


def _majorities(votes: list[dict]):
    """Per item, in order: (item key, its votes, the most given label answer, how many gave it, whether another
    answer was given as often)."""
    by_item = defaultdict(list)
    for vote in votes:
        by_item[vote["item"]].append(vote)
    for key, item_votes in by_item.items():
        (answer, agreeing), *rest = Counter(v["answer"]["label"] for v in item_votes).most_common()
        yield key, item_votes, answer, agreeing, bool(rest) and rest[0][1] == agreeing


def _pairwise(votes: list[dict], campaign) -> dict:
    triples = [(v["answer"]["systems"][0], v["answer"]["systems"][1], v["answer"]["outcome"]) for v in votes]
    verdicts = {}  # each reviewer's verdict named by system, so left/right order does not matter
    for vote in votes:
        ((_, verdict),) = _answers(vote)
        verdicts.setdefault(vote["item"], {})[vote["reviewer"]] = verdict
    left_share = Counter(v["answer"]["outcome"] for v in votes)
    decisive = left_share["a"] + left_share["b"]
    return {
        "outcomes": {"decisive": decisive, "tie": left_share["tie"], "both_bad": left_share["both_bad"]},
        "win_rates": stats.win_rates(triples) if triples else {},
        "bradley_terry": stats.bradley_terry(triples) if triples else {},
        "agreement": _agreement(verdicts, "nominal"),
        "position_bias": {
            "left_chosen": left_share["a"],
            "decisive": decisive,
            "left_share": left_share["a"] / decisive if decisive else None,
            "ci": stats.wilson_interval(left_share["a"], decisive),
        },
    }


def _rating(votes: list[dict], campaign) -> dict:
    criteria = [criterion["name"] for criterion in campaign.rubric]
    by_criterion = {criterion: defaultdict(list) for criterion in criteria}
    units = {criterion: {} for criterion in criteria}  # (item, system) -> {reviewer: score}, for agreement
    for vote in votes:
        for system, scores in vote["answer"]["scores"].items():
            for criterion in criteria:
                by_criterion[criterion][system].append(scores[criterion])
                units[criterion].setdefault(f"{vote['item']}\x00{system}", {})[vote["reviewer"]] = scores[criterion]
    return {
        "criteria": {
            criterion: {
                "means": {system: _mean_ci(values) for system, values in sorted(by_criterion[criterion].items())},
                "agreement": _agreement(units[criterion], "ordinal", weights="quadratic"),
            }
            for criterion in criteria
        }
    }


def _relabel(votes: list[dict], campaign) -> dict:
    kept = sum(v["answer"]["label"] == v["payload"]["label"] for v in votes)
    return _label_answers(votes) | {"label_kept": {"votes": kept, "rate": kept / len(votes) if votes else None}}


def _label(votes: list[dict], campaign) -> dict:
    answers = Counter(STATUS.get(v["answer"]["label"], "labelled") for v in votes)
    return _label_answers(votes) | {
        "answers": {status: answers[status] for status in ("labelled", "none_of_these", "unclear")}
    }


def _label_answers(votes: list[dict]) -> dict:
    """What relabel and label campaigns share: how often the suggestion was taken, and agreement on the label."""
    labels = {}
    for vote in votes:
        labels.setdefault(vote["item"], {})[vote["reviewer"]] = vote["answer"]["label"]
    accepted = sum(v["answer"]["accepted_suggestion"] for v in votes)
    return {
        "suggestion_accepted": {
            "votes": accepted,
            "rate": accepted / len(votes) if votes else None,
            "ci": stats.wilson_interval(accepted, len(votes)),
        },
        "agreement": _agreement(labels, "nominal"),
    }


def _agreement(ratings: dict[str, dict], level: str, weights: str | None = None) -> dict:
    """Krippendorff's alpha over everyone (missing ratings allowed) and Cohen's kappa for each pair of reviewers
    (quadratically weighted for scores, where 4 against 5 is a smaller disagreement than 1 against 5)."""
    numeric = ratings
    if level == "nominal":  # krippendorff wants numbers: code each distinct answer
        codes = {value: i for i, value in enumerate(sorted({str(v) for by in ratings.values() for v in by.values()}))}
        numeric = {item: {r: codes[str(v)] for r, v in by.items()} for item, by in ratings.items()}
    return {
        "krippendorff_alpha": stats.krippendorff_alpha(numeric, level=level),
        "cohen_kappa": stats.pairwise_kappas(ratings, weights=weights),
    }


def _reviewers(db: Session, campaign, votes: list[dict]) -> list[dict]:
    """Per reviewer: votes, median seconds per vote, and how often their answers match the others' on shared
    items (pairwise: the verdict; relabel: the label; rating: each score, per system and criterion)."""
    names = db.scalars(select(Reviewer.name).where(Reviewer.campaign_id == campaign.id).order_by(Reviewer.name)).all()
    assigned = Counter(
        db.scalars(
            select(Reviewer.name)
            .join(Assignment, Assignment.reviewer_id == Reviewer.id)
            .where(Assignment.campaign_id == campaign.id)
        ).all()
    )
    answers = defaultdict(dict)  # unit -> {reviewer: answer}
    for vote in votes:
        for unit, answer in _answers(vote):
            answers[unit][vote["reviewer"]] = answer
    found = []
    for name in names:
        own = [v for v in votes if v["reviewer"] == name]
        shared = [(by[name], [a for r, a in by.items() if r != name]) for by in answers.values() if name in by]
        shared = [(mine, others) for mine, others in shared if others]
        agree = sum(sum(mine == other for other in others) / len(others) for mine, others in shared)
        found.append(
            {
                "reviewer": name,
                "votes": len(own),
                "assigned": assigned[name],
                "median_seconds": median(v["seconds"] for v in own) if own else None,
                "agreement_with_others": agree / len(shared) if shared else None,
                "shared_items": len({unit[0] for unit, by in answers.items() if name in by and len(by) > 1}),
            }
        )
    return found


def _answers(vote: dict) -> list[tuple[tuple, object]]:
    """A vote as (unit, answer) pairs: what two reviewers' answers are compared on."""
    answer = vote["answer"]
    if "outcome" in answer:
        left, right = answer["systems"]
        return [((vote["item"],), {"a": left, "b": right}.get(answer["outcome"], answer["outcome"]))]
    if "scores" in answer:
        return [
            ((vote["item"], system, criterion), score)
            for system, scores in answer["scores"].items()
            for criterion, score in scores.items()
        ]
    return [((vote["item"],), answer["label"])]


def _mean_ci(values: list[int]) -> dict:
    from scipy import stats as scipy_stats

    array = np.asarray(values, dtype=float)
    mean = float(array.mean())
    if len(array) < 2 or array.std() == 0:
        return {"mean": mean, "ci": None, "n": len(array)}
    low, high = scipy_stats.t.interval(stats.LEVEL, len(array) - 1, loc=mean, scale=scipy_stats.sem(array))
    return {"mean": mean, "ci": [float(low), float(high)], "n": len(array)}


def _kind_error(campaign, flag: str, kind: str) -> TunewiseError:
    return TunewiseError(f"{flag}: campaign '{campaign.name}' is a {campaign.kind} campaign, not {kind}")
