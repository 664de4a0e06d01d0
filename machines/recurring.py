"""Rules shared by the processes whose meetings are series (learning groups, room meetings).

A case keeps the keys of its series in ``data["series"]``; each is a meeting row whose
``series`` holds the rule (``machines.series``). An occurrence is named by its
recurrence id: its start as the rule gives it, whatever it was moved to.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Annotated, Any

from pydantic import Field, model_validator

from .case import CaseSnapshot
from .common import series_of
from .effects import CancelMeeting, ChangeOccurrence, EndSeries
from .engine import Context
from .inputs import AwareTime, Day, OneLine, Place, Session, StrictModel
from .series import Occurrence, Series, SeriesRule, closure_exdates
from .workdays import COPENHAGEN, WorkingCalendar


class PlanSeriesIn(StrictModel):
    """A series from ``first`` until a day, or for a number of meetings."""

    first: AwareTime = Field(title="Første møde")
    minutes: Annotated[int, Field(ge=15, le=240)] = Field(45, title="Varighed (minutter)")
    weeks: Annotated[int, Field(ge=1, le=52)] | None = Field(None, title="Antal møder")
    until: Day | None = Field(None, title="Sidste dag")
    closure_days: list[Day] = Field(default_factory=list, title="Lukkedage")
    location: Place | None = Field(None, title="Mødested")

    @model_validator(mode="after")
    def _one_end(self) -> PlanSeriesIn:
        if (self.weeks is None) == (self.until is None):
            raise ValueError("give either 'weeks' (how many) or 'until' (the last day)")
        return self

    def meeting_starts(self) -> tuple[datetime, ...]:
        return (self.first,)


class OccurrenceIn(StrictModel):
    session: Session = Field(title="Møde (planlagt tidspunkt)")


class MoveOccurrenceIn(OccurrenceIn):
    start: AwareTime = Field(title="Nyt tidspunkt")


class CancelOccurrenceIn(OccurrenceIn):
    reason: Annotated[OneLine, Field(min_length=1, max_length=1000)] = Field(title="Begrundelse")


def label(moment: datetime) -> str:
    return moment.astimezone(COPENHAGEN).isoformat()


def series_keys(data: Any) -> list[str]:
    return list(data.get("series", []))


def planned_series(
    given: PlanSeriesIn, calendar: WorkingCalendar, interval_weeks: int = 1
) -> Series:
    """The series a plan asks for, without the days the institution is closed."""
    first = given.first.astimezone(COPENHAGEN)
    if given.weeks is not None:
        rule = SeriesRule("WEEKLY", interval_weeks, count=given.weeks)
    else:
        assert given.until is not None
        last = datetime.combine(given.until, time(23, 59), COPENHAGEN)
        rule = SeriesRule("WEEKLY", interval_weeks, until=last)
    exdates = closure_exdates(first, rule, calendar, given.closure_days)
    return Series(first, first + timedelta(minutes=given.minutes), rule, exdates)


def stored_occurrences(case: CaseSnapshot) -> list[Occurrence]:
    """Every occurrence that takes place, of all the case's series, by start."""
    found: list[Occurrence] = []
    for key in series_keys(case.data):
        meeting = case.meeting(key)
        if meeting is not None and meeting.series and meeting.status == "scheduled":
            found += Series.from_json(meeting.series).held_or_planned()
    return sorted(found, key=lambda o: o.start)


def current_occurrences(ctx: Context[Any]) -> list[Occurrence]:
    """As ``stored_occurrences``, with this event's changes to the series applied."""
    found: list[Occurrence] = []
    for key in series_keys(ctx.data):
        series = series_of(ctx, key)
        if series is not None:
            found += series.held_or_planned()
    return sorted(found, key=lambda o: o.start)


def find_occurrence(
    case: CaseSnapshot, recurrence_id: datetime
) -> tuple[str, Series, Occurrence] | None:
    for key in series_keys(case.data):
        meeting = case.meeting(key)
        if meeting is None or not meeting.series or meeting.status != "scheduled":
            continue
        series = Series.from_json(meeting.series)
        found = series.occurrence(recurrence_id)
        if found is not None:
            return key, series, found
    return None


def no_such_occurrence(case: CaseSnapshot, recurrence_id: datetime) -> str | None:
    """Input check: the time names a planned, not cancelled, occurrence."""
    found = find_occurrence(case, recurrence_id)
    if found is None:
        return (
            f"nothing is planned at {label(recurrence_id)}; "
            "give the meeting's planned time (see 'forloeb case show')"
        )
    if found[2].cancelled:
        return f"the meeting at {label(recurrence_id)} was cancelled"
    return None


def occurrence_fits(case: CaseSnapshot, given: OccurrenceIn) -> str | None:
    return no_such_occurrence(case, given.session)


def occurrence_ahead(ctx: Context[OccurrenceIn]) -> str | None:
    """Guard: only a meeting not yet begun changes, and not onto a closed day or the past."""
    found = find_occurrence(ctx.case, ctx.input.session)
    assert found is not None  # the input check found it
    if found[2].start <= ctx.now:
        return f"the meeting at {label(found[2].start)} has begun; it cannot change"
    if isinstance(ctx.input, MoveOccurrenceIn):
        start = ctx.input.start
        if start <= ctx.now:
            return f"the new time {label(start)} is in the past"
        day = start.astimezone(COPENHAGEN).date()
        if not ctx.calendar.is_working_day(day):
            return f"{day.isoformat()} the institution is closed; choose a working day"
    return None


def plan_in_future(ctx: Context[PlanSeriesIn], series: Series) -> str | None:
    if ctx.input.first <= ctx.now:
        return f"the first meeting {label(ctx.input.first)} is in the past"
    if not series.held_or_planned():
        return "every meeting of that plan falls on a day the institution is closed"
    return None


def move_occurrence(ctx: Context[MoveOccurrenceIn]) -> None:
    found = find_occurrence(ctx.case, ctx.input.session)
    assert found is not None
    key, series, occurrence = found
    start = ctx.input.start
    ctx.effects.append(
        ChangeOccurrence(key, occurrence.recurrence_id, start, start + series.duration)
    )
    ctx.details["session"] = label(occurrence.recurrence_id)


def cancel_occurrence(ctx: Context[CancelOccurrenceIn]) -> None:
    found = find_occurrence(ctx.case, ctx.input.session)
    assert found is not None
    key, _, occurrence = found
    ctx.effects.append(
        ChangeOccurrence(
            key, occurrence.recurrence_id, occurrence.start, occurrence.end, cancelled=True
        )
    )
    ctx.details["session"] = label(occurrence.recurrence_id)
    ctx.details["reason"] = ctx.input.reason


def end_series_now(ctx: Context[Any]) -> None:
    """The meetings after now leave the calendars: each series ends early (an update of its
    RRULE), or is cancelled if none of it was held."""
    for key in series_keys(ctx.data):
        series = series_of(ctx, key)
        if series is None:
            continue
        starts = list(series.rule_starts())
        if starts[0] > ctx.now:
            ctx.effects.append(CancelMeeting(key))
        elif starts[-1] > ctx.now:
            ctx.effects.append(EndSeries(key, ctx.now))
