"""Sign-in through the municipality's identity provider (OpenID Connect, code flow).

authlib does the protocol (the authorization URL, the code exchange); joserfc checks the
ID token's signature and claims (issuer, audience, expiry, nonce). The state and nonce live in the
desk's signed session cookie while the user is at the provider. The address the provider
vouches for (``email``; ``email_verified`` must not be false) is then held to the same rule
as a mailed link: a participant on a case, or on the staff or admin list.
"""

from __future__ import annotations

import functools
import secrets
from typing import Any

import httpx
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from requests import RequestException

from .settings import OidcSettings


class OidcFailed(Exception):
    """The provider's answer could not be used (the user sees one Danish line)."""


@functools.cache
def _discovery(issuer: str) -> dict[str, Any]:
    answer = httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=10)
    answer.raise_for_status()
    found: dict[str, Any] = answer.json()
    return found


def _client(settings: OidcSettings, redirect_uri: str) -> OAuth2Session:
    return OAuth2Session(
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        scope="openid email",
        redirect_uri=redirect_uri,
    )


def begin(settings: OidcSettings, redirect_uri: str) -> tuple[str, str, str]:
    """(the provider's authorization URL, state, nonce)."""
    state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    endpoint = _discovery(settings.issuer)["authorization_endpoint"]
    with _client(settings, redirect_uri) as client:
        url, _ = client.create_authorization_url(endpoint, state=state, nonce=nonce)
    return str(url), state, nonce


def finish(settings: OidcSettings, redirect_uri: str, code: str, nonce: str) -> str:
    """The verified e-mail address of the person the provider signed in."""
    meta = _discovery(settings.issuer)
    try:
        with _client(settings, redirect_uri) as client:
            token = client.fetch_token(meta["token_endpoint"], code=code, timeout=10)
        keys = KeySet.import_key_set(httpx.get(meta["jwks_uri"], timeout=10).json())
        claims = jwt.decode(token["id_token"], keys).claims
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": meta.get("issuer", settings.issuer)},
            aud={"essential": True, "value": settings.client_id},
            nonce={"essential": True, "value": nonce},
            exp={"essential": True},
        ).validate(claims)
    except (httpx.HTTPError, RequestException, JoseError, KeyError, ValueError) as exc:
        raise OidcFailed(type(exc).__name__) from None
    email = claims.get("email")
    if not isinstance(email, str) or claims.get("email_verified") is False:
        raise OidcFailed("no verified e-mail address in the ID token")
    return email
