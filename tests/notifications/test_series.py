"""Recurring meetings: our expander (machines.series) against an independent one
(recurring_ical_events) on the calendar we send, over a year and across both
daylight-saving changes; the occurrence messages Outlook and Google need; three parsers;
a Radicale round trip."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, date, datetime, timedelta

import caldav
import ics
import pytest
import recurring_ical_events
import vobject
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar import Calendar
from sqlalchemy import Engine

from machines import COPENHAGEN, Override, Series, SeriesRule, WorkingCalendar, closure_exdates
from machines.recurring import stored_occurrences as stored_sessions
from notifications import (
    AioSmtpMailer,
    Attendee,
    CalendarUser,
    MeetingInvite,
    Method,
    build_invite,
    deliver_outbox,
    recurrence_of,
)
from persistence import CaseStore

from .conftest import FAST, Server, at
from .conftest import ORGANIZER as ORGANIZER_
from .test_caldav import _as_resource
from .test_caldav import radicale_url as radicale_url

UID = "series-1@forloeb"
ORGANIZER = CalendarUser("dagtilbud@kommune.example.dk", "Dagtilbud, Søernes Kommune")
STAFF = (Attendee("paedagog@example.dk", "Pia Pædagog"),)
CALENDAR = WorkingCalendar()


def series_invite(series: Series, sequence: int = 0) -> MeetingInvite:
    return MeetingInvite(
        uid=UID,
        sequence=sequence,
        start=series.start,
        end=series.end,
        summary="Lille læringsgruppe",
        location="Børnehuset Søstjernen, stue 2",
        organizer=ORGANIZER,
        attendees=STAFF,
        recurrence=recurrence_of(series),
        exdates=tuple(sorted(series.exdates)),
    )


def occurrence_invite(
    series: Series, recurrence_id: datetime, method: Method = Method.REQUEST
) -> MeetingInvite:
    change = series.overrides[recurrence_id]
    return MeetingInvite(
        uid=UID,
        sequence=change.sequence,
        start=change.start,
        end=change.end,
        summary="Lille læringsgruppe",
        location="Børnehuset Søstjernen, stue 2",
        organizer=ORGANIZER,
        attendees=STAFF,
        method=method,
        recurrence_id=recurrence_id,
    )


def weekly(first: datetime, weeks: int = 53, interval: int = 1) -> Series:
    rule = SeriesRule("WEEKLY", interval, count=weeks)
    return Series(first, first + timedelta(hours=1), rule, closure_exdates(first, rule, CALENDAR))


def expanded(*messages: bytes) -> list[tuple[datetime, datetime]]:
    """What an independent expander makes of the calendar a client holds after
    ``messages``: the series, and each occurrence message's VEVENT beside it."""
    calendar = Calendar.from_ical(messages[0])
    for later in messages[1:]:
        for component in Calendar.from_ical(later).walk("VEVENT"):
            calendar.add_component(component)
    events = recurring_ical_events.of(calendar).between(date(2000, 1, 1), date(2100, 1, 1))
    return sorted(
        (e.start, e.end) for e in events if str(e.get("STATUS", "CONFIRMED")) != "CANCELLED"
    )


def ours(series: Series) -> list[tuple[datetime, datetime]]:
    return [(o.start, o.end) for o in series.held_or_planned()]


# ------------------------------------------------------------------ expansion


def test_a_year_of_weekly_meetings_equals_the_independent_expansion() -> None:
    series = weekly(at("2027-01-06 09:00"))
    theirs = expanded(build_invite(series_invite(series)))
    assert theirs == ours(series)
    # Across both changes (28 March, 31 October 2027) the meeting stays at 09:00 local.
    assert {start.astimezone(COPENHAGEN).hour for start, _ in theirs} == {9}
    assert {start.utcoffset() for start, _ in theirs} == {timedelta(hours=1), timedelta(hours=2)}


def test_closed_days_are_left_out_holidays_days_off_and_given_closures() -> None:
    # A Thursday series: Skærtorsdag (25 March 2027) and Kristi himmelfart (6 May 2027) are
    # public holidays; 24 December 2026 a municipal day off; 12 August 2027 a closure day.
    first = at("2026-12-03 10:00")
    rule = SeriesRule("WEEKLY", count=40)
    exdates = closure_exdates(first, rule, CALENDAR, closed=[date(2027, 8, 12)])
    assert {d.date() for d in exdates} == {
        date(2026, 12, 24),
        date(2026, 12, 31),
        date(2027, 3, 25),
        date(2027, 5, 6),
        date(2027, 8, 12),
    }
    series = Series(first, first + timedelta(minutes=45), rule, exdates)
    raw = build_invite(series_invite(series))
    assert expanded(raw) == ours(series)
    assert len(ours(series)) == 35


def test_every_fourteen_days_and_monthly_until_a_date() -> None:
    fortnightly = weekly(at("2027-02-03 14:00"), weeks=27, interval=2)
    assert expanded(build_invite(series_invite(fortnightly))) == ours(fortnightly)
    # Monthly on the 31st skips the months without one (RFC 5545), as both expanders do.
    first = at("2027-01-31 13:00")
    rule = SeriesRule("MONTHLY", until=at("2027-12-31 13:00"))
    monthly = Series(
        first, first + timedelta(hours=1), rule, closure_exdates(first, rule, CALENDAR)
    )
    theirs = expanded(build_invite(series_invite(monthly)))
    assert theirs == ours(monthly)
    # 31 January and July and October are weekends, 31 December a municipal day off.
    assert [s.month for s, _ in theirs] == [3, 5, 8]


@settings(max_examples=40, deadline=None)
@given(
    first=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 31)).map(
        lambda d: d.replace(
            hour=8 + d.hour % 9, minute=d.minute // 15 * 15, second=0, microsecond=0
        )
    ),
    freq=st.sampled_from(["WEEKLY", "MONTHLY"]),
    interval=st.integers(1, 3),
    count=st.integers(1, 60),
)
def test_any_series_expands_as_the_independent_expander_does(
    first: datetime, freq: str, interval: int, count: int
) -> None:
    start = first.replace(tzinfo=COPENHAGEN)
    rule = SeriesRule(freq, interval, count=count)  # type: ignore[arg-type]
    series = Series(
        start, start + timedelta(minutes=50), rule, closure_exdates(start, rule, CALENDAR)
    )
    if not series.held_or_planned():
        return  # every start on a closed day: nothing to send
    assert expanded(build_invite(series_invite(series))) == ours(series)


# ------------------------------------------------------------------ one occurrence


def test_a_moved_occurrence_is_a_recurrence_id_request_alone_with_a_raised_sequence() -> None:
    series = weekly(at("2027-03-03 09:00"), weeks=10)
    rid = at("2027-03-31 09:00")  # the first Wednesday of summer time
    moved = series.with_override(rid, Override(at("2027-04-01 11:00"), at("2027-04-01 12:00")))
    message = build_invite(occurrence_invite(moved, rid))

    calendar = Calendar.from_ical(message)
    (vevent,) = calendar.walk("VEVENT")  # just that occurrence: what Outlook applies
    assert "RRULE" not in vevent and "EXDATE" not in vevent
    assert vevent["UID"] == UID
    assert vevent["SEQUENCE"] == 1
    assert vevent["RECURRENCE-ID"].dt == rid
    assert vevent["RECURRENCE-ID"].params["TZID"] == "Europe/Copenhagen"
    assert str(calendar["METHOD"]) == "REQUEST"

    theirs = expanded(build_invite(series_invite(series)), message)
    assert theirs == ours(moved)
    assert (at("2027-04-01 11:00"), at("2027-04-01 12:00")) in theirs
    assert all(start != rid for start, _ in theirs)


def test_a_cancelled_occurrence_is_an_explicit_cancel_with_its_recurrence_id() -> None:
    # Google may drop a later EXDATE; an explicit CANCEL of the one occurrence it applies.
    series = weekly(at("2027-10-06 09:00"), weeks=8)
    rid = at("2027-11-03 09:00")  # after the change back to winter time
    gone = series.with_override(rid, Override(rid, rid + timedelta(hours=1), cancelled=True))
    message = build_invite(occurrence_invite(gone, rid, Method.CANCEL))
    calendar = Calendar.from_ical(message)
    (vevent,) = calendar.walk("VEVENT")
    assert str(calendar["METHOD"]) == "CANCEL"
    assert str(vevent["STATUS"]) == "CANCELLED"
    assert vevent["RECURRENCE-ID"].dt == rid
    assert vevent["RECURRENCE-ID"].dt.utcoffset() == timedelta(hours=1)
    theirs = expanded(build_invite(series_invite(series)), message)
    assert theirs == ours(gone)
    assert len(theirs) == len(ours(series)) - 1


def test_ending_a_series_early_is_an_update_of_its_rrule_with_a_raised_sequence() -> None:
    series = weekly(at("2027-01-06 09:00"))
    ended = series.ended_before(at("2027-06-01 00:00"))
    update = build_invite(series_invite(ended, sequence=1))
    (vevent,) = Calendar.from_ical(update).walk("VEVENT")
    assert vevent["SEQUENCE"] == 1
    rule = vevent["RRULE"]
    assert "COUNT" not in rule
    assert rule["UNTIL"][0] == at("2027-05-26 09:00").astimezone(UTC)
    assert expanded(update) == ours(ended)
    assert ours(ended)[-1][0] == at("2027-05-26 09:00")


def test_one_occurrence_has_no_rule_and_exdates_need_a_rule() -> None:
    from machines import InvalidInput

    series = weekly(at("2027-01-06 09:00"), weeks=4)
    with pytest.raises(InvalidInput, match="no rule"):
        build_invite(
            MeetingInvite(**{**series_invite(series).__dict__, "recurrence_id": series.start})
        )
    with pytest.raises(InvalidInput, match="EXDATE"):
        build_invite(
            MeetingInvite(
                **{**series_invite(series).__dict__, "recurrence": None, "exdates": (series.start,)}
            )
        )


def test_a_series_needs_exactly_one_end() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        SeriesRule("WEEKLY")
    with pytest.raises(ValueError, match="exactly one"):
        SeriesRule("WEEKLY", count=3, until=at("2027-01-01 09:00"))


def test_the_stored_form_round_trips() -> None:
    series = weekly(at("2027-03-03 09:00"), weeks=10)
    rid = at("2027-03-31 09:00")
    moved = series.with_override(
        rid, Override(at("2027-04-01 11:00"), at("2027-04-01 12:00"), sequence=2)
    )
    assert Series.from_json(moved.to_json()) == moved


# ------------------------------------------------------------------ parsers and CalDAV


def test_vobject_and_ics_read_the_series_and_its_exdates() -> None:
    series = weekly(at("2026-12-03 09:00"), weeks=10)  # Thursdays: 24 and 31 December closed
    raw = build_invite(series_invite(series))
    parsed = vobject.readOne(raw.decode("utf-8"))
    vevent = parsed.vevent
    starts = list(vevent.getrruleset(addRDate=True))
    assert [s.astimezone(COPENHAGEN) for s in starts] == [o.start for o in series.occurrences()]

    (event,) = ics.Calendar(raw.decode("utf-8")).events
    assert event.begin.datetime == series.start  # ics reads the first start and the rule text
    assert any("RRULE:FREQ=WEEKLY;COUNT=10" in str(line) for line in event.extra)


def test_series_and_a_moved_occurrence_round_trip_through_radicale(radicale_url: str) -> None:
    client = caldav.DAVClient(url=radicale_url, username="paedagog", password="x")
    calendar = client.principal().make_calendar(name="forloeb")
    series = weekly(at("2027-03-03 09:00"), weeks=40)
    rid = at("2027-03-31 09:00")
    moved = series.with_override(rid, Override(at("2027-04-01 11:00"), at("2027-04-01 12:00")))
    # A client files the series and the occurrence as one resource (RFC 4791 4.1).
    whole = Calendar.from_ical(build_invite(series_invite(series)))
    for vevent in Calendar.from_ical(build_invite(occurrence_invite(moved, rid))).walk("VEVENT"):
        whole.add_component(vevent)
    url = f"{str(calendar.url).rstrip('/')}/{UID}.ics"
    response = client.put(
        url, _as_resource(whole.to_ical()), {"Content-Type": "text/calendar; charset=utf-8"}
    )
    assert response.status in (201, 204)

    # The server expands it (CALDAV:expand) to what we computed, within a window across
    # the change to summer time.
    found = calendar.search(
        start=at("2027-03-01 00:00"), end=at("2027-05-01 00:00"), event=True, expand=True
    )
    theirs = sorted(
        (e.icalendar_component.start.astimezone(COPENHAGEN), e.icalendar_component.end)
        for e in found
    )
    window = [
        (s, e) for s, e in ours(moved) if at("2027-03-01 00:00") <= s < at("2027-05-01 00:00")
    ]
    assert theirs == window


# ------------------------------------------------------------------ delivered, end to end


def test_a_learning_groups_series_arrives_as_the_sessions_the_case_holds(
    store: CaseStore, engine: Engine, smtp_server: Server
) -> None:
    """The messages a calendar client receives (series, one moved occurrence, one
    cancelled occurrence, then the series ended early) expand to the case's sessions."""
    from tests.test_learning_group_rules import GROUP, LEADER, PEDAGOGUE, PLAN

    case_id = store.open_case("learning_group", GROUP, at("2027-01-04 09:00"))
    store.fire(case_id, "plan_sessions", PEDAGOGUE, PLAN, at("2027-01-04 10:00"))
    store.fire(
        case_id,
        "move_session",
        PEDAGOGUE,
        {"session": "2027-03-22T10:00:00+01:00", "start": "2027-03-23T13:00:00+01:00"},
        at("2027-01-05 09:00"),
    )
    store.fire(
        case_id,
        "cancel_session",
        PEDAGOGUE,
        {"session": "2027-02-01T10:00:00+01:00", "reason": "kursus"},
        at("2027-01-05 09:30"),
    )
    report = deliver_outbox(
        engine,
        at("2027-01-05 10:00"),
        AioSmtpMailer(smtp_server.settings),
        organizer=ORGANIZER_,
        settings=FAST,
    )
    assert report.sent == 3
    received = smtp_server.recorder.to(PEDAGOGUE)
    calendars = [_calendar_of(r.data) for r in received]
    series_cal, moved_cal, cancelled_cal = calendars
    assert [str(c["METHOD"]) for c in calendars] == ["REQUEST", "REQUEST", "CANCEL"]
    # Rendered when it is sent, the invitation already holds the series as it stands: the
    # moved occurrence beside the rule, the cancelled one among the EXDATEs.
    series_event, carried = series_cal.walk("VEVENT")
    assert "RRULE" in series_event and "RECURRENCE-ID" not in series_event
    assert at("2027-02-01 10:00") in series_event.exdates
    assert carried["RECURRENCE-ID"].dt == at("2027-03-22 10:00")
    for occurrence_cal, sequence in ((moved_cal, 1), (cancelled_cal, 1)):
        (vevent,) = occurrence_cal.walk("VEVENT")
        assert "RECURRENCE-ID" in vevent and "RRULE" not in vevent
        assert vevent["UID"] == series_event["UID"]
        assert vevent["SEQUENCE"] == sequence
    for r in received:
        assert "barn" not in str(r.message["Subject"])

    snapshot = store.snapshot(case_id)
    case_sessions = [(o.start, o.end) for o in stored_sessions(snapshot)]
    assert expanded(*(c.to_ical() for c in calendars)) == case_sessions
    assert (at("2027-03-23 13:00"), at("2027-03-23 13:45")) in case_sessions

    # Ending early: one update of the whole series, its moved occurrence carried beside it
    # and its cancelled one as an EXDATE, so a client that had only this message agrees.
    store.fire(case_id, "end_group", LEADER, {"reason": "slut"}, at("2027-03-02 12:00"))
    deliver_outbox(
        engine,
        at("2027-03-02 12:05"),
        AioSmtpMailer(smtp_server.settings),
        organizer=ORGANIZER_,
        settings=FAST,
    )
    update = _calendar_of(smtp_server.recorder.to(PEDAGOGUE)[-1].data)
    (vevent,) = update.walk("VEVENT")
    assert vevent["SEQUENCE"] == 1
    assert "UNTIL" in vevent["RRULE"]
    ended = [(o.start, o.end) for o in stored_sessions(store.snapshot(case_id))]
    assert expanded(update.to_ical()) == ended
    assert ended[-1][0] == at("2027-03-01 10:00")


def _calendar_of(data: bytes) -> Calendar:
    message = email.message_from_bytes(data, policy=email.policy.default)
    part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    raw = part.get_payload(decode=True)
    assert isinstance(raw, bytes)
    vobject.readOne(raw.decode("utf-8"))  # the other parsers read it too
    ics.Calendar(raw.decode("utf-8"))
    return Calendar.from_ical(raw)


def test_an_occurrence_another_social_worker_covers_arrives_as_its_own_attendees(
    store: CaseStore, engine: Engine, smtp_server: Server
) -> None:
    """cover_meeting: the leader and the covering worker get a REQUEST of that occurrence
    alone naming the covering worker; the fixed worker gets a CANCEL of it naming them;
    the series itself is unchanged for everyone."""
    from tests.test_consultation_rules import LEADER, WORKER, monthly

    sune = "sune@familie.example.dk"
    case_id = monthly(store)
    deliver_outbox(
        engine, at("2027-01-04 10:05"), AioSmtpMailer(smtp_server.settings),
        organizer=ORGANIZER_, settings=FAST,
    )  # fmt: skip
    store.fire(
        case_id,
        "cover_meeting",
        WORKER,
        {
            "session": "2027-02-09T09:00:00+01:00",
            "start": "2027-02-09T11:00:00+01:00",
            "worker": {"name": "Sune Socialrådgiver", "email": sune},
        },
        at("2027-01-05 09:00"),
    )
    report = deliver_outbox(
        engine, at("2027-01-05 09:05"), AioSmtpMailer(smtp_server.settings),
        organizer=ORGANIZER_, settings=FAST,
    )  # fmt: skip
    assert report.sent == 3
    for to, method, attendee in ((sune, "REQUEST", sune), (LEADER, "REQUEST", sune)):
        calendar = _calendar_of(smtp_server.recorder.to(to)[-1].data)
        assert str(calendar["METHOD"]) == method
        (vevent,) = calendar.walk("VEVENT")
        assert vevent["RECURRENCE-ID"].dt == at("2027-02-09 09:00")
        assert vevent["DTSTART"].dt == at("2027-02-09 11:00")
        assert vevent["SEQUENCE"] == 1
        addresses = {str(a).removeprefix("mailto:") for a in vevent.get("ATTENDEE")}
        assert attendee in addresses and WORKER not in addresses
    cancel = _calendar_of(smtp_server.recorder.to(WORKER)[-1].data)
    assert str(cancel["METHOD"]) == "CANCEL"
    (vevent,) = cancel.walk("VEVENT")
    assert vevent["RECURRENCE-ID"].dt == at("2027-02-09 09:00")
    attendees = vevent.get("ATTENDEE")
    attendees = attendees if isinstance(attendees, list) else [attendees]
    assert {str(a).removeprefix("mailto:") for a in attendees} == {WORKER}
    # The series itself is not sent again: the fixed worker had its invitation and this.
    assert len(smtp_server.recorder.to(WORKER)) == 2
