"""Real parts for the notification tests: aiosmtpd with STARTTLS (trustme certificates),
a temporary SQLite case store per test, and the samråd driven through ``CaseStore``."""

from __future__ import annotations

import email
import email.policy
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import tatsu.color
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from machines import COPENHAGEN
from notifications import DeliverySettings, Organizer, SmtpSettings, TLSMode
from notifications.capture import free_port
from persistence import CaseStore, OutboxRow, ensure_schema, make_engine
from tests.conftest import COORDINATOR as COORDINATOR
from tests.conftest import LEADER as LEADER
from tests.conftest import PPR as PPR
from tests.conftest import SAMRAAD_CASE

# The `ics` cross-check parses with tatsu, which calls colorama.init() on every parse once
# colorama is installed (Prefect brings it): each call wraps sys.stdout again, until a
# RecursionError under pytest's capture. Colour is useless here; skip it.
tatsu.color.init = lambda: None

PUPIL_NAME = SAMRAAD_CASE["participants"][0]["name"]
ORGANIZER = Organizer("samraad@kommune.example.dk", "Samråd, Søernes Kommune")

# The shared samråd case, plus a father without an address and an optional UU counselor.
_PEOPLE = SAMRAAD_CASE["participants"]
CASE_FILE: dict[str, Any] = {
    **SAMRAAD_CASE,
    "participants": [
        *_PEOPLE[:2],
        {"key": "far", "role": "parent", "name": "Ole Æblegaard"},  # no e-mail address
        *_PEOPLE[2:-1],
        {"key": "uu", "role": "uu_counselor", "name": "Per Vang", "email": "per@uu.example.dk"},
        _PEOPLE[-1],
    ],
}
#: Who is invited to the samråd and has an address: everyone but the coordinator and "far".
INVITED = {
    "ida@example.dk",
    "aase@example.dk",
    LEADER,
    "jens@skole.example.dk",
    PPR,
    "signe@ppr.example.dk",
    "aylin@skole.example.dk",
    "per@uu.example.dk",
}
PRESENT = ["elev", "mor", "far", "leder", "laerer", "ppr-i", "ppr-r", "soc", "uu"]


def at(text: str) -> datetime:
    """A Copenhagen wall-clock time, e.g. at("2026-12-21 09:00")."""
    return datetime.fromisoformat(text).replace(tzinfo=COPENHAGEN)


def notes(keys: list[str] = PRESENT) -> dict[str, str]:
    return {k: f"note from {k}" for k in keys}


# ------------------------------------------------------------------ certificates


@dataclass(frozen=True)
class Certs:
    ca_file: Path
    server_context: ssl.SSLContext


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(context)
    ca_file = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return Certs(ca_file, context)


# ------------------------------------------------------------------ SMTP server


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Recorder:
    """The aiosmtpd handler: records messages; can refuse addresses, fail, or vanish."""

    received: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)  # address -> "550 ..." answer
    #: Vanish while receiving the message after this many were stored: the connection is
    #: cut during DATA and new connections get "421" until ``down`` is cleared.
    vanish_after: int | None = None
    down: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            if self.vanish_after is not None and len(self.received) >= self.vanish_after:
                self.vanish_after, self.down = None, True
                server.transport.abort()
                return "421 4.3.2 going away"
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content))
            )
        return "250 2.0.0 Ok: queued"

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.rcpt_tos]

    def templates(self) -> dict[str, set[str]]:
        """template -> the addresses that got one."""
        result: dict[str, set[str]] = {}
        for r in self.received:
            result.setdefault(str(r.message["X-Forloeb-Template"]), set()).update(r.rcpt_tos)
        return result


class _SMTP(SMTP):
    async def _handle_client(self) -> None:
        if self.event_handler.down:
            await self.push("421 4.3.2 Service not available")
            assert self.transport is not None
            self.transport.close()
            return
        await super()._handle_client()


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _SMTP(self.handler, **self.SMTP_kwargs)


@dataclass
class Server:
    recorder: Recorder
    port: int
    settings: SmtpSettings


@contextmanager
def serve(recorder: Recorder, tls: ssl.SSLContext | None) -> Iterator[int]:
    port = free_port()
    kwargs: dict[str, Any] = {"server_hostname": "localhost"}
    if tls is not None:
        kwargs.update(tls_context=tls, require_starttls=True)
    controller = _Controller(recorder, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield port
    finally:
        recorder.down = False
        controller.stop()


@pytest.fixture
def smtp_server(certs: Certs) -> Iterator[Server]:
    """aiosmtpd that offers and requires STARTTLS, with a certificate from our test CA."""
    recorder = Recorder()
    with serve(recorder, certs.server_context) as port:
        yield Server(
            recorder,
            port,
            SmtpSettings("localhost", port, TLSMode.STARTTLS, ca_file=str(certs.ca_file)),
        )


@pytest.fixture
def plain_server(certs: Certs) -> Iterator[Server]:
    """aiosmtpd that offers no STARTTLS; configured for starttls, as production would be."""
    recorder = Recorder()
    with serve(recorder, None) as port:
        yield Server(
            recorder,
            port,
            SmtpSettings("localhost", port, TLSMode.STARTTLS, ca_file=str(certs.ca_file)),
        )


# ------------------------------------------------------------------ database


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine("sqlite:///" + str(tmp_path / "t.db"))
    ensure_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def store(engine: Engine) -> CaseStore:
    return CaseStore(engine)


FAST = DeliverySettings(max_attempts=3, retry_after=timedelta(minutes=1))


def outbox(engine: Engine, **where: Any) -> list[OutboxRow]:
    with Session(engine) as session:
        query = select(OutboxRow).order_by(OutboxRow.id)
        for name, value in where.items():
            query = query.where(getattr(OutboxRow, name) == value)
        return list(session.scalars(query))


def open_case(store: CaseStore, **changes: Any) -> int:
    return store.open_case("samraad", {**CASE_FILE, **changes}, at("2027-03-15 08:00"))


def schedule(store: CaseStore, case_id: int, start: str = "2027-03-22T09:00:00+01:00") -> None:
    store.fire(case_id, "convene", LEADER, {}, at("2027-03-15 09:00"))
    store.fire(case_id, "schedule", LEADER, {"start": start}, at("2027-03-15 10:00"))
