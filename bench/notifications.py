"""Notification throughput, each figure beside a baseline measured in the same run.

Rows are ``bench.common.Row``: (figure, value, unit, baseline, baseline value).

- Messages delivered per second from the outbox (claim, render, send, record) to a local
  aiosmtpd, beside a bare aiosmtplib loop sending the very same bytes over one
  connection. Targets: >= 0.7x the bare loop and >= 300 messages/s.
- Invitations built per second, beside icalendar serialising a bare VEVENT.

The SMTP server runs in a child process, so that it does not compete with the measured
code for the GIL; both sides of each ratio talk to the same server.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiosmtplib
from icalendar import Event
from sqlalchemy import update

from machines import COPENHAGEN
from notifications import (
    AioSmtpMailer,
    Attendee,
    BatchResult,
    CalendarUser,
    MeetingInvite,
    Organizer,
    Outgoing,
    SmtpSettings,
    TLSMode,
    build_invite,
    deliver_outbox,
)
from notifications.capture import free_port
from persistence import CaseStore, OutboxRow, ensure_schema, make_engine

from .common import Row

CASES = 60  # x 8 invited participants with an address = 480 messages per run
REPEATS = 3
DELIVERY_REPEATS = 7
INVITES = 2000

_SINK = """
import sys
from aiosmtpd.controller import Controller

class Sink:
    async def handle_DATA(self, server, session, envelope):
        return "250 2.0.0 Ok"

controller = Controller(Sink(), hostname="127.0.0.1", port=int(sys.argv[1]),
                        server_hostname="localhost")
controller.start()
print("ready", flush=True)
sys.stdin.read()
controller.stop()
"""

_PEOPLE = [
    ("pupil", "Elev Eksempel", "elev{n}@example.dk"),
    ("parent", "Forælder Eksempel", "foraelder{n}@example.dk"),
    ("school_leader", "Skoleleder Eksempel", "leder{n}@skole.example.dk"),
    ("teacher", "Lærer Eksempel", "laerer{n}@skole.example.dk"),
    ("ppr_interviewer", "PPR Interviewer", "ppri{n}@ppr.example.dk"),
    ("ppr_referent", "PPR Referent", "pprr{n}@ppr.example.dk"),
    ("school_social_worker", "Socialrådgiver Eksempel", "soc{n}@skole.example.dk"),
    ("uu_counselor", "UU-vejleder Eksempel", "uu{n}@uu.example.dk"),
    ("coordinator", "Tovholder Eksempel", "tov{n}@kommune.example.dk"),
]


class _Recording:
    """Keeps what delivery sent, so the bare loop can send exactly the same bytes."""

    def __init__(self, inner: AioSmtpMailer) -> None:
        self.inner = inner
        self.sent: list[Outgoing] = []

    def send_batch(self, messages: Sequence[Outgoing]) -> BatchResult:
        self.sent.extend(messages)
        return self.inner.send_batch(messages)


def _local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=COPENHAGEN)


def _fill_outbox(store: CaseStore) -> None:
    for n in range(CASES):
        participants = [
            {"role": role, "name": name, "email": address.format(n=n)}
            for role, name, address in _PEOPLE
        ]
        case_id = store.open_case(
            "samraad",
            {
                "title": "Skolen ved Søerne",
                "location": "Skolen, lokale 2",
                "participants": participants,
            },
            _local("2027-03-15 08:00"),
        )
        leader = f"leder{n}@skole.example.dk"
        store.fire(case_id, "convene", leader, {}, _local("2027-03-15 09:00"))
        store.fire(
            case_id,
            "schedule",
            leader,
            {"start": "2027-03-22T09:00:00+01:00"},
            _local("2027-03-15 10:00"),
        )


def _best(rates: list[float]) -> float:
    # The fastest run is the one least disturbed by the neighbours on a shared machine.
    return max(rates)


async def _bare_loop(settings: SmtpSettings, messages: Sequence[Outgoing]) -> None:
    async with aiosmtplib.SMTP(hostname=settings.host, port=settings.port, start_tls=False) as smtp:
        for m in messages:
            await smtp.sendmail(m.sender, list(m.recipients), m.data)


def _delivery(workdir: Path, port: int) -> tuple[float, float]:
    engine = make_engine(f"sqlite:///{workdir / 'bench.db'}")
    ensure_schema(engine)
    _fill_outbox(CaseStore(engine))
    now = _local("2027-03-15 10:05")
    settings = SmtpSettings("127.0.0.1", port, TLSMode.NONE)
    organizer = Organizer("samraad@kommune.example.dk", "Samråd, Søernes Kommune")

    def reset() -> None:
        with engine.begin() as conn:
            conn.execute(
                update(OutboxRow).values(
                    status="pending", attempts=0, sent_at=None, response=None, next_attempt_at=now
                )
            )

    def outbox_rate() -> tuple[float, list[Outgoing]]:
        reset()
        mailer = _Recording(AioSmtpMailer(settings))
        started = time.perf_counter()
        report = deliver_outbox(engine, now, mailer, batch=100, organizer=organizer)
        elapsed = time.perf_counter() - started
        if report.transport_error or report.sent != len(mailer.sent):
            raise RuntimeError(f"bench delivery failed: {report.summary()}")
        return report.sent / elapsed, mailer.sent

    def bare_rate(messages: list[Outgoing]) -> float:
        started = time.perf_counter()
        asyncio.run(_bare_loop(settings, messages))
        return len(messages) / (time.perf_counter() - started)

    _, sent = outbox_rate()  # warms up, and gives the bare loop the very same messages
    outbox_runs: list[float] = []
    bare_runs: list[float] = []
    # Alternating, best of each: on a shared machine a neighbour's burst hits one run.
    for i in range(DELIVERY_REPEATS):
        if i % 2:
            bare_runs.append(bare_rate(sent))
            outbox_runs.append(outbox_rate()[0])
        else:
            outbox_runs.append(outbox_rate()[0])
            bare_runs.append(bare_rate(sent))
    engine.dispose()
    return _best(outbox_runs), _best(bare_runs)


def _rate(count: int, action: Callable[[int], object]) -> float:
    started = time.perf_counter()
    for i in range(count):
        action(i)
    return count / (time.perf_counter() - started)


def _invites() -> tuple[float, float]:
    start = datetime(2027, 3, 22, 8, 0, tzinfo=UTC)
    attendees = tuple(Attendee(f"p{i}@example.dk", f"Deltager Ø{i}") for i in range(8))
    organizer = CalendarUser("samraad@kommune.example.dk", "Samråd, Søernes Kommune")

    def ours(i: int) -> object:
        return build_invite(
            MeetingInvite(
                uid=f"{i}@forloeb",
                sequence=i % 3,
                start=start,
                end=start + timedelta(minutes=90),
                summary="Samråd – Skolen ved Søerne",
                location="Skolen ved Søerne, lokale 2",
                organizer=organizer,
                attendees=attendees,
                description="Indkaldt af Samråd. Se mailen for detaljer.",
                alarm_before=timedelta(hours=1),
            ),
            stamp=start,
        )

    def bare(i: int) -> object:
        event = Event()
        event.add("uid", f"{i}@forloeb")
        event.add("dtstamp", start)
        event.add("dtstart", start)
        event.add("dtend", start + timedelta(minutes=90))
        event.add("summary", "Samråd – Skolen ved Søerne")
        for a in attendees:
            event.add("attendee", f"mailto:{a.email}")
        return event.to_ical()

    ours(0), bare(0)  # imports and caches out of the way
    return (
        _best([_rate(INVITES, ours) for _ in range(REPEATS)]),
        _best([_rate(INVITES, bare) for _ in range(REPEATS)]),
    )


def run() -> list[Row]:
    # Plain SMTP to the local sink is the point here; its warning would only clutter the table.
    quiet = logging.getLogger("forloeb.notifications")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        return _run()
    finally:
        quiet.setLevel(level)


def _run() -> list[Row]:
    port = free_port()
    sink = subprocess.Popen(
        [sys.executable, "-c", _SINK, str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sink.stdout is not None
        if sink.stdout.readline().strip() != "ready":
            raise RuntimeError("the benchmark SMTP server did not start")
        with tempfile.TemporaryDirectory() as workdir:
            outbox_rate, bare_rate = _delivery(Path(workdir), port)
    finally:
        assert sink.stdin is not None
        sink.stdin.close()
        try:
            sink.wait(timeout=10)
        except subprocess.TimeoutExpired:
            sink.kill()
            sink.wait()
    invite_rate, bare_invite_rate = _invites()
    return [
        (
            "outbox → local aiosmtpd (claim, render, send, record)",
            outbox_rate,
            "msg/s",
            "bare aiosmtplib send loop, same messages",
            bare_rate,
        ),
        (
            "invites built (icalendar 7, VTIMEZONE, 8 attendees)",
            invite_rate,
            "/s",
            "icalendar: bare VEVENT to_ical",
            bare_invite_rate,
        ),
    ]


if __name__ == "__main__":
    for name, value, unit, base_name, base in run():
        print(f"{name:55s} {value:8.0f} {unit:6s} {base_name:42s} {base:8.0f}  {value / base:.2f}x")
