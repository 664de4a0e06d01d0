"""Delivery against a real SMTP server (aiosmtpd, STARTTLS with trustme certificates):
a whole samråd, every message parsed back, and the faults that happen in real life."""

from __future__ import annotations

from datetime import datetime, timedelta

import ics
import vobject
from icalendar import Calendar
from sqlalchemy import Engine

from machines import COPENHAGEN
from notifications import AioSmtpMailer, Outgoing, deliver_outbox
from persistence import CaseStore

from .conftest import (
    CASE_FILE,
    COORDINATOR,
    FAST,
    INVITED,
    LEADER,
    ORGANIZER,
    PPR,
    PUPIL_NAME,
    Received,
    Server,
    at,
    notes,
    open_case,
    outbox,
    schedule,
)


def deliver(engine: Engine, server: Server, now: datetime, batch: int = 100):  # type: ignore[no-untyped-def]
    return deliver_outbox(
        engine,
        now,
        AioSmtpMailer(server.settings),
        batch=batch,
        organizer=ORGANIZER,
        settings=FAST,
    )


def check_message(received: Received) -> Calendar | None:
    """Parse a sent message back: part tree, method= equals METHOD, three iCalendar parsers."""
    message = received.message
    assert received.mail_from == ORGANIZER.email
    assert message["Message-ID"]
    kinds = [p.get_content_type() for p in message.walk()]
    if "text/calendar" not in kinds:
        assert kinds == ["multipart/alternative", "text/plain", "text/html"]
        return None
    assert kinds == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "text/calendar",
        "application/ics",
    ]
    part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    raw = part.get_payload(decode=True)
    assert isinstance(raw, bytes)
    calendar = Calendar.from_ical(raw)
    assert part.get_param("method") == calendar["METHOD"]
    text = raw.decode("utf-8")
    v_event = vobject.readOne(text).vevent
    i_event = next(iter(ics.Calendar(text).events))
    event = calendar.events[0]
    assert v_event.uid.value == i_event.uid == event["UID"]
    assert v_event.dtstart.value == i_event.begin.datetime == event.start
    for shown in (event["SUMMARY"], event["LOCATION"], str(message["Subject"])):
        assert "Ida" not in shown and "fravær" not in shown.lower()
    return calendar


# ------------------------------------------------------------------ a whole samråd


def test_a_whole_samraad_sends_the_expected_mails_to_the_expected_people(
    store: CaseStore, engine: Engine, smtp_server: Server
) -> None:
    recorder = smtp_server.recorder
    case_id = open_case(store)
    schedule(store, case_id, "2027-03-22T09:00:00+01:00")
    report = deliver(engine, smtp_server, at("2027-03-15 10:05"))
    assert (report.sent, report.transport_error) == (len(INVITED), None)

    store.fire(
        case_id,
        "reschedule",
        LEADER,
        {"start": "2027-03-23T13:00:00+01:00"},
        at("2027-03-16 11:00"),
    )
    deliver(engine, smtp_server, at("2027-03-16 11:05"))
    store.sweep(at("2027-03-19 08:00"))  # the reminder, 2 working days before
    deliver(engine, smtp_server, at("2027-03-19 08:05"))

    store.fire(case_id, "start_meeting", PPR, {}, at("2027-03-23 13:00"))
    store.fire(case_id, "next_round", PPR, {"notes": notes()}, at("2027-03-23 13:30"))
    store.fire(case_id, "next_round", PPR, {"notes": notes()}, at("2027-03-23 14:00"))
    store.fire(
        case_id,
        "conclude",
        LEADER,
        {
            "notes": notes(),
            "decisions": ["Morgenaftale med skolen"],
            "follow_up": {"start": "2027-04-26T09:00:00+02:00"},
        },
        at("2027-03-23 14:20"),
    )
    store.fire(
        case_id,
        "send_action_plan",
        LEADER,
        {"items": [{"owner": "laerer", "action": "Ringer hjem hver fredag", "due": "2027-04-09"}]},
        at("2027-03-24 12:00"),
    )
    report = deliver(engine, smtp_server, at("2027-03-24 12:05"))
    assert report.transport_error is None

    assert recorder.templates() == {
        "invitation": INVITED,  # the samråd, then the follow-up meeting
        "update": INVITED,
        "reminder": INVITED,
        "action_plan": INVITED,
    }
    assert not recorder.to(COORDINATOR)  # the coordinator is not invited
    assert {row.status for row in outbox(engine)} == {"sent"}
    assert all(row.response and row.response.startswith("250") for row in outbox(engine))

    calendars = [c for r in recorder.received if (c := check_message(r)) is not None]
    by_uid: dict[str, list[int]] = {}
    for calendar in calendars:
        event = calendar.events[0]
        by_uid.setdefault(str(event["UID"]), []).append(int(event["SEQUENCE"]))
    samraad, follow_up = by_uid.values()
    assert sorted(set(samraad)) == [0, 1]  # invitation, then update and reminder at 1
    assert set(follow_up) == {0}
    # Each person's copy of one message is its own message, with its own Message-ID.
    ids = [r.message["Message-ID"] for r in recorder.received]
    assert len(ids) == len(set(ids))


def test_meetings_across_daylight_saving_arrive_at_nine_local(
    store: CaseStore, engine: Engine, smtp_server: Server
) -> None:
    case_id = store.open_case("samraad", CASE_FILE, at("2027-03-18 08:00"))
    store.fire(case_id, "convene", LEADER, {}, at("2027-03-18 09:00"))
    # Monday after the change to summer time, written in winter time: 08:00+01:00.
    store.fire(
        case_id, "schedule", LEADER, {"start": "2027-03-29T07:00:00Z"}, at("2027-03-18 10:00")
    )
    deliver(engine, smtp_server, at("2027-03-18 10:05"))
    store.fire(
        case_id,
        "reschedule",
        LEADER,
        {"start": "2027-11-01T09:00:00+01:00", "reason": "PPR har først tid i november"},
        at("2027-03-19 10:00"),
    )
    deliver(engine, smtp_server, at("2027-03-19 10:05"))
    starts = {}
    for received in smtp_server.recorder.to(LEADER):
        calendar = check_message(received)
        assert calendar is not None
        text = calendar.to_ical().decode()
        for parsed in (
            calendar.events[0].start,
            vobject.readOne(text).vevent.dtstart.value,
            next(iter(ics.Calendar(text).events)).begin.datetime,
        ):
            local = parsed.astimezone(COPENHAGEN)
            assert (local.hour, local.minute) == (9, 0)
        starts[str(received.message["X-Forloeb-Template"])] = calendar.events[0].start
    assert starts["invitation"].utcoffset() == timedelta(hours=2)
    assert starts["update"].utcoffset() == timedelta(hours=1)
    assert (starts["invitation"].date().isoformat(), starts["update"].date().isoformat()) == (
        "2027-03-29",
        "2027-11-01",
    )


def test_deadline_warning_to_the_leader_and_escalation_to_the_coordinator(
    store: CaseStore, engine: Engine, smtp_server: Server
) -> None:
    case_id = open_case(store)
    store.fire(case_id, "convene", LEADER, {}, at("2027-03-15 09:00"))
    store.sweep(at("2027-03-22 08:00"))
    store.sweep(at("2027-03-25 00:30"))
    deliver(engine, smtp_server, at("2027-03-25 00:35"))
    assert smtp_server.recorder.templates() == {
        "deadline_warning": {LEADER},
        "escalation": {COORDINATOR},
    }
    (escalation,) = smtp_server.recorder.to(COORDINATOR)
    assert check_message(escalation) is None
    body = escalation.message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert f"Sag {case_id}" in text and f"forloeb case show {case_id}" in text
    assert "onsdag den 24. marts 2027" in text
    assert PUPIL_NAME not in text and "Ida" not in text


def test_cancellation_removes_the_meeting(
    store: CaseStore, engine: Engine, smtp_server: Server
) -> None:
    case_id = open_case(store)
    schedule(store, case_id)
    deliver(engine, smtp_server, at("2027-03-15 10:05"))
    store.fire(case_id, "cancel", LEADER, {"reason": "Skolen er lukket"}, at("2027-03-16 09:00"))
    deliver(engine, smtp_server, at("2027-03-16 09:05"))
    invitations = [
        r for r in smtp_server.recorder.received if r.message["X-Forloeb-Template"] == "invitation"
    ]
    cancellations = [
        r
        for r in smtp_server.recorder.received
        if r.message["X-Forloeb-Template"] == "cancellation"
    ]
    assert {a for r in cancellations for a in r.rcpt_tos} == INVITED
    first = check_message(invitations[0])
    last = check_message(cancellations[0])
    assert first is not None and last is not None
    assert last["METHOD"] == "CANCEL" and last.events[0]["STATUS"] == "CANCELLED"
    assert last.events[0]["UID"] == first.events[0]["UID"]
    assert last.events[0]["SEQUENCE"] > first.events[0]["SEQUENCE"]


def test_an_invitation_still_queued_when_the_meeting_is_cancelled_is_superseded(
    store: CaseStore, engine: Engine, smtp_server: Server
) -> None:
    case_id = open_case(store)
    schedule(store, case_id)
    store.fire(case_id, "cancel", LEADER, {"reason": "Skolen er lukket"}, at("2027-03-15 10:01"))
    report = deliver(engine, smtp_server, at("2027-03-15 10:05"))
    assert (report.superseded, report.sent) == (len(INVITED), len(INVITED))
    assert set(smtp_server.recorder.templates()) == {"cancellation"}
    superseded = outbox(engine, template="invitation")
    assert {r.status for r in superseded} == {"superseded"}
    assert all("cancelled" in (r.last_error or "") for r in superseded)


# ------------------------------------------------------------------ bad input


def test_a_participant_without_address_stays_on_the_case_but_gets_no_mail(
    store: CaseStore, engine: Engine, smtp_server: Server
) -> None:
    case_id = open_case(store)
    schedule(store, case_id)
    deliver(engine, smtp_server, at("2027-03-15 10:05"))
    snapshot = store.snapshot(case_id)
    far = snapshot.participant("far")
    assert far is not None and far.email is None
    assert "far" in snapshot.meetings[0].attendees
    assert len(smtp_server.recorder.received) == len(INVITED)
    # He is still listed among the invited, so the others know he is expected.
    body = smtp_server.recorder.to(LEADER)[0].message.get_body(("plain",))
    assert body is not None and "Ole Æblegaard (forælder)" in body.get_content()


# ------------------------------------------------------------------ faults


def test_without_starttls_nothing_is_sent_and_the_rows_stay_pending(
    store: CaseStore, engine: Engine, plain_server: Server
) -> None:
    case_id = open_case(store)
    schedule(store, case_id)
    report = deliver(engine, plain_server, at("2027-03-15 10:05"))
    assert report.transport_error is not None
    assert "does not offer STARTTLS" in report.transport_error
    assert report.sent == 0 and report.deferred == len(INVITED)
    assert plain_server.recorder.received == []
    rows = outbox(engine)
    assert {r.status for r in rows} == {"pending"}
    assert {r.attempts for r in rows} == {0}
    assert all("STARTTLS" in (r.last_error or "") for r in rows)
    assert all(r.next_attempt_at <= at("2027-03-15 10:05") for r in rows)  # due at once


def test_server_gone_mid_batch_the_rest_is_sent_once_when_it_returns(
    store: CaseStore, engine: Engine, smtp_server: Server
) -> None:
    recorder = smtp_server.recorder
    case_id = open_case(store)
    schedule(store, case_id)
    recorder.vanish_after = 3
    report = deliver(engine, smtp_server, at("2027-03-15 10:05"))
    assert report.transport_error is not None
    assert (report.sent, report.retrying) == (3, 1)  # the one in flight counts an attempt
    assert report.deferred == len(INVITED) - 4
    assert len(recorder.received) == 3
    assert len(outbox(engine, status="pending")) == len(INVITED) - 3

    # Still down: nothing moves, nothing is counted against the rows.
    deliver(engine, smtp_server, at("2027-03-15 10:06"))
    assert len(recorder.received) == 3

    recorder.down = False  # back
    report = deliver(engine, smtp_server, at("2027-03-15 10:10"))
    assert report.transport_error is None
    assert {r.status for r in outbox(engine)} == {"sent"}
    addresses = [a for r in recorder.received for a in r.rcpt_tos]
    assert sorted(addresses) == sorted(INVITED)  # each exactly once
    ids = [r.message["Message-ID"] for r in recorder.received]
    assert len(ids) == len(set(ids))


def test_one_refused_recipient_others_delivered_refusal_recorded_coordinator_told(
    store: CaseStore, engine: Engine, smtp_server: Server
) -> None:
    recorder = smtp_server.recorder
    refused = "jens@skole.example.dk"
    recorder.refuse[refused] = f"550 5.1.1 <{refused}>: Recipient address rejected: User unknown"
    case_id = open_case(store)
    schedule(store, case_id)
    report = deliver(engine, smtp_server, at("2027-03-15 10:05"))

    assert report.failed == 1 and report.escalations == 1
    assert report.sent == len(INVITED) - 1 + 1  # the others, then the escalation
    assert recorder.templates()["invitation"] == INVITED - {refused}
    (row,) = outbox(engine, status="failed")
    assert row.attempts == 1  # a 5xx is permanent: no retries
    assert row.response is not None and row.response.startswith("550 5.1.1")
    assert row.last_error is not None and "User unknown" in row.last_error

    (escalation,) = recorder.to(COORDINATOR)
    assert escalation.message["Subject"] == f"Eskalering: sag {case_id} – mails kunne ikke leveres"
    body = escalation.message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "Invitation til klasselærer (laerer) (1 forsøg): 550 5.1.1" in text
    assert refused not in text and "<adresse>" in text  # the role stands in for the address
    assert f"forloeb case show {case_id}" in text


def test_temporary_failures_back_off_then_fail_and_escalate(
    store: CaseStore, engine: Engine, smtp_server: Server
) -> None:
    recorder = smtp_server.recorder
    busy = "per@uu.example.dk"
    recorder.refuse[busy] = "450 4.2.1 Mailbox busy, try again later"
    case_id = open_case(store)
    schedule(store, case_id)
    now = at("2027-03-15 10:05")
    report = deliver(engine, smtp_server, now)
    assert report.retrying == 1 and report.failed == 0
    (row,) = outbox(engine, status="pending")
    assert (row.attempts, row.next_attempt_at) == (1, now + timedelta(minutes=1))

    assert deliver(engine, smtp_server, now + timedelta(seconds=30)).retrying == 0  # not yet due
    assert deliver(engine, smtp_server, now + timedelta(minutes=1)).retrying == 1
    (row,) = outbox(engine, status="pending")
    assert row.next_attempt_at == now + timedelta(minutes=1) + timedelta(minutes=2)

    report = deliver(engine, smtp_server, now + timedelta(minutes=3))
    assert report.failed == 1 and report.escalations == 1
    (row,) = outbox(engine, status="failed")
    assert row.attempts == 3 and "450 4.2.1" in (row.last_error or "")
    assert recorder.templates()["escalation"] == {COORDINATOR}
    assert case_id == row.case_id


def test_a_failed_escalation_is_not_escalated_again(
    store: CaseStore, engine: Engine, smtp_server: Server
) -> None:
    recorder = smtp_server.recorder
    recorder.refuse["jens@skole.example.dk"] = "550 5.1.1 User unknown"
    recorder.refuse[COORDINATOR] = "550 5.1.1 User unknown"
    case_id = open_case(store)
    schedule(store, case_id)
    report = deliver(engine, smtp_server, at("2027-03-15 10:05"))
    failed = outbox(engine, status="failed")
    assert [r.template for r in failed] == ["invitation", "escalation"]
    assert report.unescalated == [failed[1].id]
    assert not report.ok
    assert len(outbox(engine, case_id=case_id)) == len(INVITED) + 1


def test_without_a_coordinator_a_failure_is_reported_not_dropped(
    store: CaseStore, engine: Engine, smtp_server: Server
) -> None:
    smtp_server.recorder.refuse["jens@skole.example.dk"] = "550 5.1.1 User unknown"
    people = [p for p in CASE_FILE["participants"] if p["role"] != "coordinator"]
    case_id = open_case(store, participants=people)
    schedule(store, case_id)
    report = deliver(engine, smtp_server, at("2027-03-15 10:05"))
    (row,) = outbox(engine, status="failed")
    assert report.unescalated == [row.id] and report.escalations == 0
    assert "no coordinator" in report.summary()


def test_one_connection_per_batch_and_batches_until_the_outbox_is_empty(
    store: CaseStore, engine: Engine, smtp_server: Server
) -> None:
    for _ in range(3):
        schedule(store, open_case(store))
    report = deliver(engine, smtp_server, at("2027-03-15 10:05"), batch=5)
    assert report.sent == 3 * len(INVITED)
    assert outbox(engine, status="pending") == []


def test_the_mailer_reports_each_recipient_of_a_message(smtp_server: Server) -> None:
    # aiosmtplib raises SMTPRecipientsRefused only when every recipient is refused; a
    # partly refused message must still say who got it and who did not.
    smtp_server.recorder.refuse["nej@example.dk"] = "550 5.1.1 User unknown"
    mailer = AioSmtpMailer(smtp_server.settings)
    data = b"From: a@example.dk\r\nSubject: test\r\n\r\nhej\r\n"
    batch = mailer.send_batch(
        [
            Outgoing(1, "a@example.dk", ("ja@example.dk", "nej@example.dk"), data),
            Outgoing(2, "a@example.dk", ("nej@example.dk",), data),
        ]
    )
    both, refused = batch.results
    assert both.delivered and set(both.accepted) == {"ja@example.dk"}
    assert both.refused == {"nej@example.dk": (550, "5.1.1 User unknown")}
    assert not refused.delivered and refused.refused["nej@example.dk"][0] == 550
    assert [r.rcpt_tos for r in smtp_server.recorder.received] == [["ja@example.dk"]]


def test_nothing_due_needs_no_smtp_server(engine: Engine) -> None:
    report = deliver_outbox(engine, at("2027-03-15 10:05"), organizer=ORGANIZER)
    assert report.sent == 0 and report.ok
