"""The review database: tables (SQLAlchemy), the engine for a URL, and the schema brought up to date by Alembic.

SQLite is the default (one file, write-ahead log, every write transaction taken at once so concurrent reviewers
queue instead of failing); PostgreSQL is used by giving a ``postgresql://`` URL.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from tunewise.errors import TunewiseError

DEFAULT_URL = "sqlite:///review.db"
MIGRATIONS = Path(__file__).parent / "migrations"


def now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)  # stored naive, always UTC


class Base(DeclarativeBase):
    type_annotation_map = {dict: JSON, list: JSON}


class Campaign(Base):
    __tablename__ = "campaigns"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    per_item: Mapped[int] = mapped_column(Integer)
    rubric: Mapped[list] = mapped_column(JSON, default=list)
    source: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)


class Item(Base):
    __tablename__ = "items"
    __table_args__ = (
        UniqueConstraint("campaign_id", "key"),
        Index("ix_items_next", "campaign_id", "reviewers", "position"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    key: Mapped[str] = mapped_column(String(200))  # the item's own id from the items file: never shown
    position: Mapped[int] = mapped_column(Integer)
    payload: Mapped[dict] = mapped_column(JSON)
    reviewers: Mapped[int] = mapped_column(Integer, default=0)  # assignments so far: finding the next item is a
    # walk down the (campaign, reviewers, position) index, not a count over every assignment


class Reviewer(Base):
    __tablename__ = "reviewers"
    __table_args__ = (UniqueConstraint("campaign_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)


class Token(Base):
    """A login token: only its SHA-256 is stored."""

    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("reviewers.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class WebSession(Base):
    """A logged-in browser: the cookie's SHA-256 and the CSRF token its forms must carry."""

    __tablename__ = "sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("reviewers.id"), index=True)
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(DateTime)


class Assignment(Base):
    """One item handed to one reviewer (never twice: the unique constraint), with the display order of its
    outputs drawn for this reviewer; ``public_id`` is the only handle pages and URLs carry."""

    __tablename__ = "assignments"
    __table_args__ = (
        UniqueConstraint("reviewer_id", "item_id"),
        Index("ix_assignments_open", "campaign_id", "done", "created_at"),  # the stale ones, on every next item
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("reviewers.id"), index=True)
    order: Mapped[list] = mapped_column(JSON)  # system names as displayed (pairwise: left, right)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)
    done: Mapped[bool] = mapped_column(Boolean, default=False)


class Vote(Base):
    """A reviewer's answer to one assignment: at most one (a repeated submit finds this row)."""

    __tablename__ = "votes"
    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"), unique=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("reviewers.id"), index=True)
    answer: Mapped[dict] = mapped_column(JSON)  # pairwise {choice, outcome}; rating {scores}; relabel {label}
    comment: Mapped[str] = mapped_column(Text, default="")
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=now)


def database_url(url: str | None) -> str:
    """``--db`` as given, a plain file path taken as SQLite; TUNEWISE_REVIEW_DB, then ./review.db when absent."""
    url = url or os.environ.get("TUNEWISE_REVIEW_DB") or DEFAULT_URL
    if "://" not in url:
        url = f"sqlite:///{Path(url).expanduser()}"
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise TunewiseError(f"--db: '{url}' is not a database URL (sqlite:///FILE or postgresql://...)") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif not parsed.drivername.startswith(("sqlite", "postgresql")):
        raise TunewiseError(f"--db: unsupported database '{parsed.drivername}' (use sqlite or postgresql)")
    return parsed.render_as_string(hide_password=False)


def sqlite_file(url: str | None) -> Path | None:
    """The database file behind ``url`` (as ``--db`` takes it) when it is SQLite on disk; None otherwise."""
    found = database_url(url)
    database = make_url(found).database if found.startswith("sqlite") else None
    return Path(database) if database and database != ":memory:" else None


def connect(url: str | None = None, migrate: bool = True, create: bool = True) -> Engine:
    """An engine for ``url`` with the schema at the latest migration. With ``create`` false, a SQLite file that
    does not exist is an error (reading a mistyped path must not create an empty database there)."""
    url = database_url(url)
    database = sqlite_file(url)
    if not create and database and not database.is_file():
        raise TunewiseError(f"--db: no review database at {database} (`tunewise review create` makes one)")
    if url.startswith("sqlite"):
        engine = _sqlite_engine(url)
    else:
        # pre-ping: a connection the server dropped (restart, idle timeout) is replaced, not handed to a vote
        engine = create_engine(url, pool_size=4, max_overflow=0, pool_recycle=3600, pool_pre_ping=True)
    if migrate:
        upgrade(engine)
    return engine


def sessions(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)


def upgrade(engine: Engine) -> None:
    """Bring the schema to Alembic's head (creates it in an empty database)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except Exception as exc:  # an unreachable server or a file we cannot open: one line, not a traceback
        if isinstance(exc, TunewiseError):
            raise
        raise TunewiseError(
            f"--db {engine.url.render_as_string()}: cannot open the review database ({_first_line(exc)})"
        ) from None


def _sqlite_engine(url: str) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    # the app uses one database thread for SQLite (see review/deps.py); other processes wait on the lock up to 30 s
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(connection, _record):
        connection.isolation_level = None  # let the "begin" hook below open transactions itself
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")  # an acknowledged vote is on disk
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _immediate(connection):
        # take the write lock at the start: a deferred transaction that reads and then writes can fail with
        # SQLITE_BUSY when another writer committed in between, which no timeout retries
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _first_line(exc: Exception) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextmanager
def transaction(url: str | None, create: bool = True) -> Iterator[Session]:
    """A session on the database at ``url`` that commits when the block ends without an error; with ``create``
    false, a SQLite file that does not exist is an error instead of a new empty database."""
    engine = connect(url, create=create)
    db = sessions(engine)()
    try:
        yield db
        db.commit()
    except SQLAlchemyError as exc:  # e.g. a name another `create` took a moment ago, a value PostgreSQL refuses
        raise TunewiseError(f"--db {engine.url.render_as_string()}: {_first_line(exc)}") from None
    finally:
        db.close()
        engine.dispose()
