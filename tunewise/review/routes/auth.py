"""Logging in with an invite link, logging out."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from tunewise.review.campaigns import login
from tunewise.review.deps import COOKIE, DB, Reviewing, check_csrf

router = APIRouter()


@router.get("/login")
def login_with_token(request: Request, db: DB, token: str = ""):
    secret, session = login(db, token)
    db.commit()
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        COOKIE,
        secret,
        max_age=_seconds_left(session),
        httponly=True,
        samesite="lax",  # sent when the invite link is opened from a mail or chat; forms also carry a CSRF token
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout")
def logout(visitor: Reviewing, db: DB, csrf: str = Form("")):
    check_csrf(visitor, csrf)
    db.delete(db.merge(visitor.session))
    db.commit()
    response = RedirectResponse("/logged-out", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def _seconds_left(session) -> int:
    from tunewise.review.db import now

    return max(0, int((session.expires_at - now()).total_seconds()))
