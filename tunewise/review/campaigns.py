"""Campaigns, reviewers and votes: every rule of the review app that is not HTTP.

Plain functions over a SQLAlchemy session; the caller commits. A reviewer belongs to one campaign, gets each
item at most once (a unique constraint, not only a query), and an item goes to ``per_item`` reviewers.
"""

from __future__ import annotations

import random
import secrets
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tunewise.errors import TunewiseError
from tunewise.review.db import Assignment, Campaign, Item, Reviewer, Vote, now
from tunewise.review.items import KINDS, NONE_OF_THESE, UNCLEAR

STALE_MINUTES = 60  # an item handed out and not answered in this time goes back to the pool
CHOICES = {"A": "a", "B": "b", "tie": "tie", "both_bad": "both_bad"}
SLOT_NAMES = "ABCDEFGHIJ"
OTHER_LABEL = "__other__"  # the "use this label" button: the label is in the search box
SCALE = (1, 2, 3, 4, 5)
DEFAULT_CRITERIA = [
    {
        "name": "relevance",
        "question": "Does the response answer what was asked?",
        "anchors": ["Off-topic", "Mostly beside the point", "Partly answers", "Answers it", "Answers it fully"],
    },
    {
        "name": "coherence",
        "question": "Is it clear, consistent and well organised?",
        "anchors": ["Incoherent", "Hard to follow", "Understandable", "Clear", "Clear and well organised"],
    },
    {
        "name": "tone",
        "question": "Is the tone right for the audience?",
        "anchors": ["Offensive or wrong", "Inappropriate", "Acceptable", "Appropriate", "Exactly right"],
    },
    {
        "name": "persuasiveness",
        "question": "Would it convince the reader?",
        "anchors": ["Not at all", "Barely", "Somewhat", "Convincing", "Very convincing"],
    },
]


class Refused(TunewiseError):
    """A request the rules turn down; ``status`` is the HTTP status the app answers with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def create_campaign(
    db: Session,
    name: str,
    kind: str,
    items: list[dict],
    per_item: int = 2,
    rubric: list[dict] | None = None,
    source: str = "",
) -> Campaign:
    """A new campaign with its items; an existing name or bad settings are refused before anything is stored."""
    if kind not in KINDS:
        raise TunewiseError(f"unknown campaign kind '{kind}' (one of: {', '.join(KINDS)})")
    if not name.strip() or len(name) > 200:
        raise TunewiseError("a campaign name must be 1 to 200 characters")
    if per_item < 1:
        raise TunewiseError(f"--per-item must be at least 1, got {per_item}")
    if db.scalar(select(Campaign).where(Campaign.name == name)) is not None:
        raise TunewiseError(f"campaign '{name}' already exists (pick another name)")
    rubric = check_rubric(rubric or DEFAULT_CRITERIA) if kind == "rating" else []
    campaign = Campaign(name=name, kind=kind, per_item=per_item, rubric=rubric, source=source)
    db.add(campaign)
    db.flush()
    db.add_all(
        Item(campaign_id=campaign.id, key=item["id"], position=position, payload=item, reviewers=0)
        for position, item in enumerate(items)
    )
    db.flush()
    return campaign


def check_rubric(rubric: list) -> list[dict]:
    """A rubric is a list of criteria, each with a name, a question and five anchors (what 1 ... 5 mean)."""
    if not isinstance(rubric, list) or not rubric:
        raise TunewiseError("rubric: must be a non-empty list of criteria")
    names = set()
    for number, criterion in enumerate(rubric, 1):
        where = f"rubric: criterion {number}"
        if not isinstance(criterion, dict) or set(criterion) != {"name", "question", "anchors"}:
            raise TunewiseError(f"{where}: needs exactly the fields name, question, anchors")
        anchors = criterion["anchors"]
        if not isinstance(anchors, list) or len(anchors) != len(SCALE) or not all(isinstance(a, str) for a in anchors):
            raise TunewiseError(f"{where}: field 'anchors' must list {len(SCALE)} descriptions, for 1 to 5")
        if not isinstance(criterion["name"], str) or not criterion["name"].isidentifier():
            raise TunewiseError(f"{where}: field 'name' must be a plain word (letters, digits, _)")
        if criterion["name"] in names:
            raise TunewiseError(f"{where}: field 'name' repeats '{criterion['name']}'")
        names.add(criterion["name"])
    return rubric


def campaign_named(db: Session, name: str) -> Campaign:
    campaign = db.scalar(select(Campaign).where(Campaign.name == name))
    if campaign is None:
        known = db.scalars(select(Campaign.name).order_by(Campaign.name)).all()
        raise TunewiseError(f"unknown campaign '{name}' (known: {', '.join(known) or 'none yet'})")
    return campaign


def next_assignment(db: Session, reviewer: Reviewer) -> Assignment | None:
    """The reviewer's open assignment, else a new one: an item they have not had that still has fewer than
    ``per_item`` reviewers, fewest first. None when nothing is left for them."""
    open_one = db.scalar(
        select(Assignment).where(Assignment.reviewer_id == reviewer.id, Assignment.done.is_(False)).limit(1)
    )
    if open_one is not None:
        return open_one
    # the campaign row is locked (PostgreSQL; SQLite's write transaction already is) so two reviewers cannot
    # both take an item's last place
    campaign = db.scalar(select(Campaign).where(Campaign.id == reviewer.campaign_id).with_for_update())
    release(db, Assignment.campaign_id == campaign.id, Assignment.created_at < now() - timedelta(minutes=STALE_MINUTES))
    item = db.scalar(_open_to(reviewer, campaign, select(Item)).order_by(Item.reviewers, Item.position).limit(1))
    if item is None:
        return None
    order = list(item.payload.get("outputs", item.payload.get("choices", [])))
    # left/right (or a label item's suggested classes) drawn for this reviewer and item, kept with the assignment
    random.SystemRandom().shuffle(order)
    assignment = Assignment(
        public_id=secrets.token_hex(12),
        campaign_id=campaign.id,
        item_id=item.id,
        reviewer_id=reviewer.id,
        order=order,
    )
    item.reviewers += 1
    db.add(assignment)
    try:
        db.flush()
    except IntegrityError:  # the same reviewer in two tabs took this item a moment ago
        db.rollback()
        raise Refused("this item was just handed out in another window: reload", 409) from None
    return assignment


def submit(db: Session, reviewer: Reviewer, public_id: str, answer: dict, comment: str = "") -> tuple[Vote, bool]:
    """Store the reviewer's answer to an assignment of theirs. A repeated submit returns the stored vote and
    False (nothing new is written), so a retried request never counts twice."""
    assignment = db.scalar(select(Assignment).where(Assignment.public_id == str(public_id)))
    if assignment is None or assignment.reviewer_id != reviewer.id:
        raise Refused(f"no such item for you (unanswered items go back to the pool after {STALE_MINUTES} minutes)", 404)
    campaign = db.get(Campaign, assignment.campaign_id)
    item = db.get(Item, assignment.item_id)
    checked = _checked_answer(campaign, item, assignment, answer)
    existing = db.scalar(select(Vote).where(Vote.assignment_id == assignment.id))
    if existing is not None:
        return _same_answer(existing, checked), False
    if not isinstance(comment, str) or len(comment) > 5000:
        raise Refused("a comment is text of at most 5000 characters")
    vote = Vote(
        assignment_id=assignment.id,
        campaign_id=campaign.id,
        item_id=item.id,
        reviewer_id=reviewer.id,
        answer=checked,
        comment=comment.strip(),
        seconds=max(0.0, (now() - assignment.created_at).total_seconds()),
    )
    try:
        with db.begin_nested():  # a savepoint: a concurrent submit of the same assignment may have won
            assignment.done = True
            db.add(vote)
    except IntegrityError:
        return _same_answer(db.scalar(select(Vote).where(Vote.assignment_id == assignment.id)), checked), False
    return vote, True


def _same_answer(stored: Vote, answer: dict) -> Vote:
    """A repeated submit is the same vote sent twice (a retry) only if it says the same thing."""
    if stored.answer != answer:
        raise Refused("this item already has your vote, with another answer: a vote is final once stored", 409)
    return stored


def view_of(campaign: Campaign, item: Item, assignment: Assignment) -> dict:
    """What a reviewer sees of an item: responses by slot in the drawn order, never by system (the rule that
    keeps the systems blind)."""
    payload = item.payload
    if campaign.kind == "relabel":
        return {key: payload[key] for key in ("text", "label", "suggested_label", "labels")} | {"other": OTHER_LABEL}
    if campaign.kind == "label":  # the suggested classes in this reviewer's order; where they came from stays out
        return {
            "text": payload["text"],
            "choices": list(assignment.order),
            "labels": payload["labels"],
            "other": OTHER_LABEL,
            "none": NONE_OF_THESE,
            "unclear": UNCLEAR,
        }
    names = SLOT_NAMES if campaign.kind == "pairwise" else [str(n) for n in range(1, len(assignment.order) + 1)]
    responses = [
        {"slot": slot, "name": names[slot - 1], "text": payload["outputs"][system]}
        for slot, system in enumerate(assignment.order, 1)
    ]
    return {"prompt": payload["prompt"], "responses": responses}


def progress(db: Session, reviewer: Reviewer) -> dict:
    """How many items the reviewer has done and how many are still open to them (others may take some)."""
    campaign = db.get(Campaign, reviewer.campaign_id)
    done = db.scalar(select(func.count()).where(Vote.reviewer_id == reviewer.id)) or 0
    left = db.scalar(_open_to(reviewer, campaign, select(func.count()).select_from(Item)))
    open_now = db.scalar(select(func.count()).where(Assignment.reviewer_id == reviewer.id, Assignment.done.is_(False)))
    return {"done": done, "left": (left or 0) + (open_now or 0)}


def _open_to(reviewer: Reviewer, campaign: Campaign, query):
    """``query`` narrowed to the items the reviewer may still get: fewer than K reviewers, not had before."""
    had = select(Assignment.item_id).where(Assignment.reviewer_id == reviewer.id)
    return query.where(Item.campaign_id == campaign.id, Item.reviewers < campaign.per_item, Item.id.not_in(had))


def release(db: Session, *conditions) -> int:
    """Hand unanswered assignments matching ``conditions`` back: their items can go to someone else."""
    stale = db.scalars(select(Assignment).where(Assignment.done.is_(False), *conditions)).all()
    for assignment in stale:
        db.get(Item, assignment.item_id).reviewers -= 1
        db.delete(assignment)
    db.flush()
    return len(stale)


def _checked_answer(campaign: Campaign, item: Item, assignment: Assignment, answer: dict) -> dict:
    if not isinstance(answer, dict):
        raise Refused("the answer must be an object")
    if campaign.kind == "pairwise":
        choice = answer.get("choice")
        if not isinstance(choice, str) or choice not in CHOICES:
            raise Refused(f"choice must be one of {', '.join(CHOICES)}")
        return {"choice": choice, "systems": assignment.order, "outcome": CHOICES[choice]}
    if campaign.kind == "rating":
        return {"scores": _checked_scores(campaign, assignment, answer.get("scores"))}
    label = answer.get("label")
    allowed = (NONE_OF_THESE, UNCLEAR) if campaign.kind == "label" else ()
    if not isinstance(label, str) or (label not in item.payload["labels"] and label not in allowed):
        raise Refused(
            "label must be one of the campaign's labels" + (" (or none of these, or unclear)" if allowed else "")
        )
    return {"label": label, "accepted_suggestion": label == item.payload["suggested_label"]}


def _checked_scores(campaign: Campaign, assignment: Assignment, scores) -> dict:
    """Scores arrive per displayed response (1, 2, ...) and are stored per system."""
    criteria = [criterion["name"] for criterion in campaign.rubric]
    if not isinstance(scores, dict):
        raise Refused("scores must map each response to its criteria")
    found = {}
    for slot, system in enumerate(assignment.order, 1):
        given = scores.get(str(slot))
        if not isinstance(given, dict):
            raise Refused(f"response {slot}: no scores")
        found[system] = {}
        for criterion in criteria:
            value = given.get(criterion)
            try:
                value = None if isinstance(value, (bool, float)) else int(value)
            except (TypeError, ValueError):
                value = None
            if value not in SCALE:
                raise Refused(f"response {slot}: {criterion} needs a score from 1 to 5")
            found[system][criterion] = value
    return found


def overview(db: Session) -> list[dict]:
    """Every campaign with its counts of items, reviewers and votes."""

    def count(table, campaign: Campaign) -> int:
        return db.scalar(select(func.count()).where(table.campaign_id == campaign.id))

    return [
        {
            "campaign": campaign.name,
            "kind": campaign.kind,
            "items": count(Item, campaign),
            "per_item": campaign.per_item,
            "reviewers": count(Reviewer, campaign),
            "votes": count(Vote, campaign),
        }
        for campaign in db.scalars(select(Campaign).order_by(Campaign.name)).all()
    ]
