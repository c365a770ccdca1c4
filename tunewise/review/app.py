"""The review app: `create_app(db_url)` joins the routers, the templates, the static files and the error pages."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from tunewise.review.campaigns import Refused
from tunewise.review.db import connect, sessions
from tunewise.review.deps import NotLoggedIn

HERE = Path(__file__).parent
DB_THREADS = {"sqlite": 1, "postgresql": 4}  # the engines' pools hold as many connections (see db.connect)
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

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused):
        return error(request, exc.status, str(exc))

    @app.exception_handler(NotLoggedIn)
    async def not_logged_in(request: Request, exc: NotLoggedIn):
        return error(request, 401, "you are not logged in: open the invite link you were sent")

    return app


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every response (a plain ASGI middleware: Starlette's BaseHTTPMiddleware costs
    a task and two streams per request)."""

    def __init__(self, app):
        self.app = app
        self.headers = [(name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def error(request: Request, status: int, message: str):
    if request.url.path.startswith("/api/"):
        return JSONResponse({"detail": message}, status_code=status)
    return templates.TemplateResponse(request, "error.html", {"message": message, "status": status}, status_code=status)
