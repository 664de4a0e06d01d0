"""A social worker's busy times from their CalDAV calendar, and the free slots between.

``busy_times`` asks the calendar collection for free-busy (RFC 4791 7.10, the ``caldav``
library's ``Calendar.freebusy_request``; Radicale answers it from 3.2.3 on). A VFREEBUSY
comes in two shapes, and both are read: one ``FREEBUSY`` line per period (Radicale), or
one line holding several periods separated by commas; a period is ``start/end`` or
``start/duration``. ``FBTYPE=FREE`` periods are not busy. A server that cannot be reached
or answers something else raises ``Unavailable`` with one line naming the server, never
the person.

``free_slots`` is pure: the first slots of a given length on working days, within working
hours, after a moment and ending by a deadline, that overlap no busy period.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlsplit

from machines import COPENHAGEN, Unavailable, WorkingCalendar

Period = tuple[datetime, datetime]
#: Slots are proposed on the quarter hour.
STEP = timedelta(minutes=15)


class MalformedFreeBusy(Unavailable):
    """The server's free-busy answer could not be read."""


def _server(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port}" if parts.port else url


def busy_times(
    calendar_url: str,
    start: datetime,
    end: datetime,
    *,
    username: str | None = None,
    password: str | None = None,
    timeout: float = 10.0,
) -> list[Period]:
    """The busy periods of the calendar at ``calendar_url`` between ``start`` and ``end``."""
    from caldav.davclient import DAVClient
    from caldav.lib import error as caldav_error
    from requests.exceptions import RequestException

    where = _server(calendar_url)
    try:
        client = DAVClient(
            url=calendar_url, username=username, password=password, timeout=int(timeout)
        )
        collection = client.calendar(url=calendar_url)  # type: ignore[no-untyped-call]
        answer = collection.freebusy_request(start.astimezone(UTC), end.astimezone(UTC))
        raw = getattr(answer, "data", None)
    except (caldav_error.DAVError, RequestException, OSError) as exc:
        raise Unavailable(
            f"the calendar server {where} did not answer the free-busy query "
            f"({type(exc).__name__}); check the calendar's address and that the server runs"
        ) from None
    return parse_busy(raw if isinstance(raw, str) else str(raw or ""), where)


def _unfolded(text: str) -> list[str]:
    lines: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if line[:1] in (" ", "\t") and lines:
            lines[-1] += line[1:]
        elif line:
            lines.append(line)
    return lines


def parse_busy(text: str, where: str = "the calendar server") -> list[Period]:
    """The busy periods of a VFREEBUSY answer, in either shape, sorted and merged."""
    from icalendar.prop import vPeriod

    lines = _unfolded(text)
    if "BEGIN:VFREEBUSY" not in (line.strip().upper() for line in lines):
        raise MalformedFreeBusy(f"the calendar server {where} answered without a VFREEBUSY")
    periods: list[Period] = []
    for line in lines:
        head, sep, value = line.partition(":")
        name, *params = head.split(";")
        if name.strip().upper() != "FREEBUSY":
            continue
        kinds = [p.split("=", 1)[1].upper() for p in params if p.upper().startswith("FBTYPE=")]
        if kinds and kinds[0] == "FREE":
            continue
        for part in value.split(","):
            try:
                start, until = vPeriod.from_ical(part.strip())  # type: ignore[no-untyped-call]
                end = start + until if isinstance(until, timedelta) else until
                if not sep or start.tzinfo is None or end.tzinfo is None or end <= start:
                    raise ValueError(part)
            except (ValueError, TypeError, IndexError):
                raise MalformedFreeBusy(
                    f"the calendar server {where} answered a free-busy period that cannot be "
                    "read; nothing is booked"
                ) from None
            periods.append((start.astimezone(UTC), end.astimezone(UTC)))
    periods.sort()
    merged: list[Period] = []
    for start, end in periods:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def free_slots(
    busy: Sequence[Period],
    after: datetime,
    deadline: datetime,
    calendar: WorkingCalendar,
    hours: tuple[time, time],
    minutes: int,
    count: int,
) -> list[datetime]:
    """The first ``count`` starts (Copenhagen time, on the quarter hour) of ``minutes``-long
    slots on working days within ``hours`` that start after ``after``, end by
    ``deadline`` and overlap no busy period (``busy`` sorted, as ``parse_busy`` gives)."""
    length = timedelta(minutes=minutes)
    found: list[datetime] = []
    index = 0
    day: date = after.astimezone(COPENHAGEN).date()
    while len(found) < count and day <= deadline.astimezone(COPENHAGEN).date():
        if calendar.is_working_day(day):
            moment = datetime.combine(day, hours[0], COPENHAGEN)
            closes = datetime.combine(day, hours[1], COPENHAGEN)
            while len(found) < count and moment + length <= min(closes, deadline):
                end = moment + length
                while index < len(busy) and busy[index][1] <= moment:
                    index += 1
                clash = index < len(busy) and busy[index][0] < end
                if moment > after and not clash:
                    found.append(moment)
                    moment = end
                elif clash:
                    moment = max(moment + STEP, _on_step(busy[index][1], hours[0]))
                else:
                    moment += STEP
        day += timedelta(days=1)
    return found


def _on_step(moment: datetime, opens: time) -> datetime:
    """The first quarter-hour step of the day at or after ``moment``."""
    local = moment.astimezone(COPENHAGEN)
    start = datetime.combine(local.date(), opens, COPENHAGEN)
    if local <= start:
        return start
    steps = -(-(local - start) // STEP)
    return start + steps * STEP
