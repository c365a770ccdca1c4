"""The review app: `create_app(db_url)` joins the routers, the static files, the security headers and the error
pages (templates and error rendering live in web.py, so routes never import the app)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles

from tunewise._http import BodyLimit
from tunewise.review.campaigns import Refused
from tunewise.review.db import connect, sessions
from tunewise.review.deps import NotLoggedIn
from tunewise.review.routes import admin, api, auth, pages
from tunewise.review.web import SecurityHeaders, error

HERE = Path(__file__).parent
DB_THREADS = {"sqlite": 1, "postgresql": 4}  # the engines' pools hold as many connections (see db.connect)


def create_app(db_url: str | None = None) -> FastAPI:
    engine = connect(db_url)
    executor = ThreadPoolExecutor(DB_THREADS[engine.dialect.name], "review-db")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        executor.shutdown(wait=True)  # finish the writes under way before the process ends
        engine.dispose()

    app = FastAPI(title="tunewise review", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.engine, app.state.sessions, app.state.db_executor = engine, sessions(engine), executor
    for module in (auth, pages, api, admin):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    app.add_middleware(SecurityHeaders)
    app.add_middleware(BodyLimit)  # added last, so it runs first: an oversize body is refused before anything

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused):
        return error(request, exc.status, str(exc))

    @app.exception_handler(NotLoggedIn)
    async def not_logged_in(request: Request, exc: NotLoggedIn):
        return error(request, 401, "you are not logged in: open the invite link you were sent")

    return app
