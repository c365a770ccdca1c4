"""The reviewer's pages: home with progress, one item at a time, the vote form. Responses are shown as A/B or
1, 2, ... in the order drawn for this reviewer; nothing on a page names a system."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from tunewise.review.app import templates
from tunewise.review.campaigns import Refused, next_assignment, progress, submit
from tunewise.review.db import Assignment, Campaign, Item
from tunewise.review.deps import DB, Reviewing, check_csrf

router = APIRouter()
SLOT_NAMES = "ABCDEFGHIJ"


@router.get("/")
def home(request: Request, visitor: Reviewing, db: DB):
    campaign = db.get(Campaign, visitor.reviewer.campaign_id)
    context = {
        "reviewer": visitor.reviewer.name,
        "kind": campaign.kind,
        "progress": progress(db, visitor.reviewer),
        "is_admin": visitor.reviewer.is_admin,
        "csrf": visitor.session.csrf,
    }
    return templates.TemplateResponse(request, "home.html", context)


@router.get("/review")
def review(request: Request, visitor: Reviewing, db: DB):
    assignment = next_assignment(db, visitor.reviewer)
    db.commit()
    counts = progress(db, visitor.reviewer)
    if assignment is None:
        return templates.TemplateResponse(request, "done.html", {"progress": counts, "csrf": visitor.session.csrf})
    campaign = db.get(Campaign, assignment.campaign_id)
    context = {
        "kind": campaign.kind,
        "assignment": assignment.public_id,
        "progress": counts,
        "csrf": visitor.session.csrf,
        "rubric": campaign.rubric,
        **view_of(campaign, db.get(Item, assignment.item_id), assignment),
    }
    return templates.TemplateResponse(request, f"{campaign.kind}.html", context)


@router.post("/review/{assignment}")
async def vote(assignment: str, request: Request, visitor: Reviewing, db: DB):
    form = await request.form()
    check_csrf(visitor, form.get("csrf"))
    await run_in_threadpool(_store, db, visitor, assignment, form)
    return RedirectResponse("/review", status_code=303)


@router.get("/logged-out")
def logged_out(request: Request):
    return templates.TemplateResponse(request, "error.html", {"message": "You are logged out.", "status": 200})


def view_of(campaign: Campaign, item: Item, assignment) -> dict:
    """What a reviewer sees of an item: responses by slot in the drawn order, never by system."""
    payload = item.payload
    if campaign.kind == "relabel":
        keys = ("text", "label", "suggested_label", "labels")
        return {key: payload[key] for key in keys}
    names = SLOT_NAMES if campaign.kind == "pairwise" else [str(n) for n in range(1, len(assignment.order) + 1)]
    responses = [
        {"slot": slot, "name": names[slot - 1], "text": payload["outputs"][system]}
        for slot, system in enumerate(assignment.order, 1)
    ]
    return {"prompt": payload["prompt"], "responses": responses}


def answer_from_form(kind: str, form, rubric: list[dict], slots: int) -> dict:
    if kind == "pairwise":
        return {"choice": form.get("choice")}
    if kind == "relabel":
        return {"label": form.get("label")}
    return {
        "scores": {
            str(slot): {c["name"]: form.get(f"score-{slot}-{c['name']}") for c in rubric}
            for slot in range(1, slots + 1)
        }
    }


def _store(db, visitor, public_id: str, form) -> None:
    campaign = db.get(Campaign, visitor.reviewer.campaign_id)
    assignment = db.scalar(select(Assignment).where(Assignment.public_id == public_id))
    if assignment is None:
        raise Refused("no such item for you", 404)
    answer = answer_from_form(campaign.kind, form, campaign.rubric, len(assignment.order))
    submit(db, visitor.reviewer, public_id, answer, str(form.get("comment") or ""))
    db.commit()
