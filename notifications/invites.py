"""iCalendar invitations (RFC 5545 objects, RFC 5546 iTIP methods) that real calendars accept.

One VCALENDAR per message: METHOD REQUEST (new or changed) or CANCEL, one VEVENT with the
meeting's stable UID and its SEQUENCE, times in Europe/Copenhagen with a VTIMEZONE we
write ourselves, one ATTENDEE per participant with an address.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Literal
from zoneinfo import ZoneInfo

from icalendar import (
    Alarm,
    Calendar,
    Event,
    Timezone,
    TimezoneDaylight,
    TimezoneStandard,
    vCalAddress,
)

from machines import InvalidInput, Series

from ._safety import check_address, one_line, param_text

TZID = "Europe/Copenhagen"
COPENHAGEN = ZoneInfo(TZID)
PRODID = "-//forloeb//forloeb invitations 1.0//DA"


class Method(StrEnum):
    REQUEST = "REQUEST"
    CANCEL = "CANCEL"


@dataclass(frozen=True)
class CalendarUser:
    email: str
    name: str = ""


@dataclass(frozen=True)
class Attendee(CalendarUser):
    required: bool = True
    #: False for a stand-in (a citizen shown by role in a professional's copy): nobody is
    #: asked to answer for them, and no client sends them anything.
    rsvp: bool = True


@dataclass(frozen=True)
class Recurrence:
    """A series (for the recurring processes): every ``interval`` ``freq`` until/count.

    ``byday`` takes RFC 5545 weekday codes ("MO", "2TU", "-1FR").
    """

    freq: Literal["DAILY", "WEEKLY", "MONTHLY", "YEARLY"]
    interval: int = 1
    count: int | None = None
    until: datetime | None = None
    byday: tuple[str, ...] = ()


def recurrence_of(series: Series) -> Recurrence:
    """The RRULE of a series (its EXDATEs and overrides travel beside it)."""
    rule = series.rule
    byday: tuple[str, ...] = ()
    if rule.byday is not None:
        nth, weekday = rule.byday
        byday = (f"{nth}{('MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU')[weekday]}",)
    return Recurrence(rule.freq, rule.interval, count=rule.count, until=rule.until, byday=byday)


@dataclass(frozen=True)
class MeetingInvite:
    uid: str
    sequence: int
    start: datetime
    end: datetime
    summary: str
    location: str
    organizer: CalendarUser
    attendees: Sequence[Attendee]
    description: str = ""
    method: Method = Method.REQUEST
    recurrence: Recurrence | None = None
    #: Starts of the series left out (EXDATE): the days the institution is closed.
    exdates: tuple[datetime, ...] = ()
    #: One occurrence of the series ``uid`` on its own (moved, or cancelled): its original
    #: start. Such a message holds just that VEVENT, with the occurrence's own SEQUENCE.
    recurrence_id: datetime | None = None
    #: With a whole series: its moved occurrences (each with its ``recurrence_id``), sent
    #: in the same calendar, so an update of the series keeps them where they were moved.
    overrides: tuple[MeetingInvite, ...] = ()
    #: A display alarm this long before the start; REQUEST only. Many clients ignore
    #: alarms in invitations, which is why the sweep also sends a reminder mail.
    alarm_before: timedelta | None = None


@cache
def copenhagen_vtimezone() -> bytes:
    """The rule-based VTIMEZONE, serialised once.

    icalendar's generated VTIMEZONE lists each change as an RDATE (1970-2038); Outlook is
    reported to shift such events by an hour. The EU rule since 1996: summer time from
    the last Sunday of March 02:00 CET to the last Sunday of October 03:00 CEST.
    """
    serialised: bytes = _vtimezone().to_ical()
    return serialised


def _vtimezone() -> Timezone:
    tz = Timezone()
    tz.add("tzid", TZID)
    daylight = TimezoneDaylight()
    daylight.add("dtstart", datetime(1970, 3, 29, 2, 0))
    daylight.add("rrule", {"freq": "yearly", "bymonth": 3, "byday": "-1su"})
    daylight.add("tzname", "CEST")
    daylight.add("tzoffsetfrom", timedelta(hours=1))
    daylight.add("tzoffsetto", timedelta(hours=2))
    standard = TimezoneStandard()
    standard.add("dtstart", datetime(1970, 10, 25, 3, 0))
    standard.add("rrule", {"freq": "yearly", "bymonth": 10, "byday": "-1su"})
    standard.add("tzname", "CET")
    standard.add("tzoffsetfrom", timedelta(hours=2))
    standard.add("tzoffsetto", timedelta(hours=1))
    tz.add_component(daylight)
    tz.add_component(standard)
    return tz


def _local(value: datetime, what: str) -> datetime:
    if value.tzinfo is None:
        raise InvalidInput(f"the meeting {what} {value.isoformat()} has no UTC offset")
    return value.astimezone(COPENHAGEN)


def _address(user: CalendarUser, **params: str | bool) -> vCalAddress:
    address = vCalAddress.new(check_address(user.email), **params)  # type: ignore[arg-type]
    name = param_text(user.name)
    if name:
        address.params["CN"] = name
    return address


def _rrule(rec: Recurrence) -> dict[str, object]:
    if rec.count is not None and rec.until is not None:
        raise InvalidInput("a series ends either after a count or at a date, not both")
    if rec.interval < 1 or (rec.count is not None and rec.count < 1):
        raise InvalidInput("a series needs a positive interval and count")
    rule: dict[str, object] = {"freq": rec.freq}
    if rec.interval != 1:
        rule["interval"] = rec.interval
    if rec.count is not None:
        rule["count"] = rec.count
    if rec.until is not None:
        # RFC 5545 3.3.10: with a DTSTART in a TZID, UNTIL must be given in UTC.
        if rec.until.tzinfo is None:
            raise InvalidInput("the end of a series needs a UTC offset")
        rule["until"] = rec.until.astimezone(UTC)
    if rec.byday:
        rule["byday"] = list(rec.byday)
    return rule


def build_event(invite: MeetingInvite, stamp: datetime) -> Event:
    start, end = _local(invite.start, "start"), _local(invite.end, "end")
    if end <= start:
        raise InvalidInput("a meeting must end after it starts")
    uid = one_line(invite.uid)
    if not uid or uid != invite.uid:
        raise InvalidInput(f"{invite.uid!r} is not a usable calendar UID")
    if invite.sequence < 0:
        raise InvalidInput("SEQUENCE cannot be negative")
    cancelled = invite.method is Method.CANCEL

    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", stamp.astimezone(UTC).replace(microsecond=0))
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("sequence", invite.sequence)
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    event.add("summary", one_line(invite.summary))
    event.add("location", one_line(invite.location))
    if invite.description:
        event.add("description", invite.description.replace("\r\n", "\n").replace("\r", "\n"))
    # A shared calendar shows "private appointment" instead of the title.
    event.add("class", "PRIVATE")
    event.add("transp", "TRANSPARENT" if cancelled else "OPAQUE")
    event.add("organizer", _address(invite.organizer))
    for attendee in invite.attendees:
        event.add(
            "attendee",
            _address(
                attendee,
                cutype="INDIVIDUAL",
                role="REQ-PARTICIPANT" if attendee.required else "OPT-PARTICIPANT",
                partstat="NEEDS-ACTION",
                rsvp=attendee.rsvp,
            ),
        )
    if invite.recurrence is not None:
        if invite.recurrence_id is not None:
            raise InvalidInput("one occurrence of a series carries no rule of its own")
        event.add("rrule", _rrule(invite.recurrence))
        if invite.exdates:
            # One EXDATE line, in the series' own time zone (as DTSTART: RFC 5545 3.8.5.1).
            event.add("exdate", sorted(_local(d, "exception") for d in invite.exdates))
    elif invite.exdates:
        raise InvalidInput("EXDATEs belong to a series (a rule)")
    if invite.recurrence_id is not None:
        event.add("recurrence-id", _local(invite.recurrence_id, "occurrence"))
    if invite.alarm_before is not None and not cancelled:
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("trigger", -abs(invite.alarm_before))
        alarm.add("description", one_line(invite.summary))
        event.add_component(alarm)
    return event


def _fold(line: str) -> str:
    """RFC 5545 3.1 folding exactly as icalendar 7 folds, but working on octets.

    icalendar looks at every character of every line, which was a third of the time to
    build an invitation. The result is the same (a test compares the two): pieces of at
    most 74 octets, never cut inside a UTF-8 sequence, and never between an escape
    character (backslash, RFC 6868's caret) and what it escapes.
    """
    data = line.encode("utf-8")
    if len(data) < 75:
        return line
    pieces: list[bytes] = []
    start = 0
    while len(data) - start > 74:
        end = start + 74
        while data[end] & 0xC0 == 0x80:  # a continuation octet: back to where the char starts
            end -= 1
        if data[end - 1] in b"\\^":
            end -= 1
        pieces.append(data[start:end])
        start = end
    pieces.append(data[start:])
    return b"\r\n ".join(pieces).decode("utf-8")


def build_invite(invite: MeetingInvite, stamp: datetime | None = None) -> bytes:
    """The ``.ics`` bytes: UTF-8, CRLF line ends, lines folded at 75 octets.

    ``stamp`` is the DTSTAMP (when this iTIP message was made); default: now.
    """
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", str(invite.method))
    stamp = stamp or datetime.now(UTC)
    calendar.add_component(build_event(invite, stamp))
    for occurrence in invite.overrides:
        if occurrence.uid != invite.uid or occurrence.recurrence_id is None:
            raise InvalidInput("an override is one occurrence of the same series")
        calendar.add_component(build_event(occurrence, stamp))
    lines = calendar.content_lines()
    raw = ("\r\n".join(_fold(str(line)) for line in lines if line) + "\r\n").encode("utf-8")
    # The VTIMEZONE is the same in every message; splice in the bytes serialised once.
    head, sep, tail = raw.partition(b"BEGIN:VEVENT\r\n")
    return head + copenhagen_vtimezone() + sep + tail
