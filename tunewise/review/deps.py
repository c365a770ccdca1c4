"""What routes depend on: database work, the logged-in reviewer, the admin role, the CSRF check.

All of a request's database work is one function, run by `in_db` on the app's database executor with a session
opened and closed around it. No session outlives that call, so none is held while a response is written or
while the event loop waits, and requests queue for the database in arrival order (one thread for SQLite, whose
writes are one at a time anyway: a busy SQLite polled by many threads gave a p95 of 440 ms under 20 reviewers).
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from fastapi import Request
from sqlalchemy.orm import Session

from tunewise.review.auth import session_of
from tunewise.review.campaigns import Refused
from tunewise.review.db import Reviewer, WebSession

COOKIE = "tunewise_review"
T = TypeVar("T")


@dataclass
class Visitor:
    reviewer: Reviewer
    session: WebSession


class NotLoggedIn(Exception):
    pass


async def in_db(request: Request, work: Callable[..., T], visitor: str | None = "reviewer") -> T:
    """``work(db, visitor)`` on the database executor; ``visitor`` "reviewer" needs a login, "admin" the admin
    role, None calls ``work(db)`` for pages open to anyone. Work commits what it wants kept before it returns."""
    secret = request.cookies.get(COOKIE)

    def run() -> T:
        db: Session = request.app.state.sessions()
        try:
            if visitor is None:
                return work(db)
            return work(db, _visitor(db, secret, admin=visitor == "admin"))
        finally:
            db.rollback()
            db.close()

    return await asyncio.get_running_loop().run_in_executor(request.app.state.db_executor, run)


def _visitor(db: Session, secret: str | None, admin: bool) -> Visitor:
    found = session_of(db, secret)
    if found is None:
        raise NotLoggedIn()
    if admin and not found[0].is_admin:
        raise Refused("this page is for the campaign's admins", 403)
    return Visitor(*found)


def check_csrf(visitor: Visitor, token: str | None) -> None:
    if not token or not hmac.compare_digest(str(token), visitor.session.csrf):
        raise Refused("the form's security token is missing or stale: reload the page and try again", 403)
