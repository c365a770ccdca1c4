"""The JSON API the load test (and any script) uses: next item, vote, progress. Writes need the session's
CSRF token in the X-CSRF-Token header."""

from __future__ import annotations

from fastapi import APIRouter, Header

from tunewise.review.campaigns import next_assignment, progress, submit
from tunewise.review.db import Campaign, Item
from tunewise.review.deps import DB, Reviewing, check_csrf
from tunewise.review.routes.pages import view_of
from tunewise.review.schemas import AssignmentOut, ProgressOut, VoteIn, VoteOut

router = APIRouter(prefix="/api")


@router.get("/next", response_model=AssignmentOut | None)
def next_item(visitor: Reviewing, db: DB):
    assignment = next_assignment(db, visitor.reviewer)
    db.commit()
    if assignment is None:
        return None
    campaign = db.get(Campaign, assignment.campaign_id)
    view = view_of(campaign, db.get(Item, assignment.item_id), assignment)
    return AssignmentOut(assignment=assignment.public_id, kind=campaign.kind, rubric=campaign.rubric, **view)


@router.post("/votes", response_model=VoteOut)
def vote(body: VoteIn, visitor: Reviewing, db: DB, x_csrf_token: str | None = Header(default=None)):
    check_csrf(visitor, x_csrf_token)
    stored, created = submit(db, visitor.reviewer, body.assignment, body.answer, body.comment)
    db.commit()
    return VoteOut(vote=stored.id, repeated=not created)


@router.get("/progress", response_model=ProgressOut)
def my_progress(visitor: Reviewing, db: DB):
    return ProgressOut(**progress(db, visitor.reviewer))


@router.get("/session")
def session_token(visitor: Reviewing):
    """The CSRF token for scripts that logged in through /login (pages carry it in their forms)."""
    return {"csrf": visitor.session.csrf, "reviewer": visitor.reviewer.name}
