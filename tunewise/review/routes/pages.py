"""The reviewer's pages: home with progress, one item at a time, the vote form. Responses are shown as A/B or
1, 2, ... in the order drawn for this reviewer; nothing on a page names a system."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from tunewise.review.campaigns import OTHER_LABEL, next_assignment, progress, submit, view_of
from tunewise.review.db import Assignment, Campaign, Item
from tunewise.review.deps import check_csrf, in_db
from tunewise.review.web import templates

router = APIRouter()


@router.get("/")
async def home(request: Request):
    def work(db, visitor):
        return {
            "reviewer": visitor.reviewer.name,
            "kind": db.get(Campaign, visitor.reviewer.campaign_id).kind,
            "progress": progress(db, visitor.reviewer),
            "is_admin": visitor.reviewer.is_admin,
            "csrf": visitor.session.csrf,
        }

    return templates.TemplateResponse(request, "home.html", await in_db(request, work))


@router.get("/review")
async def review(request: Request):
    def work(db, visitor):
        assignment = next_assignment(db, visitor.reviewer)
        db.commit()
        context = {"progress": progress(db, visitor.reviewer), "csrf": visitor.session.csrf}
        if assignment is None:
            return "done.html", context
        campaign = db.get(Campaign, assignment.campaign_id)
        context |= {"kind": campaign.kind, "assignment": assignment.public_id, "rubric": campaign.rubric}
        return f"{campaign.kind}.html", context | view_of(campaign, db.get(Item, assignment.item_id), assignment)

    page, context = await in_db(request, work)
    return templates.TemplateResponse(request, page, context)


@router.post("/review/{public_id}")
async def vote(public_id: str, request: Request):
    form = await request.form()

    def work(db, visitor):
        check_csrf(visitor, form.get("csrf"))
        campaign = db.get(Campaign, visitor.reviewer.campaign_id)
        assignment = db.query(Assignment).filter_by(public_id=public_id).one_or_none()
        slots = len(assignment.order) if assignment is not None else 0
        answer = answer_from_form(campaign.kind, form, campaign.rubric, slots)
        submit(db, visitor.reviewer, public_id, answer, str(form.get("comment") or ""))  # refuses others' items
        db.commit()

    await in_db(request, work)
    return RedirectResponse("/review", status_code=303)


@router.get("/logged-out")
async def logged_out(request: Request):
    return templates.TemplateResponse(request, "error.html", {"message": "You are logged out.", "status": 200})


def answer_from_form(kind: str, form, rubric: list[dict], slots: int) -> dict:
    if kind == "pairwise":
        return {"choice": form.get("choice")}
    if kind in ("relabel", "label"):
        label = form.get("label")
        return {"label": (form.get("other_label") or "").strip() if label == OTHER_LABEL else label}
    return {
        "scores": {
            str(slot): {c["name"]: form.get(f"score-{slot}-{c['name']}") for c in rubric}
            for slot in range(1, slots + 1)
        }
    }
