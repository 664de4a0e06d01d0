"""Participants' answers read from a real IMAP server (Dovecot, TLS from trustme): built the
way Outlook, Gmail and Apple Calendar build them, matched by the ORGANIZER's token, checked
against UID, SEQUENCE, ATTENDEE and sender, applied once, and shown on the case."""

from __future__ import annotations

import base64
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from notifications import AioSmtpMailer, Organizer, deliver_outbox
from notifications.replies import FetchReport, ImapTLS, fetch_replies
from persistence import CaseStore, MeetingRow, OutboxRow, make_engine
from persistence.replies import ProcessedMessageRow, queue_reply_reminders

from . import dovecot as dc
from .conftest import FAST, LEADER, ORGANIZER, Server, at, open_case, outbox, schedule

pytestmark = [
    pytest.mark.skipif(not dc.available(), reason="dovecot is not installed (.ci/run installs it)"),
    pytest.mark.xdist_group("dovecot"),
]

NOW = at("2027-03-16 12:00")
MOTHER, TEACHER = "aase@example.dk", "jens@skole.example.dk"


@pytest.fixture(scope="module")
def imap() -> Iterator[dc.Dovecot]:
    # Not under pytest's tmp_path: its parents are private to root, and Dovecot's mail
    # processes run as the dovecot user.
    tmp = Path(tempfile.mkdtemp(prefix="forloeb-dovecot-"))
    try:
        with dc.dovecot(tmp) as server:
            yield server
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """Replies are read on both backends: the chunk's one transaction, the row lock on an
    earlier answer and the unique keys behave differently on PostgreSQL."""
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def mailbox(imap: dc.Dovecot) -> dc.Dovecot:
    imap.clear()
    return imap


def meeting_of(engine: Engine, case_id: int) -> MeetingRow:
    with Session(engine) as session:
        return session.scalars(select(MeetingRow).where(MeetingRow.case_id == case_id)).one()


@pytest.fixture
def case_id(store: CaseStore) -> int:
    cid = open_case(store)
    schedule(store, cid)
    return cid


def fetch(engine: Engine, box: dc.Dovecot, **changes: Any) -> FetchReport:
    return fetch_replies(engine, NOW, box.settings(**changes), ORGANIZER)


# ------------------------------------------------------------------ mails as clients build them

_ICS = """BEGIN:VCALENDAR\r
PRODID:{prodid}\r
VERSION:2.0\r
METHOD:{method}\r
BEGIN:VEVENT\r
UID:{uid}\r
SEQUENCE:{sequence}\r
DTSTAMP:{stamp}\r
DTSTART;TZID=Europe/Copenhagen:{start}\r
DTEND;TZID=Europe/Copenhagen:{end}\r
{attendees}ORGANIZER:mailto:{organizer}\r
SUMMARY:Samråd – Skolen ved Søerne\r
END:VEVENT\r
END:VCALENDAR\r
"""


def ics(
    meeting: MeetingRow,
    attendee: str,
    partstat: str = "ACCEPTED",
    *,
    method: str = "REPLY",
    sequence: int | None = None,
    stamp: str = "20270316T100000Z",
    start: str = "20270322T090000",
    end: str = "20270322T103000",
    uid: str | None = None,
    others: tuple[str, ...] = (),
    prodid: str = "Microsoft Exchange Server 2010",
) -> str:
    lines = f"ATTENDEE;PARTSTAT={partstat};CN=Svar:mailto:{attendee}\r\n"
    lines += "".join(f"ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:{o}\r\n" for o in others)
    return _ICS.format(
        prodid=prodid,
        method=method,
        uid=uid or meeting.uid,
        sequence=meeting.sequence if sequence is None else sequence,
        stamp=stamp,
        start=start,
        end=end,
        attendees=lines,
        organizer=ORGANIZER.reply_address(meeting.reply_token or ""),
    )


def mail(
    sender: str,
    to: str,
    calendar: str | None,
    *,
    style: str = "outlook",
    method: str = "REPLY",
    message_id: str | None = None,
    padding: int = 0,
) -> bytes:
    """A reply as Outlook (text + calendar in multipart/alternative), Gmail (text, HTML,
    calendar, and the .ics attached) or Apple Mail (text and an .ics part) send it."""
    head = (
        f"From: Svar <{sender}>\r\nTo: <{to}>\r\nSubject: Accepteret: Samråd\r\n"
        f"Message-ID: {message_id or f'<{abs(hash((sender, to, calendar, style)))}@client>'}\r\n"
        "Date: Tue, 16 Mar 2027 10:00:00 +0100\r\nMIME-Version: 1.0\r\n"
    )
    text = "Content-Type: text/plain; charset=UTF-8\r\n\r\nJeg kommer.\r\n" + "x" * padding
    if calendar is None:  # an HTML-only mail
        return (head + "Content-Type: text/html; charset=UTF-8\r\n\r\n<p>Ja tak</p>\r\n").encode()
    cal = f"Content-Type: text/calendar; method={method}; charset=UTF-8\r\n\r\n{calendar}"
    if style == "outlook":
        body = (
            'Content-Type: multipart/alternative; boundary="b1"\r\n\r\n'
            f"--b1\r\n{text}\r\n--b1\r\n{cal}\r\n--b1--\r\n"
        )
    elif style == "gmail":
        html = "Content-Type: text/html; charset=UTF-8\r\n\r\n<p>Jeg kommer.</p>\r\n"
        attached = (
            'Content-Type: application/ics; name="invite.ics"\r\n'
            'Content-Disposition: attachment; filename="invite.ics"\r\n\r\n' + calendar
        )
        body = (
            'Content-Type: multipart/mixed; boundary="m1"\r\n\r\n--m1\r\n'
            'Content-Type: multipart/alternative; boundary="a1"\r\n\r\n'
            f"--a1\r\n{text}\r\n--a1\r\n{html}\r\n--a1\r\n{cal}\r\n--a1--\r\n"
            f"--m1\r\n{attached}\r\n--m1--\r\n"
        )
    else:  # apple
        body = (
            'Content-Type: multipart/mixed; boundary="ap"\r\n\r\n--ap\r\n'
            f"{text}\r\n--ap\r\nContent-Disposition: attachment; filename=iCal.ics\r\n{cal}\r\n"
            "--ap--\r\n"
        )
    return (head + body).encode()


def to_meeting(meeting: MeetingRow) -> str:
    return ORGANIZER.reply_address(meeting.reply_token or "")


def answers(store: CaseStore, case_id: int) -> dict[str, Any]:
    return store.show(case_id)["meetings"][0]


# ------------------------------------------------------------------ the tests


@pytest.mark.parametrize("style", ["outlook", "gmail", "apple"])
def test_an_accept_reaches_the_case_once(
    style: str, mailbox: dc.Dovecot, store: CaseStore, engine: Engine, case_id: int
) -> None:
    m = meeting_of(engine, case_id)
    version = store.snapshot(case_id).version
    mailbox.append(mail(TEACHER, to_meeting(m), ics(m, TEACHER), style=style))

    report = fetch(engine, mailbox)
    assert (report.processed, report.ignored, report.error) == (1, 0, None)
    shown = answers(store, case_id)
    assert [(a["participant"], a["answer"], a["current"]) for a in shown["answers"]] == [
        ("laerer", "ACCEPTED", True)
    ]
    assert shown["tally"] == "required: accepted 1 of 8"
    assert (shown["required_accepted"], shown["required_invited"]) == (1, 8)
    history = store.show(case_id)["history"]
    assert history[-1]["event"] == "reply" and history[-1]["source"] == history[-1]["dest"]
    assert store.snapshot(case_id).version == version + 1
    # Moved out of the inbox; a second fetch finds nothing to do.
    assert mailbox.count("INBOX") == 0 and mailbox.count("Behandlet") == 1
    again = fetch(engine, mailbox)
    assert (again.processed, again.ignored, again.duplicates) == (0, 0, 0)


def test_an_encoded_name_a_folded_header_and_a_base64_calendar_are_read(
    mailbox: dc.Dovecot, store: CaseStore, engine: Engine, case_id: int
) -> None:
    """What real clients also send: a display name in RFC 2047 words (æøå), a To header
    folded over two lines, and the calendar part in base64 (Gmail does)."""
    m = meeting_of(engine, case_id)
    body = base64.b64encode(ics(m, TEACHER).encode()).decode()
    raw = (
        f"From: =?utf-8?q?S=C3=B8ren_L=C3=A6rer?= <{TEACHER}>\r\n"
        f"To: Samr=?utf-8?q?=C3=A5d?=\r\n <{to_meeting(m)}>\r\n"
        "Subject: =?utf-8?q?Accepteret=3A_Samr=C3=A5d?=\r\nMessage-ID: <enc-1@client>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/calendar; method=REPLY; charset=UTF-8\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n{body}\r\n"
    ).encode()
    mailbox.append(raw)
    report = fetch(engine, mailbox)
    assert (report.processed, report.ignored, report.error) == (1, 0, None)
    assert [(a["participant"], a["answer"]) for a in answers(store, case_id)["answers"]] == [
        ("laerer", "ACCEPTED")
    ]


def test_a_mail_already_processed_is_only_moved(
    mailbox: dc.Dovecot, store: CaseStore, engine: Engine, case_id: int
) -> None:
    m = meeting_of(engine, case_id)
    reply = mail(TEACHER, to_meeting(m), ics(m, TEACHER), message_id="<same@client>")
    mailbox.append(reply)
    fetch(engine, mailbox)
    mailbox.append(reply)  # e.g. the move failed last time, or the client sent it twice
    version = store.snapshot(case_id).version
    report = fetch(engine, mailbox)
    assert (report.processed, report.duplicates) == (0, 1)
    assert store.snapshot(case_id).version == version
    assert mailbox.count("INBOX") == 0


def test_a_required_decline_tells_the_convener_by_role_and_name_in_the_body(
    mailbox: dc.Dovecot, store: CaseStore, engine: Engine, case_id: int
) -> None:
    m = meeting_of(engine, case_id)
    mailbox.append(mail(MOTHER, to_meeting(m), ics(m, MOTHER, "DECLINED")))
    report = fetch(engine, mailbox)
    assert (report.processed, report.declines) == (1, 1)
    told = outbox(engine, template="reply_declined")
    assert len(told) == 1 and told[0].topic == "mor"
    leader = next(p for p in store.show(case_id)["participants"] if p["key"] == "leder")
    assert told[0].participant_id == leader["id"]

    from notifications.delivery import _load_cases
    from notifications.messages import Notification, compose

    with Session(engine) as session:
        loaded = _load_cases(session, [case_id])[case_id]
    composed = compose(
        Notification(
            told[0].id,
            "reply_declined",
            "mor",
            loaded.snapshot,
            loaded.people[told[0].participant_id],
            NOW,
            loaded.meetings[m.id],
        ),
        ORGANIZER,
        NOW,
    )
    body = composed.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Åse Æblegaard (forælder) har meldt afbud" in body
    assert "Æblegaard" not in composed.subject and "forælder" not in composed.subject
    # The same decline again tells nobody twice.
    mailbox.append(
        mail(MOTHER, to_meeting(m), ics(m, MOTHER, "DECLINED", stamp="20270316T110000Z"))
    )
    fetch(engine, mailbox)
    assert len(outbox(engine, template="reply_declined")) == 1


def test_an_older_answer_never_overwrites_a_newer_one(
    mailbox: dc.Dovecot, store: CaseStore, engine: Engine, case_id: int
) -> None:
    store.fire(
        case_id,
        "reschedule",
        LEADER,
        {"start": "2027-03-23T09:00:00+01:00"},
        at("2027-03-16 09:00"),
    )
    m = meeting_of(engine, case_id)
    assert m.sequence == 1
    mailbox.append(mail(TEACHER, to_meeting(m), ics(m, TEACHER, "ACCEPTED", sequence=1)))
    fetch(engine, mailbox)
    # Then the answer to the first invitation arrives late.
    late = ics(m, TEACHER, "DECLINED", sequence=0, stamp="20270316T110000Z")
    mailbox.append(mail(TEACHER, to_meeting(m), late))
    report = fetch(engine, mailbox)
    assert report.reasons == {"a newer answer of this attendee is already recorded": 1}
    shown = answers(store, case_id)
    assert [(a["answer"], a["sequence"]) for a in shown["answers"]] == [("ACCEPTED", 1)]


def test_bad_input_is_ignored_with_its_reason_and_changes_no_answer(
    mailbox: dc.Dovecot, store: CaseStore, engine: Engine, case_id: int
) -> None:
    m = meeting_of(engine, case_id)
    good_to = to_meeting(m)
    version = store.snapshot(case_id).version
    mailbox.append(
        mail(TEACHER, good_to, "BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\nnonsense"),
        mail(TEACHER, good_to, ics(m, TEACHER, uid="someone-else@forloeb")),
        mail(TEACHER, ORGANIZER.reply_address("ffffffffffffffffffff"), ics(m, TEACHER)),
        mail(TEACHER, ORGANIZER.email, ics(m, TEACHER)),
        mail("mallory@example.org", good_to, ics(m, TEACHER, "DECLINED")),
        mail("mallory@example.org", good_to, ics(m, "mallory@example.org", "DECLINED")),
        # A look-alike: "_" is no wildcard, so j_ns@ is not jens@ (the teacher).
        mail("j_ns@skole.example.dk", good_to, ics(m, "j_ns@skole.example.dk", "DECLINED")),
        mail(TEACHER, good_to, None),
        mail(TEACHER, good_to, ics(m, TEACHER), padding=10 * 1024 * 1024),
        mail(TEACHER, good_to, ics(m, TEACHER, sequence=5)),
        b"\xff\xfe not a mail at all \x00",
    )
    report = fetch(engine, mailbox)
    assert report.error is None
    assert (report.processed, report.ignored) == (0, 11)
    assert report.reasons == {
        "malformed iCalendar": 1,
        "the UID is not the meeting's of this token": 1,
        "the token matches no meeting": 1,
        "not sent to a meeting's reply address (no token)": 1,
        "the mail is not from the ATTENDEE it answers for": 1,
        "the ATTENDEE is not invited to this meeting": 2,
        "no calendar part (text or HTML only)": 2,
        "larger than an answer can be": 1,
        "SEQUENCE 5 is newer than the meeting's": 1,
    }
    assert answers(store, case_id)["answers"] == []
    assert store.snapshot(case_id).version == version
    assert mailbox.count("INBOX") == 0
    with Session(engine) as session:
        kept = session.scalars(select(ProcessedMessageRow.reason)).all()
    assert len(kept) == 11 and all(kept)


def test_an_imap_server_that_is_down_or_refuses_tls_is_one_error(
    imap: dc.Dovecot, engine: Engine
) -> None:
    from notifications.capture import free_port

    down = fetch_replies(engine, NOW, imap.settings(port=free_port()), ORGANIZER)
    assert down.error is not None and "cannot read the organizer mailbox" in down.error
    # TLS spoken to the plain port: the handshake fails, nothing is read in the clear.
    plain = fetch_replies(engine, NOW, imap.settings(port=imap.plain_port), ORGANIZER)
    assert plain.error is not None and plain.processed == 0
    # A wrong password is refused, in one line.
    refused = fetch_replies(engine, NOW, imap.settings(password="forkert"), ORGANIZER)
    assert refused.error is not None and "forkert" not in refused.error


def test_starttls_is_used_on_the_plain_port(
    mailbox: dc.Dovecot, store: CaseStore, engine: Engine, case_id: int
) -> None:
    m = meeting_of(engine, case_id)
    mailbox.append(mail(TEACHER, to_meeting(m), ics(m, TEACHER)))
    report = fetch(engine, mailbox, port=mailbox.plain_port, tls=ImapTLS.STARTTLS)
    assert (report.processed, report.error) == (1, None)


def test_two_fetches_at_once_apply_each_answer_once(
    mailbox: dc.Dovecot, store: CaseStore, engine: Engine, case_id: int
) -> None:
    m = meeting_of(engine, case_id)
    people = [TEACHER, MOTHER, LEADER, "signe@ppr.example.dk", "aylin@skole.example.dk"]
    mailbox.append(*(mail(p, to_meeting(m), ics(m, p)) for p in people))
    version = store.snapshot(case_id).version
    reports: list[FetchReport] = []

    def run() -> None:
        reports.append(fetch(engine, mailbox))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.error for r in reports] == [None, None]
    assert sum(r.processed for r in reports) == 5
    assert store.snapshot(case_id).version == version + 5
    assert len(answers(store, case_id)["answers"]) == 5
    assert mailbox.count("INBOX") == 0


def test_a_counter_is_a_proposal_on_the_case_and_the_convener_is_told(
    mailbox: dc.Dovecot,
    store: CaseStore,
    engine: Engine,
    case_id: int,
    smtp_server: Server,
) -> None:
    m = meeting_of(engine, case_id)
    counter = ics(
        m,
        TEACHER,
        "TENTATIVE",
        method="COUNTER",
        start="20270324T130000",
        end="20270324T143000",
        others=(LEADER,),
    )
    mailbox.append(mail(TEACHER, to_meeting(m), counter, method="COUNTER"))
    report = fetch(engine, mailbox)
    assert (report.processed, report.proposals) == (1, 1)
    shown = answers(store, case_id)
    assert shown["proposals"][0]["participant"] == "laerer"
    assert shown["proposals"][0]["start"] == "2027-03-24T13:00:00+01:00"
    assert shown["answers"] == []  # a proposal is not an answer

    # The convener (the school leader) hears of it at once, with the proposed time.
    told = outbox(engine, template="reply_counter")
    leader = next(p for p in store.show(case_id)["participants"] if p["key"] == "leder")
    assert [(o.participant_id, o.topic) for o in told] == [(leader["id"], "laerer")]
    deliver_outbox(
        engine, NOW, AioSmtpMailer(smtp_server.settings), organizer=ORGANIZER, settings=FAST
    )
    (received,) = [
        r
        for r in smtp_server.recorder.to(LEADER)
        if r.message["X-Forloeb-Template"] == "reply_counter"
    ]
    subject = str(received.message["Subject"])
    body = received.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "foreslår et andet tidspunkt" in body
    assert "onsdag den 24. marts 2027 kl. 13.00–14.30" in body
    assert subject.startswith("Forslag om nyt tidspunkt for Samråd")
    assert "Jens" not in subject and "lærer" not in subject


def _bounce(original: str, recipient: str) -> bytes:
    return (
        "From: MAILER-DAEMON@mx.example.dk\r\nTo: samraad@kommune.example.dk\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <bounce-1@mx>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="r"\r\n\r\n'
        "--r\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--r\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.dk\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n"
        "--r\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: samraad@kommune.example.dk\r\nMessage-ID: {original}\r\n\r\n--r--\r\n"
    ).encode()


def test_a_bounce_fails_that_message_and_tells_the_coordinator(
    mailbox: dc.Dovecot, store: CaseStore, engine: Engine, case_id: int
) -> None:
    with Session(engine) as session, session.begin():
        row = session.scalars(
            select(OutboxRow).where(OutboxRow.template == "invitation").order_by(OutboxRow.id)
        ).first()
        assert row is not None
        row.status, row.message_id, row.sent_at = "sent", "<forloeb.1.1.x@kommune>", NOW
        target, participant = row.id, row.participant_id
    address = next(
        p["email"] for p in store.show(case_id)["participants"] if p["id"] == participant
    )
    mailbox.append(_bounce("<forloeb.1.1.x@kommune>", address))
    report = fetch(engine, mailbox)
    assert (report.processed, report.bounces) == (1, 1)
    failed = outbox(engine, id=target)[0]
    assert failed.status == "failed" and "bounced" in (failed.last_error or "")
    escalations = outbox(engine, template="escalation", topic="delivery_failed")
    assert len(escalations) == 1


def test_no_answer_brings_one_reminder_two_working_days_before(
    store: CaseStore, engine: Engine, case_id: int
) -> None:
    # The meeting is Monday 22 March 09:00: two working days before is Thursday 18 March.
    assert queue_reply_reminders(engine, at("2027-03-17 12:00"), 2).queued == 0
    first = queue_reply_reminders(engine, at("2027-03-18 08:00"), 2)
    reminded = outbox(engine, template="reminder", topic="reply")
    # The required attendees with an address: not the father (none), nor the coordinator.
    assert first.queued == len(reminded) == 7
    assert queue_reply_reminders(engine, at("2027-03-19 08:00"), 2).queued == 0


def test_who_answered_gets_no_reminder(
    mailbox: dc.Dovecot, store: CaseStore, engine: Engine, case_id: int
) -> None:
    m = meeting_of(engine, case_id)
    mailbox.append(mail(TEACHER, to_meeting(m), ics(m, TEACHER, "TENTATIVE")))
    fetch(engine, mailbox)
    queue_reply_reminders(engine, at("2027-03-18 08:00"), 2)
    reminded = {r.participant_id for r in outbox(engine, template="reminder", topic="reply")}
    teacher = next(p["id"] for p in store.show(case_id)["participants"] if p["key"] == "laerer")
    assert teacher not in reminded and len(reminded) == 6


def test_the_token_separator_is_configurable() -> None:
    organizer = Organizer.from_env(
        {"FORLOEB_ORGANIZER": "moede@k.dk", "FORLOEB_REPLY_TOKEN_SEPARATOR": "-"}
    )
    assert organizer.reply_address("abc123") == "moede-abc123@k.dk"
    assert organizer.token_of("Moede-ABC123@K.dk") == "abc123"
    assert organizer.token_of("moede@k.dk") is None
    assert organizer.token_of("moede-abc123@other.dk") is None


# ------------------------------------------------------------------ one occurrence of a series

WORKER, DAYCARE_LEADER = "sara@familie.example.dk", "leder@solsikken.example.dk"
SUBSTITUTE = "sune@familie.example.dk"
MONTHLY_CASE: dict[str, Any] = {
    "title": "Børnehuset Solsikken",
    "location": "Børnehuset Solsikken, personalerummet",
    "daycare": "dt-solsikken",
    "kind": "monthly",
    "participants": [
        {"key": "sr", "role": "social_worker", "name": "Sara Socialrådgiver", "email": WORKER},
        {"key": "leder", "role": "leader", "name": "Lone Leder", "email": DAYCARE_LEADER},
    ],
}
# The second Tuesday of each month at 09:00, January–June 2027; 13 April is a closure day.
PLAN = {"first": "2027-01-12T09:00:00+01:00", "until": "2027-06-30", "closure_days": ["2027-04-13"]}
# Outlook names Copenhagen by its Windows zone, defined in the message.
ROMANCE = (
    "BEGIN:VTIMEZONE\r\nTZID:Romance Standard Time\r\n"
    "BEGIN:STANDARD\r\nDTSTART:16010101T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\n"
    "RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10\r\nEND:STANDARD\r\n"
    "BEGIN:DAYLIGHT\r\nDTSTART:16010101T020000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\n"
    "RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n"
)


#: The replies to the series are read early in January, before any of its meetings.
SERIES_NOW = at("2027-01-05 12:00")


def fetch_early(engine: Engine, box: dc.Dovecot) -> FetchReport:
    return fetch_replies(engine, SERIES_NOW, box.settings(), ORGANIZER)


@pytest.fixture
def series_case(store: CaseStore) -> int:
    case_id = store.open_case("consultation", MONTHLY_CASE, at("2027-01-04 09:00"))
    store.fire(case_id, "plan_monthly", WORKER, PLAN, at("2027-01-04 10:00"))
    return case_id


def occurrence_ics(
    meeting: MeetingRow,
    attendee: str,
    partstat: str = "DECLINED",
    *,
    occurrence: str | None = "RECURRENCE-ID;TZID=Europe/Copenhagen:20270209T090000",
    sequence: int = 0,
    method: str = "REPLY",
    stamp: str = "20270105T100000Z",
    zone: str = "",
) -> str:
    """A reply as a client sends it for one occurrence: the series' UID, the occurrence's
    RECURRENCE-ID (its start as the rule gives it) and SEQUENCE, only the replying
    ATTENDEE."""
    lines = [
        "BEGIN:VCALENDAR",
        "PRODID:Microsoft Exchange Server 2010",
        "VERSION:2.0",
        f"METHOD:{method}",
    ]
    lines += [zone.rstrip("\r\n")] if zone else []
    lines += ["BEGIN:VEVENT", f"UID:{meeting.uid}", f"SEQUENCE:{sequence}", f"DTSTAMP:{stamp}"]
    lines += [occurrence] if occurrence else []
    if method == "COUNTER":
        lines += ["DTSTART:20270210T080000Z", "DTEND:20270210T090000Z"]
    lines += [
        f"ATTENDEE;PARTSTAT={partstat}:mailto:{attendee}",
        f"ORGANIZER:mailto:{to_meeting(meeting)}",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "\r\n".join(lines) + "\r\n"


def send(box: dc.Dovecot, meeting: MeetingRow, sender: str, calendar: str, **kw: Any) -> None:
    box.append(mail(sender, to_meeting(meeting), calendar, message_id=f"<{uuid4()}@client>", **kw))


def test_an_answer_to_one_occurrence_counts_for_it_alone_and_tells_the_convener_its_date(
    mailbox: dc.Dovecot,
    store: CaseStore,
    engine: Engine,
    series_case: int,
    smtp_server: Server,
) -> None:
    m = meeting_of(engine, series_case)
    # The leader cannot come on 9 February (and 9 March); the social worker accepts the
    # series as a whole.
    send(mailbox, m, DAYCARE_LEADER, occurrence_ics(m, DAYCARE_LEADER))
    march = "RECURRENCE-ID;TZID=Europe/Copenhagen:20270309T090000"
    send(mailbox, m, DAYCARE_LEADER, occurrence_ics(m, DAYCARE_LEADER, occurrence=march))
    send(mailbox, m, WORKER, occurrence_ics(m, WORKER, "ACCEPTED", occurrence=None))
    report = fetch_early(engine, mailbox)
    assert (report.processed, report.ignored, report.declines) == (3, 0, 2)

    shown = answers(store, series_case)
    assert [(a["participant"], a["answer"], a["current"]) for a in shown["answers"]] == [
        ("sr", "ACCEPTED", True)
    ]
    assert shown["tally"] == "required: accepted 1 of 2"  # the series' answers
    assert [
        (a["participant"], a["occurrence"], a["start"], a["answer"], a["current"])
        for a in shown["occurrence_answers"]
    ] == [
        ("leder", "2027-02-09T09:00:00+01:00", "2027-02-09T09:00:00+01:00", "DECLINED", True),
        ("leder", "2027-03-09T09:00:00+01:00", "2027-03-09T09:00:00+01:00", "DECLINED", True),
    ]
    replies = [h for h in store.show(series_case)["history"] if h["event"] == "reply"]
    assert replies[0]["details"]["occurrence"] == "2027-02-09T09:00:00+01:00"
    assert "occurrence" not in replies[-1]["details"]

    # The convener (the social worker) is told of each declined occurrence, with its date:
    # both mails go out in one delivery run, each with its own text.
    told = outbox(engine, template="reply_declined")
    assert [(o.topic, o.recurrence_id) for o in told] == [
        ("leder", at("2027-02-09 09:00")),
        ("leder", at("2027-03-09 09:00")),
    ]
    deliver_outbox(
        engine, NOW, AioSmtpMailer(smtp_server.settings), organizer=ORGANIZER, settings=FAST
    )
    bodies = [
        r.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        for r in smtp_server.recorder.to(WORKER)
        if r.message["X-Forloeb-Template"] == "reply_declined"
    ]
    assert len(bodies) == 2
    assert "tirsdag den 9. februar 2027 kl. 9.00" in bodies[0]
    assert "tirsdag den 9. marts 2027 kl. 9.00" in bodies[1]
    assert all("Lone Leder (daginstitutionsleder) har meldt afbud" in b for b in bodies)

    # A later answer to the whole series does not replace the one to the occurrence.
    send(
        mailbox,
        m,
        DAYCARE_LEADER,
        occurrence_ics(m, DAYCARE_LEADER, "ACCEPTED", occurrence=None, stamp="20270106T100000Z"),
    )
    fetch_early(engine, mailbox)
    shown = answers(store, series_case)
    assert {(a["participant"], a["answer"]) for a in shown["answers"]} == {
        ("sr", "ACCEPTED"),
        ("leder", "ACCEPTED"),
    }
    assert [a["answer"] for a in shown["occurrence_answers"]] == ["DECLINED", "DECLINED"]


def test_an_occurrence_changed_on_its_own_is_answered_by_its_own_attendees_and_sequence(
    mailbox: dc.Dovecot, store: CaseStore, engine: Engine, series_case: int
) -> None:
    # Another social worker covers 9 February; 9 March moves to the 10th.
    cover = {
        "session": "2027-02-09T09:00:00+01:00",
        "start": "2027-02-09T09:00:00+01:00",
        "worker": {"name": "Sune Socialrådgiver", "email": SUBSTITUTE},
    }
    store.fire(series_case, "cover_meeting", DAYCARE_LEADER, cover, at("2027-01-05 09:00"))
    moved = {"session": "2027-03-09T09:00:00+01:00", "start": "2027-03-10T09:00:00+01:00"}
    store.fire(series_case, "move_meeting", DAYCARE_LEADER, moved, at("2027-01-05 09:10"))
    m = meeting_of(engine, series_case)
    assert m.sequence == 0  # the series itself did not change

    # Outlook names the moved occurrence by its first start, in its Windows zone.
    outlook_march = 'RECURRENCE-ID;TZID="Romance Standard Time":20270309T090000'
    send(mailbox, m, SUBSTITUTE, occurrence_ics(m, SUBSTITUTE, "ACCEPTED", sequence=1))
    send(
        mailbox,
        m,
        DAYCARE_LEADER,
        occurrence_ics(
            m, DAYCARE_LEADER, "ACCEPTED", occurrence=outlook_march, sequence=1, zone=ROMANCE
        ),
    )
    report = fetch_early(engine, mailbox)
    assert (report.processed, report.ignored) == (2, 0)

    # The fixed social worker is not at the covered meeting, the substitute only there;
    # an answer to the moved meeting's earlier time never overwrites the newer one.
    send(mailbox, m, WORKER, occurrence_ics(m, WORKER, "ACCEPTED", sequence=1))
    send(mailbox, m, SUBSTITUTE, occurrence_ics(m, SUBSTITUTE, "ACCEPTED", occurrence=None))
    send(
        mailbox,
        m,
        DAYCARE_LEADER,
        occurrence_ics(
            m,
            DAYCARE_LEADER,
            "DECLINED",
            occurrence="RECURRENCE-ID;TZID=Europe/Copenhagen:20270309T090000",
            stamp="20270106T100000Z",
        ),
    )
    report = fetch_early(engine, mailbox)
    assert report.reasons == {
        "the ATTENDEE is not invited to this occurrence": 1,
        "the ATTENDEE is not invited to this meeting": 1,
        "a newer answer of this attendee is already recorded": 1,
    }
    shown = answers(store, series_case)
    assert shown["answers"] == []
    assert [
        (a["participant"], a["occurrence"], a["start"], a["answer"], a["sequence"], a["current"])
        for a in shown["occurrence_answers"]
    ] == [
        ("sr-2", "2027-02-09T09:00:00+01:00", "2027-02-09T09:00:00+01:00", "ACCEPTED", 1, True),
        ("leder", "2027-03-09T09:00:00+01:00", "2027-03-10T09:00:00+01:00", "ACCEPTED", 1, True),
    ]
    # The occurrence changes again: the answer stays, but is to an earlier version of it.
    again = {"session": "2027-03-09T09:00:00+01:00", "start": "2027-03-11T09:00:00+01:00"}
    store.fire(series_case, "move_meeting", DAYCARE_LEADER, again, at("2027-01-06 09:00"))
    march = answers(store, series_case)["occurrence_answers"][1]
    assert (march["start"], march["current"]) == ("2027-03-11T09:00:00+01:00", False)


def test_an_occurrence_answer_that_does_not_fit_is_ignored_with_its_reason(
    mailbox: dc.Dovecot, store: CaseStore, engine: Engine, series_case: int, case_id: int
) -> None:
    cancel = {"session": "2027-05-11T09:00:00+02:00", "reason": "Personalemøde"}
    store.fire(series_case, "cancel_meeting", WORKER, cancel, at("2027-01-05 09:00"))
    m = meeting_of(engine, series_case)
    single = meeting_of(engine, case_id)
    version = store.snapshot(series_case).version
    tz = "RECURRENCE-ID;TZID=Europe/Copenhagen:"

    def leader(**kw: Any) -> None:
        send(mailbox, m, DAYCARE_LEADER, occurrence_ics(m, DAYCARE_LEADER, **kw))

    leader(occurrence=tz + "20270210T090000")  # a Wednesday: no meeting of the series
    leader(occurrence=tz + "20270413T090000")  # the closure day, left out (EXDATE)
    leader(occurrence=tz + "20270511T090000")  # cancelled on its own
    leader(occurrence="RECURRENCE-ID:20270209T090000")  # floating: no moment
    leader(occurrence=tz.replace(";TZID", ";RANGE=THISANDFUTURE;TZID") + "20270209T090000")
    leader(sequence=1)  # the occurrence was never changed: it has the series' SEQUENCE 0
    leader(method="COUNTER", partstat="TENTATIVE")
    send(mailbox, single, TEACHER, occurrence_ics(single, TEACHER))
    report = fetch_early(engine, mailbox)
    assert report.error is None and report.processed == 0
    assert report.reasons == {
        "the RECURRENCE-ID is no occurrence of the series": 2,
        "the occurrence is cancelled": 1,
        "RECURRENCE-ID is not a time with a zone": 1,
        "an answer for an occurrence and all after it": 1,
        "SEQUENCE 1 is newer than the occurrence's": 1,
        "a proposed time for one occurrence of a series": 1,
        "a RECURRENCE-ID, but the meeting is not a series": 1,
    }
    assert answers(store, series_case)["occurrence_answers"] == []
    assert answers(store, case_id)["answers"] == []
    assert store.snapshot(series_case).version == version
    assert outbox(engine, template="reply_declined") == []


def test_the_database_keeps_one_answer_per_participant_and_occurrence(
    store: CaseStore, engine: Engine, series_case: int
) -> None:
    """The series' answer has no RECURRENCE-ID, and NULLs are distinct in a unique
    constraint: a partial unique index keeps it one per participant, as before."""
    from sqlalchemy import insert
    from sqlalchemy.exc import IntegrityError

    from persistence.replies import replies

    m = meeting_of(engine, series_case)
    person = next(p["id"] for p in store.show(series_case)["participants"] if p["key"] == "sr")
    row = {"meeting_id": m.id, "participant_id": person, "partstat": "ACCEPTED", "sequence": 0}
    row["recurrence_id"] = None
    february = {**row, "recurrence_id": at("2027-02-09 09:00")}
    with engine.begin() as conn:
        conn.execute(
            insert(replies), [row, february, {**row, "recurrence_id": at("2027-03-09 09:00")}]
        )
    for again in (row, february):
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(insert(replies), again)
