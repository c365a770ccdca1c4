"""What routes depend on: a database session, the logged-in reviewer, the admin role, the CSRF check."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from tunewise.review.campaigns import Refused, session_of
from tunewise.review.db import Reviewer, WebSession

COOKIE = "tunewise_review"


def get_db(request: Request) -> Iterator[Session]:
    """One session per request; routes commit before they answer, so an answer means it is stored."""
    db = request.app.state.sessions()
    try:
        yield db
    finally:
        db.rollback()
        db.close()


DB = Annotated[Session, Depends(get_db)]


@dataclass
class Visitor:
    reviewer: Reviewer
    session: WebSession


class NotLoggedIn(Exception):
    pass


def current_visitor(request: Request, db: DB) -> Visitor:
    found = session_of(db, request.cookies.get(COOKIE))
    if found is None:
        raise NotLoggedIn()
    return Visitor(*found)


def admin_visitor(visitor: Annotated[Visitor, Depends(current_visitor)]) -> Visitor:
    if not visitor.reviewer.is_admin:
        raise Refused("this page is for the campaign's admins", 403)
    return visitor


def check_csrf(visitor: Visitor, token: str | None) -> None:
    if not token or not hmac.compare_digest(token, visitor.session.csrf):
        raise Refused("the form's security token is missing or stale: reload the page and try again", 403)


Reviewing = Annotated[Visitor, Depends(current_visitor)]
Admin = Annotated[Visitor, Depends(admin_visitor)]
