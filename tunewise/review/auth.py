"""Reviewers' access: invite links (hashed, expiring, revocable tokens), login into a web session, and the
session behind a cookie. Only hashes of tokens and session secrets are stored."""

from __future__ import annotations

import hashlib
import math
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tunewise.errors import TunewiseError
from tunewise.review.campaigns import Refused, campaign_named, release
from tunewise.review.db import Assignment, Reviewer, Token, WebSession, now

TOKEN_DAYS = 14
SESSION_HOURS = 12


def digest(secret: str) -> str:
    """Tokens are 256 random bits, so one SHA-256 is enough to store them safely (no password stretching)."""
    return hashlib.sha256(secret.encode()).hexdigest()


MAX_DAYS = 3650


def invite(db: Session, name: str, reviewer: str, admin: bool = False, days: float = TOKEN_DAYS) -> str:
    """A login token for ``reviewer`` (created on first invite); only its hash is stored."""
    campaign = campaign_named(db, name)
    if not reviewer.strip() or len(reviewer) > 200:
        raise TunewiseError("--reviewer must be 1 to 200 characters")
    if not math.isfinite(days) or not 0 < days <= MAX_DAYS:
        raise TunewiseError(f"--days must be more than 0 and at most {MAX_DAYS} (ten years), got {days:g}")
    person = db.scalar(select(Reviewer).where(Reviewer.campaign_id == campaign.id, Reviewer.name == reviewer))
    if person is None:
        person = Reviewer(campaign_id=campaign.id, name=reviewer, is_admin=admin)
        db.add(person)
        db.flush()
    person.is_admin = person.is_admin or admin
    token = secrets.token_urlsafe(32)
    db.add(Token(reviewer_id=person.id, token_hash=digest(token), expires_at=now() + timedelta(days=days)))
    db.flush()
    return token


def revoke(db: Session, name: str, reviewer: str) -> int:
    """Revoke every token of ``reviewer`` and end their sessions; returns how many tokens were live."""
    campaign = campaign_named(db, name)
    person = db.scalar(select(Reviewer).where(Reviewer.campaign_id == campaign.id, Reviewer.name == reviewer))
    if person is None:
        raise TunewiseError(f"campaign '{name}' has no reviewer '{reviewer}'")
    live = db.scalars(select(Token).where(Token.reviewer_id == person.id, Token.revoked.is_(False))).all()
    for token in live:
        token.revoked = True
    for session in db.scalars(select(WebSession).where(WebSession.reviewer_id == person.id)).all():
        db.delete(session)
    release(db, Assignment.reviewer_id == person.id)
    return len(live)


def login(db: Session, token: str) -> tuple[str, WebSession]:
    """Exchange a live login token for a new web session; returns the cookie's secret and the session."""
    found = db.scalar(select(Token).where(Token.token_hash == digest(token or "")))
    if found is None or found.revoked:
        raise Refused("this invite link is not valid (revoked or mistyped): ask for a new one", 403)
    if found.expires_at <= now():
        raise Refused("this invite link has expired: ask for a new one", 403)
    secret = secrets.token_urlsafe(32)
    session = WebSession(
        reviewer_id=found.reviewer_id,
        session_hash=digest(secret),
        csrf=secrets.token_urlsafe(24),
        expires_at=min(found.expires_at, now() + timedelta(hours=SESSION_HOURS)),
    )
    db.add(session)
    db.flush()
    return secret, session


def session_of(db: Session, secret: str | None) -> tuple[Reviewer, WebSession] | None:
    """The reviewer behind a session cookie, or None when it is unknown or expired."""
    if not secret:
        return None
    session = db.scalar(select(WebSession).where(WebSession.session_hash == digest(secret)))
    if session is None or session.expires_at <= now():
        return None
    return db.get(Reviewer, session.reviewer_id), session
