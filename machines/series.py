"""Recurring meetings: a series as one rule, and the occurrences it stands for.

A series is what one iCalendar VEVENT with an ``RRULE`` says: a first start, a length, a
rule (weekly, every 14 days, monthly) with an end (a count or a last start), the starts
left out (``EXDATE``: days the institution is closed) and the occurrences changed on their
own (``RECURRENCE-ID``: moved or cancelled, each with its own SEQUENCE).

Occurrences are computed in Europe/Copenhagen wall-clock time: a 09:00 meeting stays at
09:00 across both daylight-saving changes (as RFC 5545 expands a DTSTART with a TZID).
Pure: no I/O. The stored form is plain JSON (``to_json``/``from_json``), kept on the
series' meeting row.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from .workdays import COPENHAGEN, WorkingCalendar

Freq = Literal["WEEKLY", "MONTHLY"]

#: A safety bound: no series of ours runs longer (a year of weekly meetings is 53).
MAX_OCCURRENCES = 400


@dataclass(frozen=True)
class SeriesRule:
    """Every ``interval`` weeks or months, ending after ``count`` starts or at ``until``.

    ``until`` is inclusive (RFC 5545): the last start may equal it. Exactly one of
    ``count`` and ``until`` is given: a series without an end would need EXDATEs forever.
    """

    freq: Freq
    interval: int = 1
    count: int | None = None
    until: datetime | None = None
    #: Monthly on the n-th weekday (``BYDAY=2TU``): (n, weekday) with n 1–4 or -1 (the
    #: last) and weekday 0 (Monday)–6; None: on DTSTART's day of the month.
    byday: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.byday is not None:
            nth, weekday = self.byday
            if self.freq != "MONTHLY" or nth not in (1, 2, 3, 4, -1) or not 0 <= weekday <= 6:
                raise ValueError("BYDAY is a monthly rule's n-th weekday: n 1–4 or -1")
        if (self.count is None) == (self.until is None):
            raise ValueError("a series ends either after a count or at a date (exactly one)")
        if self.interval < 1 or (self.count is not None and self.count < 1):
            raise ValueError("a series needs a positive interval and count")
        if self.until is not None and self.until.tzinfo is None:
            raise ValueError("the end of a series needs a UTC offset")


@dataclass(frozen=True)
class Override:
    """One occurrence changed on its own: moved (a new start and end) or cancelled."""

    start: datetime
    end: datetime
    cancelled: bool = False
    sequence: int = 1  # the occurrence's own SEQUENCE, above the series' when it was made
    #: The occurrence's own attendees (participant keys) when they differ from the
    #: series' (another social worker covers it); None: the series' attendees.
    attendees: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Occurrence:
    """One meeting of a series. ``recurrence_id`` is its start as the rule gives it."""

    recurrence_id: datetime
    start: datetime
    end: datetime
    cancelled: bool = False
    moved: bool = False


@dataclass(frozen=True)
class Series:
    start: datetime  # the first start the rule gives (DTSTART), aware
    end: datetime  # its end (DTEND): every occurrence lasts as long
    rule: SeriesRule
    exdates: frozenset[datetime] = frozenset()
    overrides: Mapping[datetime, Override] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("a series' start and end need a UTC offset")
        if self.end <= self.start:
            raise ValueError("a meeting must end after it starts")
        object.__setattr__(self, "start", self.start.astimezone(COPENHAGEN))
        object.__setattr__(self, "end", self.end.astimezone(COPENHAGEN))

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def rule_starts(self) -> Iterator[datetime]:
        """The starts the RRULE alone gives (EXDATEs not yet removed), in order."""
        return rule_starts(self.start, self.rule)

    def occurrences(self) -> list[Occurrence]:
        """Every occurrence, cancelled ones included (marked), moved ones at their new time,
        in the order of their recurrence ids."""
        excluded = {d.astimezone(UTC) for d in self.exdates}
        overrides = {k.astimezone(UTC): v for k, v in self.overrides.items()}
        result = []
        for rid in self.rule_starts():
            if rid.astimezone(UTC) in excluded:
                continue
            change = overrides.get(rid.astimezone(UTC))
            if change is None:
                result.append(Occurrence(rid, rid, rid + self.duration))
            else:
                result.append(
                    Occurrence(
                        rid,
                        change.start.astimezone(COPENHAGEN),
                        change.end.astimezone(COPENHAGEN),
                        cancelled=change.cancelled,
                        moved=not change.cancelled,
                    )
                )
        return result

    def held_or_planned(self) -> list[Occurrence]:
        """The occurrences that take place (not cancelled), by their (possibly moved) start."""
        return sorted((o for o in self.occurrences() if not o.cancelled), key=lambda o: o.start)

    def occurrence(self, recurrence_id: datetime) -> Occurrence | None:
        wanted = recurrence_id.astimezone(UTC)
        return next(
            (o for o in self.occurrences() if o.recurrence_id.astimezone(UTC) == wanted), None
        )

    def next_after(self, moment: datetime) -> Occurrence | None:
        """The first occurrence that takes place and starts after ``moment``."""
        return next((o for o in self.held_or_planned() if o.start > moment), None)

    def with_override(self, recurrence_id: datetime, override: Override) -> Series:
        changed = dict(self.overrides)
        changed[recurrence_id.astimezone(COPENHAGEN)] = override
        return replace(self, overrides=changed)

    def ended_before(self, moment: datetime) -> Series:
        """The series ended early: its last start is the last one before ``moment``.

        Becomes an UNTIL rule (also for a series that had a COUNT), so the update carries
        the new end in its RRULE.
        """
        kept = [s for s in self.rule_starts() if s < moment]
        if not kept:
            raise ValueError("nothing of the series would be left; cancel it instead")
        until = kept[-1].astimezone(UTC)
        rule = replace(self.rule, count=None, until=until)
        keep = {k: v for k, v in self.overrides.items() if k <= until}
        return replace(
            self,
            rule=rule,
            exdates=frozenset(d for d in self.exdates if d <= until),
            overrides=keep,
        )

    # ------------------------------------------------------------ JSON

    def to_json(self) -> dict[str, Any]:
        return {
            "freq": self.rule.freq,
            "interval": self.rule.interval,
            "count": self.rule.count,
            "until": self.rule.until.isoformat() if self.rule.until else None,
            **({"byday": list(self.rule.byday)} if self.rule.byday else {}),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "exdates": sorted(d.isoformat() for d in self.exdates),
            "overrides": {
                k.isoformat(): {
                    "start": v.start.isoformat(),
                    "end": v.end.isoformat(),
                    "cancelled": v.cancelled,
                    "sequence": v.sequence,
                    **({"attendees": list(v.attendees)} if v.attendees is not None else {}),
                }
                for k, v in sorted(self.overrides.items())
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Series:
        until = data.get("until")
        byday = data.get("byday")
        return cls(
            start=datetime.fromisoformat(data["start"]),
            end=datetime.fromisoformat(data["end"]),
            rule=SeriesRule(
                data["freq"],
                int(data.get("interval", 1)),
                count=data.get("count"),
                until=datetime.fromisoformat(until) if until else None,
                byday=(int(byday[0]), int(byday[1])) if byday else None,
            ),
            exdates=frozenset(datetime.fromisoformat(d) for d in data.get("exdates", ())),
            overrides={
                datetime.fromisoformat(k): Override(
                    datetime.fromisoformat(v["start"]),
                    datetime.fromisoformat(v["end"]),
                    bool(v.get("cancelled", False)),
                    int(v.get("sequence", 1)),
                    tuple(v["attendees"]) if v.get("attendees") is not None else None,
                )
                for k, v in dict(data.get("overrides", {})).items()
            },
        )


def _wall(day: date, like: datetime) -> datetime:
    # The same wall-clock time on another day: zoneinfo gives that day's offset.
    return datetime.combine(day, like.timetz().replace(tzinfo=None), tzinfo=COPENHAGEN)


def nth_weekday(year: int, month: int, nth: int, weekday: int) -> date | None:
    """The ``nth`` (1–5, or -1: the last) ``weekday`` (0 Monday) of a month; None if none."""
    if nth == -1:
        last = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
        return last - timedelta(days=(last.weekday() - weekday) % 7)
    first = date(year, month, 1)
    day = first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (nth - 1))
    return day if day.month == month else None


def rule_starts(start: datetime, rule: SeriesRule) -> Iterator[datetime]:
    """RFC 5545 expansion of ``FREQ=WEEKLY|MONTHLY;INTERVAL=n[;BYDAY=nWD]`` from DTSTART
    ``start``.

    Monthly keeps DTSTART's day of the month and skips the months without it (31 April),
    as RFC 5545 says; such a month counts toward no COUNT. With ``byday`` it is the n-th
    weekday of each month instead (DTSTART is expected to be one of them).
    """
    first = start.astimezone(COPENHAGEN)
    until = rule.until
    produced = 0
    step = 0
    while produced < MAX_OCCURRENCES:
        if rule.freq == "WEEKLY":
            day: date | None = first.date() + timedelta(weeks=rule.interval * step)
        else:
            months = first.month - 1 + rule.interval * step
            year, month = first.year + months // 12, months % 12 + 1
            if rule.byday is not None:
                day = nth_weekday(year, month, *rule.byday)
            else:
                try:
                    day = date(year, month, first.day)
                except ValueError:
                    day = None  # no such day in that month
        step += 1
        if day is None:
            continue
        moment = _wall(day, first)
        if until is not None and moment > until:
            return
        yield moment
        produced += 1
        if rule.count is not None and produced >= rule.count:
            return


def closure_exdates(
    start: datetime,
    rule: SeriesRule,
    calendar: WorkingCalendar,
    closed: Iterable[date] = (),
) -> frozenset[datetime]:
    """The starts that fall on a day the institution is closed: a weekend, a public
    holiday, the municipality's days off (``calendar``) or its own closure days."""
    closed_days = set(closed)
    return frozenset(
        s
        for s in rule_starts(start, rule)
        if s.date() in closed_days or not calendar.is_working_day(s.date())
    )


__all__ = [
    "MAX_OCCURRENCES",
    "Occurrence",
    "Override",
    "Series",
    "SeriesRule",
    "closure_exdates",
    "nth_weekday",
    "rule_starts",
]
