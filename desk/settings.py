"""The desk's settings, from the environment (``FORLOEB_DESK_*``), checked once at start."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from machines import InvalidInput


def _addresses(raw: str | None) -> frozenset[str]:
    return frozenset(a.strip().lower() for a in (raw or "").split(",") if a.strip())


def desk_home(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("FORLOEB_HOME") or "~/.forloeb").expanduser() / "desk"


def _secret(env: Mapping[str, str]) -> str:
    """FORLOEB_DESK_SECRET, or one made once and kept (0600) beside the pid file."""
    given = env.get("FORLOEB_DESK_SECRET")
    if given:
        if len(given) < 32:
            raise InvalidInput("FORLOEB_DESK_SECRET must be at least 32 characters long")
        return given
    path = desk_home(env) / "secret"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        made = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(made)
        return made


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    try:
        value = int(raw) if raw else default
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise InvalidInput(f"{name}={raw!r} must be a whole number from {low} to {high}")
    return value


@dataclass(frozen=True)
class OidcSettings:
    """The municipality's identity provider (OpenID Connect, authorization code flow)."""

    issuer: str  # its discovery document is at issuer + /.well-known/openid-configuration
    client_id: str
    client_secret: str = field(repr=False)
    label: str = "Log ind med kommunens login"


@dataclass(frozen=True)
class DeskSettings:
    secret: str = field(repr=False)
    #: Where links in mails point: the desk's address as users reach it.
    base_url: str = "http://127.0.0.1:8765"
    #: May sign in although on no case; see every case's ids, states and deadlines only.
    admins: frozenset[str] = frozenset()
    #: May sign in although on no case yet (e.g. a school leader who will open cases).
    staff: frozenset[str] = frozenset()
    idle: timedelta = timedelta(minutes=30)
    link_valid: timedelta = timedelta(minutes=15)
    #: Sign-in links per address and per client within ``link_valid``.
    links_per_address: int = 3
    links_per_client: int = 10
    oidc: OidcSettings | None = None
    #: The Prefect UI, for the admins' link to a case's flow runs.
    prefect_ui: str | None = None

    @property
    def secure(self) -> bool:
        """Cookies are ``Secure`` when users reach the desk over HTTPS."""
        return self.base_url.startswith("https://")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DeskSettings:
        env = os.environ if env is None else env
        base_url = (env.get("FORLOEB_DESK_URL") or "http://127.0.0.1:8765").rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            raise InvalidInput(f"FORLOEB_DESK_URL={base_url!r} must start with https://")
        oidc = None
        if env.get("FORLOEB_OIDC_ISSUER"):
            client_id, client_secret = (
                env.get("FORLOEB_OIDC_CLIENT_ID"),
                env.get("FORLOEB_OIDC_CLIENT_SECRET"),
            )
            if not client_id or not client_secret:
                raise InvalidInput(
                    "FORLOEB_OIDC_ISSUER is set: set FORLOEB_OIDC_CLIENT_ID and "
                    "FORLOEB_OIDC_CLIENT_SECRET too"
                )
            oidc = OidcSettings(env["FORLOEB_OIDC_ISSUER"].rstrip("/"), client_id, client_secret)
        return cls(
            secret=_secret(env),
            base_url=base_url,
            admins=_addresses(env.get("FORLOEB_DESK_ADMINS")),
            staff=_addresses(env.get("FORLOEB_DESK_STAFF")),
            idle=timedelta(minutes=_int(env, "FORLOEB_DESK_IDLE_MINUTES", 30, 1, 24 * 60)),
            oidc=oidc,
            prefect_ui=(env.get("PREFECT_API_URL") or "").removesuffix("/api") or None,
        )
