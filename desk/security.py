"""Sessions, CSRF and the security headers.

The session is a signed cookie (itsdangerous; HttpOnly, SameSite=Lax, Secure behind HTTPS)
holding the signed-in address and the CSRF token, nothing else. It is re-signed on every
request, so it lapses after the idle timeout, never while someone works. Every form
carries the CSRF token; a POST without the session's token is refused (403) before any
handler runs — except a file upload (``multipart/form-data``) to one of ``UPLOAD_PATHS``,
whose handler reads the body itself, within its size limit, and must check the token
(``csrf_ok``) before it does anything, answering ``refused()`` as this middleware would.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from .settings import DeskSettings

COOKIE = "forloeb_desk"

#: No inline script or style, nothing from elsewhere: the desk serves everything itself.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)

#: The pages that take a file (``multipart/form-data``); every other form is url-encoded.
UPLOAD_PATHS = frozenset({"/fravaer/import"})


@dataclass
class Session:
    email: str | None
    csrf: str
    #: Set by the OIDC sign-in while the user is at the identity provider.
    oidc_state: str | None = None
    oidc_nonce: str | None = None
    #: One message to show on the next page ("Du er logget ud").
    flash: str | None = None

    def dump(self) -> dict[str, Any]:
        return {
            "e": self.email,
            "c": self.csrf,
            "s": self.oidc_state,
            "n": self.oidc_nonce,
            "f": self.flash,
        }

    @classmethod
    def new(cls, email: str | None = None) -> Session:
        return cls(email, secrets.token_urlsafe(32))


class SessionCodec:
    def __init__(self, settings: DeskSettings) -> None:
        self.settings = settings
        self.serializer = URLSafeTimedSerializer(settings.secret, salt="forloeb-desk-session")

    def load(self, cookie: str | None) -> Session | None:
        if not cookie:
            return None
        try:
            raw = self.serializer.loads(cookie, max_age=int(self.settings.idle.total_seconds()))
        except BadSignature:  # also SignatureExpired: idle for too long
            return None
        if not isinstance(raw, dict) or not isinstance(raw.get("c"), str):
            return None
        return Session(raw.get("e"), raw["c"], raw.get("s"), raw.get("n"), raw.get("f"))

    def store(self, response: Response, session: Session) -> None:
        response.set_cookie(
            COOKIE,
            self.serializer.dumps(session.dump()),
            max_age=int(self.settings.idle.total_seconds()),
            httponly=True,
            samesite="lax",
            secure=self.settings.secure,
            path="/",
        )


def session_of(request: Request) -> Session:
    session: Session = request.state.session
    return session


def csrf_ok(session: Session, given: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), session.csrf.encode())


class DeskMiddleware(BaseHTTPMiddleware):
    """Loads the session, checks CSRF on every POST, re-signs the cookie, sets headers."""

    def __init__(self, app: Any, codec: SessionCodec) -> None:
        super().__init__(app)
        self.codec = codec

    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        static = request.url.path.startswith("/static/")
        session = self.codec.load(request.cookies.get(COOKIE)) if not static else None
        request.state.session = session or Session.new()
        request.state.started = time.perf_counter()
        if request.method == "POST":
            content_type = request.headers.get("content-type", "")
            upload = (
                content_type.startswith("multipart/form-data") and request.url.path in UPLOAD_PATHS
            )
            if upload:
                # Not read here: its handler reads it within its size limit and checks
                # the token in it before anything else.
                if session is None:
                    return refused()
            else:
                # The body is read here (Starlette replays it to the handler); only a
                # url-encoded form is accepted, so the token is always found in it.
                body = await request.body()
                urlencoded = content_type.startswith("application/x-www-form-urlencoded")
                given = parse_qs(body.decode("utf-8", "replace")).get("csrf", [""])[0]
                if session is None or not urlencoded or not csrf_ok(session, given):
                    return refused()
        response = await call_next(request)
        if not static:
            self.codec.store(response, request.state.session)
        _headers(response, static)
        return response


def refused() -> Response:
    """The answer to a form posted without the session's CSRF token (or without a session)."""
    response = HTMLResponse(
        "<!doctype html><html lang='da'><head><meta charset='utf-8'>"
        "<title>Afvist</title></head><body><main><h1>Formularen blev afvist</h1>"
        "<p>Siden var for gammel, eller du var logget ud. Gå tilbage, genindlæs "
        "siden og prøv igen.</p><p><a href='/'>Til forsiden</a></p></main></body>"
        "</html>",
        status_code=403,
    )
    _headers(response, static=False)
    return response


def _headers(response: Response, static: bool) -> None:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    # A sign-in link's token must never travel on in a Referer header.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    if not static:
        # Case pages hold personal data: no copy in the browser's or a proxy's cache.
        response.headers["Cache-Control"] = "no-store"
