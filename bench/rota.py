"""The monthly consultations: planning a year's rota for 46 daycares and 2 social workers
beside planning one month (the year follows each month's plan as the next one's
preferences); and reading free slots from a free-busy answer of 2,000 busy periods beside
an empty one (the parse and the search, without the network)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock

from machines import COPENHAGEN, WorkingCalendar
from machines.rota import Daycare, Worker, plan_month, preferences
from notifications.freebusy import free_slots, parse_busy

from .common import Row

TIMES = (clock(9, 0), clock(11, 0), clock(13, 0))
WORKERS = (Worker("sr-a"), Worker("sr-b", frozenset({0, 1, 2, 3})))
DAYCARES = [Daycare(f"dt-{i:02d}") for i in range(46)]
HOURS = (clock(8, 30), clock(15, 30))


def _year() -> float:
    calendar = WorkingCalendar()
    started = time.perf_counter()
    preferred = None
    for month in range(1, 13):
        plan = plan_month(2027, month, DAYCARES, WORKERS, calendar, TIMES, 2, preferred=preferred)
        preferred = preferences(plan.values())
    return time.perf_counter() - started


def _month() -> float:
    calendar = WorkingCalendar()
    started = time.perf_counter()
    plan_month(2027, 3, DAYCARES, WORKERS, calendar, TIMES, 2)
    return time.perf_counter() - started


def _answer(events: int) -> str:
    lines = ["BEGIN:VCALENDAR", "BEGIN:VFREEBUSY"]
    start = datetime(2027, 3, 1, 7, 0, tzinfo=UTC)
    for n in range(events):
        # Busy 08:00–14:00 local (winter time), four periods a day for 500 days.
        begin = start + timedelta(days=n // 4, minutes=90 * (n % 4))
        end = begin + timedelta(minutes=90)
        lines.append(f"FREEBUSY;FBTYPE=BUSY:{begin:%Y%m%dT%H%M%SZ}/{end:%Y%m%dT%H%M%SZ}")
    return "\r\n".join([*lines, "END:VFREEBUSY", "END:VCALENDAR", ""])


def _search(answer: str) -> float:
    calendar = WorkingCalendar()
    after = datetime(2027, 3, 1, 8, 0, tzinfo=COPENHAGEN)
    started = time.perf_counter()
    busy = parse_busy(answer)
    free_slots(busy, after, after + timedelta(days=600), calendar, HOURS, 45, 3)
    return time.perf_counter() - started


def run() -> list[Row]:
    _month()  # warm the holiday calendar
    return [
        (
            "rota: a year (12 months) for 46 daycares, 2 social workers",
            _year(),
            "s",
            "one month",
            _month(),
        ),
        (
            "free slots from a free-busy answer of 2,000 busy periods",
            _search(_answer(2_000)),
            "s",
            "an empty calendar",
            _search(_answer(0)),
        ),
    ]
