"""Logging in with an invite link, logging out."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from tunewise.review.auth import login
from tunewise.review.db import now
from tunewise.review.deps import COOKIE, check_csrf, in_db

router = APIRouter()


@router.get("/login")
async def login_with_token(request: Request, token: str = ""):
    def work(db):
        secret, session = login(db, token)
        db.commit()
        return secret, max(0, int((session.expires_at - now()).total_seconds()))

    secret, seconds = await in_db(request, work, visitor=None)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        COOKIE,
        secret,
        max_age=seconds,
        httponly=True,
        samesite="lax",  # sent when the invite link is opened from a mail or chat; forms also carry a CSRF token
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout")
async def logout(request: Request):
    form = await request.form()

    def work(db, visitor):
        check_csrf(visitor, form.get("csrf"))
        db.delete(visitor.session)
        db.commit()

    await in_db(request, work)
    response = RedirectResponse("/logged-out", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response
