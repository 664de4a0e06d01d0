"""Sign-in by a one-time link mailed to the person's own address.

Only the token's SHA-256 is stored; a link is valid 15 minutes and used once. Who may get a
link: an address that is a participant on a case, or on the configured staff or admin
list. The answer to a request is the same whether or not the address is known, so the
form tells nobody who is on a case; requests are limited per address and per client.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Engine, delete, func, insert, select, update

from machines import COPENHAGEN
from notifications import AioSmtpMailer, Organizer, Outgoing
from persistence import Base, ParticipantRow, SignInTokenRow

from .settings import DeskSettings

tokens = Base.metadata.tables[SignInTokenRow.__tablename__]
participants = Base.metadata.tables[ParticipantRow.__tablename__]

#: Rows older than this are deleted on the next request: they only served the rate limit.
KEEP = timedelta(days=1)


class RateLimited(Exception):
    """Too many sign-in requests from this address or this client."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def client_key(settings: DeskSettings, client: str) -> str:
    # Keyed, so the stored value cannot be turned back into an IP address by a lookup table.
    return hmac.new(settings.secret.encode(), client.encode(), hashlib.sha256).hexdigest()


def normalized(address: str) -> str | None:
    try:
        checked = validate_email(address.strip(), check_deliverability=False)
    except EmailNotValidError:
        return None
    return checked.normalized.lower()


def may_sign_in(engine: Engine, settings: DeskSettings, email: str) -> bool:
    if email in settings.admins or email in settings.staff:
        return True
    query = select(participants.c.id).where(func.lower(participants.c.email) == email).limit(1)
    with engine.connect() as conn:
        return conn.execute(query).first() is not None


@dataclass(frozen=True)
class Issued:
    token: str | None  # None: the address may not sign in (nothing is mailed)


def issue(engine: Engine, settings: DeskSettings, email: str, client: str, now: datetime) -> Issued:
    """A new one-time token for ``email``; raises RateLimited. Records every request."""
    client_hash = client_key(settings, client)
    since = now - settings.link_valid
    allowed = may_sign_in(engine, settings, email)
    with engine.begin() as conn:
        conn.execute(delete(tokens).where(tokens.c.created_at < now - KEEP))
        by_address = conn.execute(
            select(func.count()).where(tokens.c.email == email, tokens.c.created_at >= since)
        ).scalar_one()
        by_client = conn.execute(
            select(func.count()).where(tokens.c.client == client_hash, tokens.c.created_at >= since)
        ).scalar_one()
        if by_address >= settings.links_per_address or by_client >= settings.links_per_client:
            raise RateLimited()
        token = secrets.token_urlsafe(32)
        # A request for an unknown address is recorded too (its token is never sent), so
        # that the limit answers the same for known and unknown addresses.
        conn.execute(
            insert(tokens),
            {
                "token_hash": _hash(token),
                "email": email,
                "client": client_hash,
                "created_at": now,
                "expires_at": now + settings.link_valid,
                "used_at": None if allowed else now,
            },
        )
    return Issued(token if allowed else None)


def redeem(engine: Engine, token: str, now: datetime) -> str | None:
    """The address a valid, unused token was issued to; the token is used up. Else None."""
    with engine.begin() as conn:
        row = conn.execute(
            update(tokens)
            .where(
                tokens.c.token_hash == _hash(token),
                tokens.c.used_at.is_(None),
                tokens.c.expires_at > now,
            )
            .values(used_at=now)
            .returning(tokens.c.email)
        ).first()
    return str(row.email) if row is not None else None


def mail_link(settings: DeskSettings, email: str, token: str, now: datetime) -> None:
    """Send the link. The subject and body name no case and no child."""
    organizer = Organizer.from_env()
    link = f"{settings.base_url}/log-ind/link/{token}"
    minutes = int(settings.link_valid.total_seconds() // 60)
    until = (now + settings.link_valid).astimezone(COPENHAGEN).strftime("%H:%M")
    message = EmailMessage()
    message["From"] = f"{organizer.name} <{organizer.email}>"
    message["To"] = email
    message["Subject"] = "Dit link til at logge ind på forløb"
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=organizer.domain)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(
        "Hej\n\n"
        f"Brug dette link for at logge ind på forløb. Det virker én gang og i {minutes} "
        f"minutter (til kl. {until}):\n\n{link}\n\n"
        "Har du ikke bedt om at logge ind, kan du se bort fra denne mail.\n"
    )
    result = AioSmtpMailer().send_batch(
        [Outgoing(0, organizer.email, (email,), message.as_bytes())]
    )
    if not result.results or not result.results[0].delivered:
        raise ConnectionError("the sign-in mail could not be handed to the SMTP server")
