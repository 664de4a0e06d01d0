"""Working days and deadlines in Europe/Copenhagen.

A working day (arbejdsdag) is Monday–Friday, minus Danish public holidays (from the
``holidays`` package, which knows Store Bededag ended in 2024), minus the extra days off
of the municipality's collective agreements. Those differ between municipalities, so they
are configuration; the common set is the default.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cached_property
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from .errors import ConfigurationError

if TYPE_CHECKING:
    from holidays import HolidayBase


COPENHAGEN = ZoneInfo("Europe/Copenhagen")

#: Grundlovsdag, juleaftensdag and nytårsaftensdag: the days off most Danish municipal
#: agreements give on top of the public holidays. 1 May is common too, but not universal.
DEFAULT_EXTRA_DAYS_OFF: tuple[tuple[int, int], ...] = ((6, 5), (12, 24), (12, 31))

#: The end of a working day, as a deadline. A deadline "on" a day means up to and including it.
END_OF_DAY = time(23, 59, 59)


def parse_days_off(text: str) -> tuple[tuple[int, int], ...]:
    """Parse ``"06-05,12-24,12-31"`` (month-day pairs) as configured in the environment."""
    days: list[tuple[int, int]] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            month, day = (int(x) for x in part.split("-"))
            date(2000, month, day)  # 2000 is a leap year, so 02-29 is accepted
        except ValueError:
            raise ValueError(
                f"extra day off {part!r} is not MM-DD; "
                "write e.g. FORLOEB_EXTRA_DAYS_OFF=06-05,12-24"
            ) from None
        days.append((month, day))
    return tuple(days)


@dataclass(frozen=True)
class WorkingCalendar:
    """Mon–Fri minus Danish public holidays minus configurable extra days off."""

    extra_days_off: tuple[tuple[int, int], ...] = DEFAULT_EXTRA_DAYS_OFF
    _cache: dict[date, bool] = field(default_factory=dict, compare=False, repr=False)
    _weekdays_off_by_year: dict[int, tuple[date, ...]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def from_env(cls) -> WorkingCalendar:
        configured = os.environ.get("FORLOEB_EXTRA_DAYS_OFF")
        if configured is None:
            return cls()
        try:
            return cls(extra_days_off=parse_days_off(configured))
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None

    @cached_property
    def _public_holidays(self) -> HolidayBase:
        # Years are filled in lazily by the holidays package as dates are looked up. The
        # package is imported on first use: reading a case needs no calendar.
        import holidays

        return holidays.country_holidays("DK")

    def is_working_day(self, day: date) -> bool:
        cached = self._cache.get(day)
        if cached is None:
            cached = (
                day.weekday() < 5
                and day not in self._public_holidays
                and (day.month, day.day) not in self.extra_days_off
            )
            self._cache[day] = cached
        return cached

    def add_working_days(self, start: date, n: int) -> date:
        """The n-th working day after ``start`` (``start`` itself never counts)."""
        if n < 0:
            raise ValueError("n must be zero or more")
        day = start
        remaining = n
        while remaining:
            day += timedelta(days=1)
            if self.is_working_day(day):
                remaining -= 1
        return day

    def subtract_working_days(self, start: date, n: int) -> date:
        """The n-th working day before ``start``."""
        day = start
        remaining = n
        while remaining:
            day -= timedelta(days=1)
            if self.is_working_day(day):
                remaining -= 1
        return day

    def working_days(self, first: date, last: date) -> Iterable[date]:
        day = first
        while day <= last:
            if self.is_working_day(day):
                yield day
            day += timedelta(days=1)

    def count_working_days(self, first: date, last: date) -> int:
        """How many working days from ``first`` to ``last``, both included (0 if ``last``
        comes first). Counted, not walked: a list of 10,000 deadlines asks this 10,000
        times, and walking each span day by day was most of that page's time."""
        if last < first:
            return 0
        weekdays = _weekdays_through(last) - _weekdays_through(first - timedelta(days=1))
        off = sum(
            1
            for year in range(first.year, last.year + 1)
            for day in self._weekdays_off(year)
            if first <= day <= last
        )
        return weekdays - off

    def _weekdays_off(self, year: int) -> tuple[date, ...]:
        """The Mondays to Fridays of ``year`` that are no working day (holidays, days off)."""
        cached = self._weekdays_off_by_year.get(year)
        if cached is None:
            import holidays  # as in _public_holidays: on first use

            public = set(holidays.country_holidays("DK", years=year))
            extra = set()
            for month, day in self.extra_days_off:
                try:
                    extra.add(date(year, month, day))
                except ValueError:  # 29 February in a year without one
                    continue
            cached = tuple(sorted(d for d in public | extra if d.weekday() < 5))
            self._weekdays_off_by_year[year] = cached
        return cached

    def deadline(self, start: datetime, n: int) -> datetime:
        """End of the n-th working day after ``start``'s local date, in Copenhagen time."""
        local_day = start.astimezone(COPENHAGEN).date()
        return end_of_day(self.add_working_days(local_day, n))


def _weekdays_through(day: date) -> int:
    """Mondays to Fridays from 1 January of year 1 (a Monday, ordinal 1) through ``day``."""
    weeks, rest = divmod(day.toordinal(), 7)
    return weeks * 5 + min(rest, 5)


def end_of_day(day: date) -> datetime:
    return datetime.combine(day, END_OF_DAY, tzinfo=COPENHAGEN)


def at_local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=COPENHAGEN)
