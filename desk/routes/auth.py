"""Sign-in (one-time link by mail; OpenID Connect when configured) and sign-out."""

from __future__ import annotations

import asyncio
import hmac
import logging

import httpx
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from .. import oidc, signin
from ..app import desk_of
from ..security import Session, session_of

router = APIRouter()
log = logging.getLogger("forloeb.desk")


@router.get("/log-ind")
def sign_in_page(request: Request) -> Response:
    return desk_of(request).render(request, "login.html", "Log ind")


@router.post("/log-ind")
async def request_link(request: Request) -> Response:
    desk = desk_of(request)
    form = await request.form()
    typed = str(form.get("email") or "")
    email = signin.normalized(typed)
    if email is None:
        return desk.render(
            request,
            "login.html",
            "Log ind",
            422,
            error="Skriv din e-mailadresse, fx navn@kommune.dk.",
            email=typed[:320],
        )
    client = request.client.host if request.client else "unknown"
    now = desk.now()
    try:
        issued = await asyncio.to_thread(
            signin.issue, desk.store.engine, desk.settings, email, client, now
        )
    except signin.RateLimited:
        minutes = int(desk.settings.link_valid.total_seconds() // 60)
        return desk.render(
            request,
            "login.html",
            "Log ind",
            429,
            error=f"Der er bedt om for mange links. Vent {minutes} minutter, og prøv igen.",
        )
    if issued.token is not None:
        try:
            await asyncio.to_thread(signin.mail_link, desk.settings, email, issued.token, now)
        except (ConnectionError, OSError, ValueError) as exc:
            log.warning("the sign-in mail could not be sent: %s", type(exc).__name__)
            return desk.render(
                request,
                "login.html",
                "Log ind",
                503,
                error="Mailen kunne ikke sendes lige nu. Prøv igen om lidt.",
            )
    # The same answer whether or not the address may sign in: nobody learns who is on a case.
    return desk.render(request, "login_sent.html", "Tjek din mail", email=email)


@router.get("/log-ind/link/{token}")
def confirm_link(request: Request, token: str) -> Response:
    # A button, not an automatic sign-in: mail scanners that open links must not use it up.
    return desk_of(request).render(request, "login_confirm.html", "Log ind", token=token[:100])


@router.post("/log-ind/link")
async def redeem_link(request: Request) -> Response:
    desk = desk_of(request)
    form = await request.form()
    token = str(form.get("token") or "")
    email = await asyncio.to_thread(signin.redeem, desk.store.engine, token, desk.now())
    if email is None:
        return desk.render(
            request,
            "login.html",
            "Log ind",
            400,
            error="Linket er allerede brugt eller udløbet. Bed om et nyt link herunder.",
        )
    # A new session (and CSRF token) on sign-in: nothing from before carries over.
    request.state.session = Session.new(email)
    return RedirectResponse("/sager", status_code=303)


@router.post("/log-ud")
def sign_out(request: Request) -> Response:
    session = Session.new()
    session.flash = "Du er logget ud."
    request.state.session = session
    return RedirectResponse("/log-ind", status_code=303)


def signed_in_session(request: Request) -> Session:
    return session_of(request)


# ------------------------------------------------------------------ OpenID Connect


def _redirect_uri(request: Request) -> str:
    return f"{desk_of(request).settings.base_url}/log-ind/oidc/svar"


@router.get("/log-ind/oidc")
async def oidc_begin(request: Request) -> Response:
    desk = desk_of(request)
    if desk.settings.oidc is None:
        raise HTTPException(404)
    try:
        url, state, nonce = await asyncio.to_thread(
            oidc.begin, desk.settings.oidc, _redirect_uri(request)
        )
    except httpx.HTTPError:
        return desk.render(
            request,
            "login.html",
            "Log ind",
            503,
            error="Kommunens login svarer ikke lige nu. Prøv igen, eller få et link på mail.",
        )
    session = session_of(request)
    session.oidc_state, session.oidc_nonce = state, nonce
    return RedirectResponse(url, status_code=303)


@router.get("/log-ind/oidc/svar")
async def oidc_finish(request: Request, code: str = "", state: str = "") -> Response:
    desk = desk_of(request)
    if desk.settings.oidc is None:
        raise HTTPException(404)
    session = session_of(request)
    expected, nonce = session.oidc_state, session.oidc_nonce
    session.oidc_state = session.oidc_nonce = None

    def refused(text: str) -> Response:
        return desk.render(request, "login.html", "Log ind", 400, error=text)

    if not code or not expected or not nonce or not hmac.compare_digest(state, expected):
        return refused("Login blev ikke gennemført. Prøv igen.")
    try:
        email = await asyncio.to_thread(
            oidc.finish, desk.settings.oidc, _redirect_uri(request), code, nonce
        )
    except oidc.OidcFailed:
        return refused("Kommunens login kunne ikke bekræfte dig. Prøv igen.")
    address = signin.normalized(email)
    if address is None or not await asyncio.to_thread(
        signin.may_sign_in, desk.store.engine, desk.settings, address
    ):
        return refused("Din adresse står ikke på nogen sag. Kontakt den kommunale tovholder.")
    request.state.session = Session.new(address)
    return RedirectResponse("/sager", status_code=303)
