"""The desk's FastAPI application: ``create_app()`` wires settings, store, Prefect, pages."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from flows import clock
from machines import WorkingCalendar
from persistence import CaseStore, open_store

from .rights import Rights, rights_of
from .runner import FlowRunner
from .security import DeskMiddleware, SessionCodec, session_of
from .settings import DeskSettings

HERE = Path(__file__).parent


#: How long the navigation's links for a person are kept (``Desk.nav_rights``).
NAV_RIGHTS_SECONDS = 60.0


class NotSignedIn(Exception):
    """Raised by a page that needs a signed-in person; answered with the sign-in page."""


@dataclass
class Desk:
    settings: DeskSettings
    store: CaseStore
    runner: FlowRunner
    calendar: WorkingCalendar
    templates: Jinja2Templates
    #: The navigation's rights per address, kept ``NAV_RIGHTS_SECONDS``: finding them scans
    #: the participants, which every page would pay for. The pages themselves ask afresh.
    _nav_rights: dict[str, tuple[float, Rights]] = field(default_factory=dict)
    _nav_lock: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> datetime:
        return clock.now()

    def render(
        self, request: Request, name: str, title: str, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        session = session_of(request)
        flash, session.flash = session.flash, None
        return self.templates.TemplateResponse(
            request,
            name,
            {
                "title": title,
                "csrf": session.csrf,
                "user": session.email,
                "admin": session.email in self.settings.admins if session.email else False,
                # What the navigation links to beyond the cases (only what this person may use).
                "rights": self.nav_rights(session.email),
                "flash": flash,
                "oidc": self.settings.oidc,
                **context,
            },
            status_code=status_code,
        )

    def nav_rights(self, email: str | None) -> Rights:
        """What the navigation links to beyond the cases, at most a minute old."""
        if not email:
            return Rights()
        moment = time.monotonic()
        with self._nav_lock:
            kept = self._nav_rights.get(email)
        if kept is not None and moment - kept[0] < NAV_RIGHTS_SECONDS:
            return kept[1]
        return self.rights(email)

    def rights(self, email: str) -> Rights:
        """What this person may use beyond their cases, as it is now (kept for the
        navigation too)."""
        rights = rights_of(self.store.engine, self.settings, email)
        with self._nav_lock:
            if len(self._nav_rights) > 10_000:
                self._nav_rights.clear()
            self._nav_rights[email] = (time.monotonic(), rights)
        return rights

    def user(self, request: Request) -> str:
        email = session_of(request).email
        if not email:
            raise NotSignedIn()
        return email

    def is_admin(self, email: str) -> bool:
        return email in self.settings.admins


class _CountedRequests:
    """Counts the requests being answered, so the runner records flow runs between them."""

    def __init__(self, app: ASGIApp, runner: FlowRunner) -> None:
        self.app = app
        self.runner = runner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.runner.requests_in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.runner.requests_in_flight -= 1


def desk_of(request: Request) -> Desk:
    desk: Desk = request.app.state.desk
    return desk


def create_app(
    settings: DeskSettings | None = None,
    store: CaseStore | None = None,
    runner: FlowRunner | None = None,
) -> FastAPI:
    settings = settings or DeskSettings.from_env()
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.autoescape = True
    desk = Desk(
        settings=settings,
        store=store or open_store(),
        runner=runner or FlowRunner(),
        calendar=WorkingCalendar.from_env(),
        templates=templates,
    )
    app = FastAPI(title="forløb", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.desk = desk
    app.add_middleware(DeskMiddleware, codec=SessionCodec(settings))
    app.add_middleware(_CountedRequests, runner=desk.runner)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    from .routes import absence, actions, auth, capacity, cases

    app.include_router(auth.router)
    app.include_router(cases.router)
    app.include_router(actions.router)
    app.include_router(absence.router)
    app.include_router(capacity.router)

    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, exc: NotSignedIn) -> Response:
        return RedirectResponse("/log-ind", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return desk.render(
                request,
                "error.html",
                "Siden findes ikke",
                404,
                heading="Siden findes ikke",
                text="Siden findes ikke, eller du har ikke adgang til den.",
            )
        return desk.render(
            request,
            "error.html",
            "Fejl",
            exc.status_code,
            heading="Der skete en fejl",
            text="Prøv igen.",
        )

    @app.exception_handler(RequestValidationError)
    async def bad_address(request: Request, exc: RequestValidationError) -> Response:
        # A path or query that does not parse (``/sager/x``) is a page that does not exist.
        return desk.render(
            request,
            "error.html",
            "Siden findes ikke",
            404,
            heading="Siden findes ikke",
            text="Siden findes ikke, eller du har ikke adgang til den.",
        )

    @app.get("/")
    def root(request: Request) -> Response:
        if session_of(request).email:
            return RedirectResponse("/sager", status_code=303)
        return RedirectResponse("/log-ind", status_code=303)

    return app
