"""The review app: `create_app(db_url)` joins the routers, the templates, the static files and the error pages."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from tunewise.review.campaigns import Refused
from tunewise.review.db import connect, sessions
from tunewise.review.deps import NotLoggedIn

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # a login link's token must not leak to other sites
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}


def create_app(db_url: str | None = None) -> FastAPI:
    from tunewise.review.routes import admin, api, auth, pages

    app = FastAPI(title="tunewise review", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.engine = connect(db_url)
    app.state.sessions = sessions(app.state.engine)
    for module in (auth, pages, api, admin):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused):
        return error(request, exc.status, str(exc))

    @app.exception_handler(NotLoggedIn)
    async def not_logged_in(request: Request, exc: NotLoggedIn):
        return error(request, 401, "you are not logged in: open the invite link you were sent")

    return app


def error(request: Request, status: int, message: str):
    if request.url.path.startswith("/api/"):
        return JSONResponse({"detail": message}, status_code=status, headers=SECURITY_HEADERS)
    return templates.TemplateResponse(request, "error.html", {"message": message, "status": status}, status_code=status)
