"""Results, for the campaign's admins only."""

from __future__ import annotations

from fastapi import APIRouter, Request

from tunewise.review.db import Campaign
from tunewise.review.deps import in_db
from tunewise.review.results import results
from tunewise.review.web import templates

router = APIRouter(prefix="/admin")


def _results(db, visitor) -> dict:
    return results(db, db.get(Campaign, visitor.reviewer.campaign_id).name)


@router.get("")
async def results_page(request: Request):
    found = await in_db(request, _results, visitor="admin")
    return templates.TemplateResponse(request, "results.html", {"results": found})


@router.get("/results.json")
async def results_json(request: Request):
    return await in_db(request, _results, visitor="admin")
