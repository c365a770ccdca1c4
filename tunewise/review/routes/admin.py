"""Results, for the campaign's admins only."""

from __future__ import annotations

from fastapi import APIRouter, Request

from tunewise.review.app import templates
from tunewise.review.db import Campaign
from tunewise.review.deps import DB, Admin
from tunewise.review.results import results

router = APIRouter(prefix="/admin")


@router.get("")
def results_page(request: Request, visitor: Admin, db: DB):
    campaign = db.get(Campaign, visitor.reviewer.campaign_id)
    return templates.TemplateResponse(request, "results.html", {"results": results(db, campaign.name)})


@router.get("/results.json")
def results_json(visitor: Admin, db: DB):
    return results(db, db.get(Campaign, visitor.reviewer.campaign_id).name)
