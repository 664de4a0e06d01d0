"""The light iTIP reader against icalendar itself: the same names, parameters and values
for the lines an answer is read from, the zones a TZID can name, and what is malformed."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from icalendar import Calendar
from icalendar.error import GloballyUniqueTZIDGuessed
from icalendar.parser import Contentline

from machines import COPENHAGEN
from notifications.itip import EVENT_NAMES, Malformed, read_itip, split, typed

# Lines as clients write them: escapes, quoted parameters holding ":" ";" ",", RFC 6868
# carets, blanks the lenient parser allows, and no parameters at all.
LINES = [
    "UID:040000008200E00074C5B7101A82E008@outlook.com",
    r"UID:with\,escapes\;and\\back\nslash",
    "SEQUENCE:3",
    "DTSTAMP:20270316T100000Z",
    "METHOD:REPLY",
    "BEGIN:VEVENT",
    "ATTENDEE;PARTSTAT=ACCEPTED;CN=Svar:mailto:jens@skole.example.dk",
    'ATTENDEE;CN="Øster, Jens: lærer; 7.b";PARTSTAT=DECLINED:mailto:jens@skole.example.dk',
    "ATTENDEE;CN=\"Anne ^'Ane^' Berg\";PARTSTAT=TENTATIVE:MAILTO:Anne@Example.DK",
    'ATTENDEE;DELEGATED-FROM="mailto:a@x.dk","mailto:b@x.dk";PARTSTAT=ACCEPTED:mailto:c@x.dk',
    "DTSTART;TZID=Europe/Copenhagen:20270324T130000",
    'DTSTART;TZID="Romance Standard Time":20270324T130000',
    "RECURRENCE-ID;VALUE=DATE:20270324",
    "ATTENDEE ;PARTSTAT=ACCEPTED:mailto:x@y.dk",
    "X-WEIRD:value:with:colons",
]


@pytest.mark.parametrize("line", LINES)
def test_a_line_splits_as_icalendar_splits_it(line: str) -> None:
    name, params, value = Contentline(line).parts()
    ours = split(line)
    assert ours == (name, params, value)
    assert dict(ours[1]) == dict(params)


def reply(*events: str, method: str = "REPLY", before: str = "", after: str = "") -> bytes:
    body = "".join(f"BEGIN:VEVENT\r\n{e}END:VEVENT\r\n" for e in events)
    return (
        "BEGIN:VCALENDAR\r\nPRODID:-//Test//EN\r\nVERSION:2.0\r\n"
        f"METHOD:{method}\r\n{before}{body}{after}END:VCALENDAR\r\n"
    ).encode()


EVENT = (
    "UID:abc@forloeb\r\nSEQUENCE:2\r\nDTSTAMP:20270316T100000Z\r\n"
    "DTSTART;TZID=Europe/Copenhagen:20270324T130000\r\n"
    "DTEND;TZID=Europe/Copenhagen:20270324T143000\r\n"
    # Folded inside a quoted parameter and inside a UTF-8 name, as Outlook folds.
    'ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED;CN="Æblegaard, \r\n Åse":mailt\r\n'
    " o:aase@example.dk\r\n"
    "ORGANIZER;CN=Samråd:mailto:samraad+tok@kommune.example.dk\r\n"
    "SUMMARY:Samråd – Skolen ved Søerne\r\n"
    "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\nUID:not-the-event\r\nEND:VALARM\r\n"
)
# Outlook's zone for Copenhagen: a Windows name, defined in the message.
ROMANCE = (
    "BEGIN:VTIMEZONE\r\nTZID:Romance Standard Time\r\n"
    "BEGIN:STANDARD\r\nDTSTART:16010101T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\n"
    "RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10\r\nEND:STANDARD\r\n"
    "BEGIN:DAYLIGHT\r\nDTSTART:16010101T020000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\n"
    "RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n"
)


def _theirs(event: Any, name: str) -> Any:
    value = event.get(name)
    return [str(v) for v in value] if isinstance(value, list) else value


@pytest.mark.parametrize(
    "data",
    [
        reply(EVENT),
        reply(EVENT.replace("Europe/Copenhagen", "Romance Standard Time"), before=ROMANCE),
        reply(EVENT.replace("SEQUENCE:2\r\n", "") + "RECURRENCE-ID:20270324T120000Z\r\n"),
        reply(EVENT + "ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:jens@skole.example.dk\r\n"),
        reply(EVENT, method="COUNTER"),
    ],
)
def test_what_is_read_agrees_with_icalendar(data: bytes) -> None:
    ours = read_itip(data)
    calendar = Calendar.from_ical(data)
    (event,) = calendar.walk("VEVENT")
    assert ours.method == str(calendar["METHOD"])
    (mine,) = ours.events
    for name in EVENT_NAMES - {"ATTENDEE"}:
        prop = mine.one(name)
        theirs = event.get(name)
        if theirs is None:
            assert prop is None, name
        elif name in {"DTSTART", "DTEND", "DTSTAMP", "RECURRENCE-ID"}:
            assert ours.when(prop) == theirs.dt, name
        else:
            assert prop is not None and typed(prop) == theirs, name
    attendees = event.get("ATTENDEE")
    attendees = attendees if isinstance(attendees, list) else [attendees]
    assert [str(typed(p)) for p in mine.all("ATTENDEE")] == [str(a) for a in attendees]
    assert [dict(p.params) for p in mine.all("ATTENDEE")] == [dict(a.params) for a in attendees]
    assert mine.all("ATTENDEE")[0].param("CN") == "Æblegaard, Åse"


def test_the_zone_a_tzid_names() -> None:
    def start(tzid: str, before: str = "") -> Any:
        event = f"UID:u\r\nDTSTART;TZID={tzid}:20270701T090000\r\n"
        data = read_itip(reply(event, before=before))
        return data.when(data.events[0].one("DTSTART"))

    summer_nine = datetime(2027, 7, 1, 9, tzinfo=COPENHAGEN)
    assert start("Europe/Copenhagen") == summer_nine
    assert start('"Romance Standard Time"') == summer_nine  # icalendar maps Windows names
    with pytest.warns(GloballyUniqueTZIDGuessed):  # icalendar's guess, said aloud
        assert start("/citadel.org/20210210_1/Europe/Copenhagen") == summer_nine
    # A name only the message defines: its VTIMEZONE (here without summer time).
    own = (
        "BEGIN:VTIMEZONE\r\nTZID:Kommunens tid\r\nBEGIN:STANDARD\r\n"
        "DTSTART:19700101T000000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0100\r\n"
        "END:STANDARD\r\nEND:VTIMEZONE\r\n"
    )
    found = start('"Kommunens tid"', before=own)
    assert found == datetime(2027, 7, 1, 8, tzinfo=UTC)
    # It was that message's: the next one naming it without a VTIMEZONE gets no time.
    assert start('"Kommunens tid"') is None
    # A known name is what it is, whatever a message's VTIMEZONE of that name says.
    lying = own.replace("Kommunens tid", "Europe/Copenhagen").replace("+0100", "+0500")
    assert start("Europe/Copenhagen", before=lying) == summer_nine


def test_utc_floating_and_all_day_values() -> None:
    event = (
        "UID:u\r\nDTSTAMP:20270316T100000Z\r\nDTSTART:20270324T130000\r\n"
        "RECURRENCE-ID;VALUE=DATE:20270324\r\nDTEND:nonsense\r\n"
    )
    data = read_itip(reply(event))
    (e,) = data.events
    assert data.when(e.one("DTSTAMP")) == datetime(2027, 3, 16, 10, tzinfo=UTC)
    floating = data.when(e.one("DTSTART"))
    assert floating == datetime(2027, 3, 24, 13) and floating.tzinfo is None  # type: ignore[union-attr]
    assert data.when(e.one("RECURRENCE-ID")) == date(2027, 3, 24)
    assert data.when(e.one("DTEND")) is None
    assert data.when(None) is None


def test_a_subcomponent_s_lines_are_not_the_event_s() -> None:
    (event,) = read_itip(reply(EVENT)).events
    assert str(typed(event.one("UID"))) == "abc@forloeb"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "data",
    [
        b"BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\nnonsense",  # never closed
        reply("UID:a\r\n", after="END:VTODO\r\n"),  # END of what was not begun
        b"METHOD:REPLY\r\n" + reply("UID:a\r\n"),  # a line outside the calendar
        reply("UID:a\r\n") + b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",  # two calendars
        b"BEGIN:VEVENT\r\nUID:a\r\nEND:VEVENT\r\n",  # no calendar around it
        reply("UID:a\r\nUID:b\r\n"),  # a UID twice: which one would be the answer's?
        reply("UID:a\r\n", before="METHOD:COUNTER\r\n"),
        reply("UID:a\r\n").replace(b"BEGIN:VEVENT", b'BEGIN;X="unclosed:VEVENT'),
        b"",
    ],
)
def test_what_is_malformed(data: bytes) -> None:
    with pytest.raises(Malformed):
        read_itip(data)


def test_a_broken_line_in_an_event_is_skipped_as_icalendar_skips_it() -> None:
    data = reply("UID:a\r\nnonsense\r\nSEQUENCE:1\r\n")
    (event,) = read_itip(data).events
    assert typed(event.one("SEQUENCE")) == 1  # type: ignore[arg-type]
    assert Calendar.from_ical(data).walk("VEVENT")[0]["SEQUENCE"] == 1
