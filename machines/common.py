"""Building blocks shared by the process tables: meetings, reminders, reasons.

Each is a plain guard or action (see ``definition.py``), so a table names them like its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Protocol

from .case import CaseSnapshot
from .effects import (
    CancelMeeting,
    ChangeOccurrence,
    EndSeries,
    MoveMeeting,
    Notify,
    ScheduleMeeting,
    ScheduleSeries,
)
from .engine import Context
from .inputs import MeetingAt, ReasonIn
from .series import Override, Series
from .workdays import at_local


class SetsMeetingTimes(Protocol):
    """An input that fixes meeting times (a meeting's, a nested follow-up's)."""

    def meeting_starts(self) -> tuple[datetime, ...]: ...


def iso(value: datetime) -> str:
    return value.isoformat()


def children_of(case: CaseSnapshot, data: dict[str, Any] | None = None) -> list[str]:
    """The children in a case with children (a learning group, a room's nursery): as the
    events left them in ``data`` (the case's, or the one an action is changing), else as
    the case file gave them."""
    source = case.data if data is None else data
    if "children" in source:
        return list(source["children"])
    return list(case.data.get("case_file", {}).get("children", []))


def next_meeting_key(ctx: Context[Any], prefix: str) -> str:
    """``prefix-1``, ``prefix-2``, ...: stable keys, one per meeting ever scheduled."""
    count = sum(1 for m in ctx.case.meetings if m.key.startswith(prefix + "-"))
    count += sum(
        1 for e in ctx.effects if isinstance(e, ScheduleMeeting) and e.meeting.startswith(prefix)
    )
    return f"{prefix}-{count + 1}"


def keys_with_roles(ctx: Context[Any], roles: Iterable[str]) -> tuple[str, ...]:
    wanted = set(roles)
    return tuple(p.key for p in ctx.case.participants if p.role in wanted)


def schedule_meeting(
    ctx: Context[Any],
    prefix: str,
    start: datetime,
    minutes: int,
    attendees: Iterable[str],
    location: str | None = None,
) -> str:
    """Schedule a new meeting (invitations go out) and remember it as ``data["meeting"]``."""
    key = next_meeting_key(ctx, prefix)
    ctx.data["meeting"] = key
    ctx.data["meeting_start"] = iso(start)
    ctx.effects.append(
        ScheduleMeeting(
            key,
            start,
            start + timedelta(minutes=minutes),
            location or ctx.case.location,
            tuple(attendees),
        )
    )
    return key


def move_current_meeting(ctx: Context[MeetingAt]) -> None:
    """Move ``data["meeting"]`` to ``input.start`` (and ``input.location``), same length."""
    key = str(ctx.data["meeting"])
    meeting = ctx.case.meeting(key)
    assert meeting is not None
    start = ctx.input.start
    ctx.data["meeting_start"] = iso(start)
    location = ctx.input.location or meeting.location
    ctx.effects.append(MoveMeeting(key, start, start + (meeting.end - meeting.start), location))


def cancel_current_meeting(ctx: Context[Any]) -> None:
    ctx.effects.append(CancelMeeting(str(ctx.data["meeting"])))


def cancel_open_meetings(ctx: Context[Any]) -> None:
    """Every meeting not yet held is cancelled (CANCEL goes to its attendees)."""
    for meeting in ctx.case.meetings:
        if meeting.status == "scheduled":
            ctx.effects.append(CancelMeeting(meeting.key))


def meeting_in_future(ctx: Context[SetsMeetingTimes]) -> str | None:
    """Every meeting time the input sets (also a nested follow-up's) must lie after now."""
    for start in ctx.input.meeting_starts():
        if start <= ctx.now:
            return f"the meeting time {start.isoformat()} is in the past; choose a later time"
    return None


def record_reason(ctx: Context[ReasonIn]) -> None:
    ctx.details["reason"] = ctx.input.reason


def morning_before(ctx: Context[Any], when: datetime, working_days: int) -> datetime | None:
    """``reminder_hour`` on the working day ``working_days`` before ``when``; None if past."""
    day = ctx.calendar.subtract_working_days(when.date(), working_days)
    due = at_local(day, ctx.settings["reminder_hour"])
    return due if due > ctx.now else None


def remind_attendees(ctx: Context[Any]) -> None:
    """The reminder mail to the attendees of the current meeting (``data["meeting"]``)."""
    key = str(ctx.data["meeting"])
    meeting = ctx.case.meeting(key)
    assert meeting is not None
    ctx.effects.append(Notify("reminder", keys=meeting.attendees, meeting=key, topic="meeting"))


def meeting_reminder_due(ctx: Context[Any]) -> datetime | None:
    """The attendees' reminder, ``reminder_working_days`` before the current meeting."""
    start = datetime.fromisoformat(ctx.data["meeting_start"])
    return morning_before(ctx, start, ctx.settings["reminder_working_days"])


def series_of(ctx: Context[Any], key: str) -> Series | None:
    """The series ``key`` as it stands after this event's effects so far (None: none, or
    cancelled): the stored rule, then what this event's actions already changed."""
    meeting = ctx.case.meeting(key)
    series = (
        Series.from_json(meeting.series)
        if meeting is not None and meeting.series and meeting.status == "scheduled"
        else None
    )
    for effect in ctx.effects:
        if getattr(effect, "meeting", None) != key:
            continue
        match effect:
            case ScheduleSeries(_, scheduled, _, _):
                series = scheduled
            case ChangeOccurrence(_, rid, start, end, cancelled, attendees) if series is not None:
                before = series.overrides.get(rid)
                kept = attendees
                if kept is None and before is not None:
                    kept = before.attendees
                series = series.with_override(rid, Override(start, end, cancelled, attendees=kept))
            case EndSeries(_, before) if series is not None:
                series = series.ended_before(before)
            case CancelMeeting():
                series = None
    return series
