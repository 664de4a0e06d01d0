"""Free slots for a parent's booking (issue 14): a CalDAV free-busy query against a real
Radicale, both VFREEBUSY shapes, working hours and the deadline; an unreachable server or
a malformed answer is one line and nothing is booked."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import caldav
import pytest

from machines import Unavailable, WorkingCalendar
from notifications.freebusy import MalformedFreeBusy, busy_times, free_slots, parse_busy

from .conftest import at
from .test_caldav import radicale_url as radicale_url

HOURS = (time(8, 30), time(15, 30))
CALENDAR = WorkingCalendar()


def test_busy_times_from_radicale_leave_the_free_slots(radicale_url: str) -> None:
    client = caldav.DAVClient(url=radicale_url, username="sara", password="x")
    calendar = client.principal().make_calendar(name="arbejde")
    # Tuesday 2 March 2027: busy 08:30–12:00 and 12:30–15:30 (a free half hour between).
    for start, end in (
        ("2027-03-02 08:30", "2027-03-02 12:00"),
        ("2027-03-02 12:30", "2027-03-02 15:30"),
    ):
        calendar.save_event(dtstart=at(start), dtend=at(end), summary="optaget")
    busy = busy_times(str(calendar.url), at("2027-03-01 16:00"), at("2027-03-09 00:00"))
    assert busy == [
        (at("2027-03-02 08:30").astimezone(UTC), at("2027-03-02 12:00").astimezone(UTC)),
        (at("2027-03-02 12:30").astimezone(UTC), at("2027-03-02 15:30").astimezone(UTC)),
    ]
    found = free_slots(busy, at("2027-03-01 16:00"), at("2027-03-08 23:59"), CALENDAR, HOURS, 45, 3)
    # 2 March is full for 45 minutes; 3 March from 08:30.
    assert found == [at("2027-03-03 08:30"), at("2027-03-03 09:15"), at("2027-03-03 10:00")]


def test_both_vfreebusy_shapes_read_alike() -> None:
    one_per_line = (
        "BEGIN:VCALENDAR\r\nBEGIN:VFREEBUSY\r\n"
        "FREEBUSY;FBTYPE=BUSY:20270302T073000Z/20270302T110000Z\r\n"
        "FREEBUSY;FBTYPE=BUSY:20270302T113000Z/PT3H\r\n"
        "FREEBUSY;FBTYPE=FREE:20270303T073000Z/20270303T140000Z\r\n"
        "END:VFREEBUSY\r\nEND:VCALENDAR\r\n"
    )
    one_line = (
        "BEGIN:VCALENDAR\r\nBEGIN:VFREEBUSY\r\n"
        "FREEBUSY:20270302T073000Z/20270302T110000Z,\r\n 20270302T113000Z/20270302T143000Z\r\n"
        "END:VFREEBUSY\r\nEND:VCALENDAR\r\n"
    )
    assert parse_busy(one_per_line) == parse_busy(one_line)
    assert len(parse_busy(one_line)) == 2


def test_the_deadline_and_working_hours_bound_the_slots() -> None:
    busy = [(at("2027-03-01 00:00").astimezone(UTC), at("2027-03-05 23:00").astimezone(UTC))]
    found = free_slots(
        busy, at("2027-03-01 09:00"), at("2027-03-08 23:59"), CALENDAR, HOURS, 45, 10
    )
    assert found[0] == at("2027-03-08 08:30") and found[-1] == at("2027-03-08 14:30")
    assert len(found) == 9  # 08:30, 09:15 … 14:30, the last ending 15:15
    assert (
        free_slots(busy, at("2027-03-01 09:00"), at("2027-03-05 23:59"), CALENDAR, HOURS, 45, 3)
        == []
    )


@pytest.mark.parametrize(
    "answer",
    [
        "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
        "BEGIN:VCALENDAR\r\nBEGIN:VFREEBUSY\r\nFREEBUSY:tomorrow/later\r\nEND:VFREEBUSY\r\n",
        "BEGIN:VCALENDAR\r\nBEGIN:VFREEBUSY\r\nFREEBUSY:20270302T1100Z/20270302T0900Z\r\nEND:VFREEBUSY\r\n",
    ],
)
def test_a_malformed_answer_is_one_line(answer: str) -> None:
    with pytest.raises(MalformedFreeBusy) as refused:
        parse_busy(answer)
    assert "\n" not in str(refused.value)


def test_an_unreachable_server_is_one_line() -> None:
    with pytest.raises(Unavailable, match="did not answer the free-busy query") as refused:
        busy_times(
            "http://127.0.0.1:9/sara/arbejde/",
            datetime.now(UTC),
            datetime.now(UTC) + timedelta(days=1),
        )
    assert "\n" not in str(refused.value)
