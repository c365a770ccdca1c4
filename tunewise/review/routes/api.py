"""The JSON API the load test (and any script) uses: next item, vote, progress. Writes need the session's
CSRF token in the X-CSRF-Token header."""

from __future__ import annotations

from fastapi import APIRouter, Header, Request

from tunewise.review.campaigns import next_assignment, progress, submit, view_of
from tunewise.review.db import Campaign, Item
from tunewise.review.deps import check_csrf, in_db
from tunewise.review.schemas import AssignmentOut, ProgressOut, SessionOut, VoteIn, VoteOut

router = APIRouter(prefix="/api")


@router.get("/next", response_model=AssignmentOut | None)
async def next_item(request: Request):
    def work(db, visitor):
        assignment = next_assignment(db, visitor.reviewer)
        db.commit()
        if assignment is None:
            return None
        campaign = db.get(Campaign, assignment.campaign_id)
        view = view_of(campaign, db.get(Item, assignment.item_id), assignment)
        return AssignmentOut(assignment=assignment.public_id, kind=campaign.kind, rubric=campaign.rubric, **view)

    return await in_db(request, work)


@router.post("/votes", response_model=VoteOut)
async def vote(body: VoteIn, request: Request, x_csrf_token: str | None = Header(default=None)):
    def work(db, visitor):
        check_csrf(visitor, x_csrf_token)
        stored, created = submit(db, visitor.reviewer, body.assignment, body.answer, body.comment)
        db.commit()  # acknowledged only once it is on disk
        return VoteOut(vote=stored.id, repeated=not created)

    return await in_db(request, work)


@router.get("/progress", response_model=ProgressOut)
async def my_progress(request: Request):
    return await in_db(request, lambda db, visitor: ProgressOut(**progress(db, visitor.reviewer)))


@router.get("/session", response_model=SessionOut)
async def session_token(request: Request):
    """The CSRF token for scripts that logged in through /login (pages carry it in their forms)."""
    return await in_db(
        request, lambda db, visitor: SessionOut(csrf=visitor.session.csrf, reviewer=visitor.reviewer.name)
    )
