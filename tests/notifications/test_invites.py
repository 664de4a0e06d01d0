"""The iCalendar invitation: RFC 5545 structure, three independent parsers, daylight saving,
recurring series, injection, and golden files for REQUEST, update and CANCEL."""

from __future__ import annotations

import os
import re
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import ics
import pytest
import vobject
from hypothesis import example, given, settings
from hypothesis import strategies as st
from icalendar import Calendar
from icalendar.parser.string import _foldline

from machines import COPENHAGEN, InvalidInput
from notifications import (
    Attendee,
    CalendarUser,
    MeetingInvite,
    Method,
    Recurrence,
    build_invite,
)
from notifications.invites import _fold, copenhagen_vtimezone

from .conftest import at

GOLDEN = Path(__file__).parent / "golden"
STAMP = datetime(2027, 3, 15, 9, 30, tzinfo=UTC)
ORGANIZER = CalendarUser("samraad@kommune.example.dk", "Samråd, Søernes Kommune")
ATTENDEES = (
    Attendee("aase@example.dk", "Åse Æblegaard"),
    Attendee("leder@skole.example.dk", "Birgitte Holm"),
    Attendee("per@uu.example.dk", "Per Vang", required=False),
)


MONDAY_AFTER_SUMMER_TIME = at("2027-03-29 09:00")


def invite(
    start: datetime = MONDAY_AFTER_SUMMER_TIME,
    minutes: int = 90,
    sequence: int = 0,
    method: Method = Method.REQUEST,
    **changes: object,
) -> MeetingInvite:
    fields: dict[str, object] = {
        "uid": "3f1c2a9e-5b1d-4c6e-9a51-0b7f6c1d2e3a@forloeb",
        "sequence": sequence,
        "start": start,
        "end": start + timedelta(minutes=minutes),
        "summary": "Samråd – Skolen ved Søerne",
        "location": "Skolen ved Søerne, lokale 2",
        "organizer": ORGANIZER,
        "attendees": ATTENDEES,
        "description": "Indkaldt af Samråd, Søernes Kommune. Se mailen for detaljer.",
        "method": method,
        "alarm_before": timedelta(hours=1),
    }
    fields.update(changes)
    return MeetingInvite(**fields)  # type: ignore[arg-type]


def lines(raw: bytes) -> list[str]:
    """Unfolded content lines."""
    return raw.decode("utf-8").replace("\r\n ", "").split("\r\n")


# ------------------------------------------------------------------ structure


def test_request_has_the_properties_calendars_need() -> None:
    raw = build_invite(invite(), stamp=STAMP)
    content = lines(raw)
    assert content[:5] == [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//forloeb//forloeb invitations 1.0//DA",
        "CALSCALE:GREGORIAN",
        "METHOD:REQUEST",
    ]
    for expected in (
        "UID:3f1c2a9e-5b1d-4c6e-9a51-0b7f6c1d2e3a@forloeb",
        "DTSTAMP:20270315T093000Z",
        "DTSTART;TZID=Europe/Copenhagen:20270329T090000",
        "DTEND;TZID=Europe/Copenhagen:20270329T103000",
        "SEQUENCE:0",
        "STATUS:CONFIRMED",
        "CLASS:PRIVATE",
        "LOCATION:Skolen ved Søerne\\, lokale 2",
        "SUMMARY:Samråd – Skolen ved Søerne",
        'ORGANIZER;CN="Samråd, Søernes Kommune":mailto:samraad@kommune.example.dk',
        'ATTENDEE;CN="Åse Æblegaard";CUTYPE=INDIVIDUAL;PARTSTAT=NEEDS-ACTION;'
        "ROLE=REQ-PARTICIPANT;RSVP=TRUE:mailto:aase@example.dk",
        'ATTENDEE;CN="Per Vang";CUTYPE=INDIVIDUAL;PARTSTAT=NEEDS-ACTION;'
        "ROLE=OPT-PARTICIPANT;RSVP=TRUE:mailto:per@uu.example.dk",
    ):
        assert expected in content
    assert sum(line.startswith("ATTENDEE") for line in content) == 3
    assert "BEGIN:VALARM" in content


def test_lines_end_in_crlf_and_fold_at_75_octets() -> None:
    long_place = "Skolen ved Søerne, afdeling Øst, mødelokale 2 på første sal ved biblioteket"
    raw = build_invite(invite(location=long_place), stamp=STAMP)
    assert raw.endswith(b"\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 75
    raw.decode("utf-8")  # folding never splits a multi-byte character
    assert Calendar.from_ical(raw).events[0]["LOCATION"] == long_place


def test_vtimezone_is_rule_based_not_a_list_of_dates() -> None:
    block = lines(copenhagen_vtimezone())
    assert "TZID:Europe/Copenhagen" in block
    assert not any(line.startswith("RDATE") for line in block)
    rules = [line for line in block if line.startswith("RRULE")]
    assert sorted(rules) == [
        "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10",
        "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3",
    ]
    raw = build_invite(invite(), stamp=STAMP)
    assert raw.count(b"BEGIN:VTIMEZONE") == 1


def test_vtimezone_rules_agree_with_the_tz_database() -> None:
    # vobject turns the VTIMEZONE's own rules into a tzinfo (it does not look the name up).
    parsed = vobject.readOne(build_invite(invite(), stamp=STAMP).decode("utf-8"))
    ours = parsed.vtimezone.gettzinfo()
    day = date(2024, 1, 1)
    while day < date(2040, 1, 1):
        for hour in (1, 4, 12):
            moment = datetime.combine(day, time(hour))
            assert (
                moment.replace(tzinfo=ours).utcoffset()
                == moment.replace(tzinfo=COPENHAGEN).utcoffset()
            ), moment
        day += timedelta(days=3)


# ------------------------------------------------------------------ three parsers, DST


@pytest.mark.parametrize(
    ("start", "offset"),
    [(at("2027-03-29 09:00"), 2), (at("2027-11-01 09:00"), 1)],
    ids=["day-after-summer-time-starts", "day-after-winter-time-starts"],
)
def test_meetings_across_daylight_saving_stay_at_nine_local(start: datetime, offset: int) -> None:
    # The meeting comes from the database in UTC; what a calendar shows must be 09:00 local.
    raw = build_invite(invite(start=start.astimezone(UTC)), stamp=STAMP)
    text = raw.decode("utf-8")

    event = Calendar.from_ical(raw).events[0]
    v_event = vobject.readOne(text).vevent
    i_event = next(iter(ics.Calendar(text).events))
    starts = [event.start, v_event.dtstart.value, i_event.begin.datetime]
    ends = [event.end, v_event.dtend.value, i_event.end.datetime]
    for parsed_start, parsed_end in zip(starts, ends, strict=True):
        assert parsed_start.utcoffset() == timedelta(hours=offset)
        local = parsed_start.astimezone(COPENHAGEN)
        assert (local.date(), local.time()) == (start.date(), time(9, 0))
        assert parsed_end - parsed_start == timedelta(minutes=90)
    assert event["SUMMARY"] == v_event.summary.value == i_event.name
    assert event["LOCATION"] == v_event.location.value == i_event.location


def test_cancel_keeps_the_uid_raises_nothing_itself_and_has_no_alarm() -> None:
    request = Calendar.from_ical(build_invite(invite(sequence=1), stamp=STAMP))
    cancel_raw = build_invite(invite(sequence=2, method=Method.CANCEL), stamp=STAMP)
    cancel = Calendar.from_ical(cancel_raw)
    assert cancel["METHOD"] == "CANCEL"
    event = cancel.events[0]
    assert event["UID"] == request.events[0]["UID"]
    assert event["SEQUENCE"] == 2  # the SEQUENCE the store already raised
    assert event["STATUS"] == "CANCELLED"
    assert b"VALARM" not in cancel_raw
    assert vobject.readOne(cancel_raw.decode()).vevent.status.value == "CANCELLED"


# ------------------------------------------------------------------ series


def test_weekly_series_keeps_local_time_across_the_change_to_summer_time() -> None:
    series = invite(
        start=at("2027-03-10 14:00"),
        minutes=60,
        recurrence=Recurrence("WEEKLY", until=at("2027-04-07 23:59")),
    )
    raw = build_invite(series, stamp=STAMP)
    assert "RRULE:FREQ=WEEKLY;UNTIL=20270407T215900Z" in lines(raw)
    occurrences = list(vobject.readOne(raw.decode()).vevent.getrruleset())
    assert [o.date() for o in occurrences] == [
        date(2027, 3, 10),
        date(2027, 3, 17),
        date(2027, 3, 24),
        date(2027, 3, 31),
        date(2027, 4, 7),
    ]
    assert {o.astimezone(COPENHAGEN).time() for o in occurrences} == {time(14, 0)}


def test_monthly_series_by_weekday_and_count() -> None:
    series = invite(recurrence=Recurrence("MONTHLY", count=4, byday=("2TU",)))
    event = Calendar.from_ical(build_invite(series, stamp=STAMP)).events[0]
    assert event["RRULE"]["FREQ"] == ["MONTHLY"]
    assert event["RRULE"]["COUNT"] == [4]
    assert event["RRULE"]["BYDAY"] == ["2TU"]


def test_series_cannot_end_both_ways() -> None:
    with pytest.raises(InvalidInput):
        build_invite(invite(recurrence=Recurrence("WEEKLY", count=3, until=at("2027-06-01 00:00"))))


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    "name",
    [
        'Jens "Jønne" Hansen',
        "Jens\r\nATTENDEE:mailto:evil@example.org",
        'Jens";ROLE=CHAIR;X="',
        "Jens\nEND:VEVENT\nBEGIN:VEVENT",
    ],
)
def test_names_cannot_inject_properties_or_parameters(name: str) -> None:
    crafted = invite(
        attendees=(Attendee("jens@example.dk", name),),
        organizer=CalendarUser("samraad@kommune.example.dk", name),
        summary=f"Samråd {name}",
        location=name,
    )
    raw = build_invite(crafted, stamp=STAMP)
    content = lines(raw)
    assert [line.split(";")[0].split(":")[0] for line in content].count("ATTENDEE") == 1
    assert content.count("BEGIN:VEVENT") == 1
    assert not any("evil@" in line and line.startswith("ATTENDEE:") for line in content)
    for parsed in (Calendar.from_ical(raw).events[0],):
        attendee = parsed["ATTENDEE"]
        assert str(attendee) == "mailto:jens@example.dk"
        assert "ROLE" in attendee.params and attendee.params["ROLE"] == "REQ-PARTICIPANT"
        assert '"' not in attendee.params["CN"] and "\n" not in attendee.params["CN"]
    v_event = vobject.readOne(raw.decode()).vevent
    assert len(v_event.contents["attendee"]) == 1
    assert "\n" not in v_event.summary.value
    assert len(next(iter(ics.Calendar(raw.decode()).events)).attendees) == 1


@pytest.mark.parametrize(
    "address", ["jens@example.dk\r\nRCPT TO:<x@y>", 'jens"@example.dk', "jens@exa mple.dk", "x"]
)
def test_an_unusable_address_is_refused(address: str) -> None:
    with pytest.raises(InvalidInput, match="cannot be used as an e-mail address"):
        build_invite(invite(attendees=(Attendee(address, "Jens"),)))


def test_naive_times_and_backwards_meetings_are_refused() -> None:
    with pytest.raises(InvalidInput, match="UTC offset"):
        build_invite(invite(start=datetime(2027, 3, 29, 9)))
    with pytest.raises(InvalidInput, match="end after it starts"):
        build_invite(invite(minutes=-30))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=300))
@example("DESCRIPTION:" + "a\\," * 60)
@example("ATTENDEE;CN=" + "^'ø" * 50)
@example("X:" + "æ" * 36 + "\\n" * 30)
@example("X:" + "𝄞" * 40)
def test_our_fast_folding_is_icalendars_folding(line: str) -> None:
    assert _fold(line) == _foldline(line)


# ------------------------------------------------------------------ golden files


def _normalise(raw: bytes) -> str:
    return re.sub(r"DTSTAMP:\d{8}T\d{6}Z", "DTSTAMP:<normalised>", raw.decode("utf-8"))


@pytest.mark.parametrize(
    ("name", "built"),
    [
        ("request", invite()),
        ("update", invite(start=at("2027-03-30 13:00"), sequence=1, location="PPR, lokale 4")),
        ("cancel", invite(start=at("2027-03-30 13:00"), sequence=2, method=Method.CANCEL)),
    ],
)
def test_golden(name: str, built: MeetingInvite) -> None:
    """Any change to what we send shows up here; regenerate with FORLOEB_REGEN_GOLDEN=1."""
    path = GOLDEN / f"{name}.ics"
    actual = _normalise(build_invite(built))
    if os.environ.get("FORLOEB_REGEN_GOLDEN") == "1":
        path.write_bytes(actual.encode("utf-8"))
    assert actual == path.read_bytes().decode("utf-8")
