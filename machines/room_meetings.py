"""room_meetings: stuemøder, a daycare room's staff meeting every 14 days (issue 14, §4).

Its own process, not an event of ``learning_group``: a room's meetings outlive any one
group, and a room may hold several groups or none.

1. the meetings are one calendar series every 14 days for the room's staff, without the
   days the daycare is closed;
2. one meeting can be moved or cancelled on its own;
3. ending the meetings takes the rest out of the calendars (an update of the RRULE);
4. dialogic reading (*dialogisk læsning*): every nursery child of the room is read with
   once a week. The room's children are pseudonymous references (the case file's
   ``children``, ``add_child``, ``remove_child``); the staff register readings
   (``register_reading``: the children and the day). One timer per room
   (``reading_check``, the week's ``reading_check_weekday`` at ``reading_check_hour``, or
   the working day before it) checks the week: the room's staff get a reminder listing
   the children without a reading, by reference in the body only (never in the subject),
   and the timer is re-armed for next week. A week where every child was read with sends
   nothing.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, field_validator

from .case import CaseSnapshot
from .common import children_of, keys_with_roles, next_meeting_key, record_reason
from .definition import Event, MeetingKind, MessageFacts, Process, Role, Timer, t
from .effects import Notify, ScheduleSeries, SetTimer
from .engine import Context
from .inputs import CaseChild, CaseFile, Day, OneLine, Pseudonym, ReasonIn, StrictModel
from .recurring import (
    CancelOccurrenceIn,
    MoveOccurrenceIn,
    PlanSeriesIn,
    cancel_occurrence,
    end_series_now,
    move_occurrence,
    occurrence_ahead,
    occurrence_fits,
    plan_in_future,
    planned_series,
    series_keys,
)
from .workdays import COPENHAGEN, at_local


class RoomState(StrEnum):
    OPENED = "opened"
    MEETING = "meeting"
    ENDED = "ended"


class RoomEvent(StrEnum):
    PLAN_MEETINGS = "plan_meetings"
    MOVE_MEETING = "move_meeting"
    CANCEL_MEETING = "cancel_meeting"
    END_MEETINGS = "end_meetings"
    ADD_CHILD = "add_child"
    REMOVE_CHILD = "remove_child"
    REGISTER_READING = "register_reading"
    READING_CHECK = "reading_check"


ROLES = {
    "staff": Role("pædagogisk personale", "required"),
    "leader": Role("daginstitutionsleder", "optional"),
}
ORGANISERS = frozenset({"leader", "staff"})

ROOM_MEETING = "room-meetings"
MEETING_KINDS = {ROOM_MEETING: MeetingKind("Stuemøde", "stuemødet")}
SETTINGS: dict[str, Any] = {
    "interval_weeks": 2,  # rule 1: every 14 days
    "reading_check_weekday": 4,  # rule 4: Friday (0 Monday) (default)
    "reading_check_hour": 14,  # at 14:00 (default)
}
#: What the reminder is about (its body lists the children; its subject names none).
READING_TOPIC = "dialogic_reading"


def _distinct(children: list[str]) -> list[str]:
    if len(set(children)) != len(children):
        raise ValueError("a child is listed twice")
    return children


class RoomCaseFile(CaseFile):
    room: Annotated[OneLine, Field(min_length=1, max_length=100)] = Field(title="Stue")
    children: list[Pseudonym] = Field(
        default_factory=list,
        title="Vuggestuebørn (pseudonyme referencer)",
        description="stuens børn: pseudonyme referencer, aldrig navne",
    )

    _children = field_validator("children")(_distinct)


class RoomChildIn(StrictModel):
    child: Pseudonym = Field(title="Barn (pseudonym reference)")


class LeavingChildIn(RoomChildIn):
    child: CaseChild = Field(title="Barn")


class ReadingIn(StrictModel):
    children: Annotated[list[CaseChild], Field(min_length=1, max_length=50)] = Field(
        title="Børn der er læst med"
    )
    day: Day = Field(title="Dag")

    _children = field_validator("children")(_distinct)


# ---------------------------------------------------------------- the room's children


def child_can_join(case: CaseSnapshot, given: RoomChildIn) -> str | None:
    if given.child in children_of(case):
        # What was typed is not repeated (here and below): a name or a number typed as a
        # child's reference would reach the terminal, logs and Prefect.
        return "the child given is already a child of this room"
    return None


def child_can_leave(case: CaseSnapshot, given: RoomChildIn) -> str | None:
    children = children_of(case)
    if given.child not in children:
        return "the child given is not a child of this room; see its children with case show"
    return None


def reading_fits(case: CaseSnapshot, given: ReadingIn) -> str | None:
    children = children_of(case)
    strangers = [c for c in given.children if c not in children]
    if strangers:
        return (
            f"{len(strangers)} of the children given is not a child of this room; register "
            "the reading on the child's own room, or add the child first (add_child)"
        )
    return None


def reading_not_ahead(ctx: Context[ReadingIn]) -> str | None:
    if ctx.input.day > ctx.now.astimezone(COPENHAGEN).date():
        return f"{ctx.input.day} lies ahead; register a reading on the day it took place"
    return None


def plan_in_the_future(ctx: Context[PlanSeriesIn]) -> str | None:
    series = planned_series(ctx.input, ctx.calendar, ctx.settings["interval_weeks"])
    return plan_in_future(ctx, series)


def schedule_meetings(ctx: Context[PlanSeriesIn]) -> None:
    series = planned_series(ctx.input, ctx.calendar, ctx.settings["interval_weeks"])
    key = next_meeting_key(ctx, ROOM_MEETING)
    attendees = keys_with_roles(ctx, ("staff", "leader"))
    location = ctx.input.location or ctx.case.location
    ctx.effects.append(ScheduleSeries(key, series, location, attendees))
    ctx.data["series"] = [*series_keys(ctx.data), key]
    ctx.details["meetings"] = len(series.held_or_planned())


def add_child(ctx: Context[RoomChildIn]) -> None:
    ctx.data["children"] = [*children_of(ctx.case, ctx.data), ctx.input.child]
    ctx.details["child"] = ctx.input.child
    arm_reading_check(ctx)


def remove_child(ctx: Context[RoomChildIn]) -> None:
    ctx.data["children"] = [c for c in children_of(ctx.case, ctx.data) if c != ctx.input.child]
    ctx.data.get("read", {}).pop(ctx.input.child, None)
    ctx.details["child"] = ctx.input.child


def register_reading(ctx: Context[ReadingIn]) -> None:
    """The last day each child was read with (the history keeps every registration)."""
    read = ctx.data.setdefault("read", {})
    day = ctx.input.day.isoformat()
    for child in ctx.input.children:
        read[child] = max(read.get(child, day), day)
    ctx.details.update({"children": list(ctx.input.children), "day": day})


# ---------------------------------------------------------------- the weekly check


def _check_in_week(ctx: Context[Any], monday: date) -> datetime | None:
    """The week's check: its configured weekday, or the working day before it in the same
    week; None if the week has no working day up to it."""
    day = monday + timedelta(days=ctx.settings["reading_check_weekday"])
    while day >= monday:
        if ctx.calendar.is_working_day(day):
            return at_local(day, ctx.settings["reading_check_hour"])
        day -= timedelta(days=1)
    return None


def _monday(moment: datetime) -> date:
    day = moment.astimezone(COPENHAGEN).date()
    return day - timedelta(days=day.weekday())


def reading_check_due(ctx: Context[Any]) -> datetime | None:
    """The room's one timer: the first weekly check after now (none without children)."""
    if not children_of(ctx.case, ctx.data):
        return None
    monday = _monday(ctx.now)
    for _ in range(54):  # a week without a working day is skipped
        due = _check_in_week(ctx, monday)
        if due is not None and due > ctx.now:
            return due
        monday += timedelta(weeks=1)
    return None


def arm_reading_check(ctx: Context[Any]) -> None:
    due = reading_check_due(ctx)
    if due is not None:
        ctx.effects.append(SetTimer(RoomEvent.READING_CHECK, due))


def check_readings(ctx: Context[Any]) -> None:
    """Tell the room's staff which children have no reading this week (by reference, in
    the body), then arm the check of next week. The week is the one whose check is due
    (a sweep that runs late still checks it, not the week it runs in)."""
    monday = _monday(ctx.now)
    due = _check_in_week(ctx, monday)
    if due is None or due > ctx.now:
        monday -= timedelta(weeks=1)
    read = ctx.data.get("read", {})
    missing = sorted(
        c for c in children_of(ctx.case, ctx.data) if read.get(c, "") < monday.isoformat()
    )
    ctx.data["reading_week"] = monday.isoformat()
    ctx.data["reading_missing"] = missing
    if missing:
        ctx.details["children_without_reading"] = missing
        ctx.effects.append(Notify("reminder", roles=("staff",), topic=READING_TOPIC))
    arm_reading_check(ctx)


def message_facts(case: CaseSnapshot, template: str, topic: str | None) -> MessageFacts:
    if topic == READING_TOPIC:
        return MessageFacts(
            deadline=case.data.get("reading_week"),
            references=tuple(case.data.get("reading_missing", ())),
        )
    return MessageFacts()


def end_meetings(ctx: Context[ReasonIn]) -> None:
    end_series_now(ctx)
    record_reason(ctx)


LIVE = (RoomState.OPENED, RoomState.MEETING)

ROOM_MEETINGS = Process(
    name="room_meetings",
    title="Stuemøder",
    doc="A daycare room's staff meets every 14 days: one calendar series.",
    states=tuple(RoomState),
    initial=RoomState.OPENED,
    finals=frozenset({RoomState.ENDED}),
    roles=ROLES,
    settings=SETTINGS,
    case_file=RoomCaseFile,
    meeting_kinds=MEETING_KINDS,
    escalation_role="leader",
    message_facts=message_facts,
    state_titles={
        RoomState.OPENED: "Oprettet",
        RoomState.MEETING: "Stuemøderne er planlagt",
        RoomState.ENDED: "Afsluttet",
    },
    events=(
        Event(
            RoomEvent.PLAN_MEETINGS,
            ORGANISERS,
            PlanSeriesIn,
            "the room meetings, every 14 days, as one calendar series",
            "Planlæg stuemøderne",
        ),
        Event(
            RoomEvent.MOVE_MEETING,
            ORGANISERS,
            MoveOccurrenceIn,
            "move one room meeting on its own",
            "Flyt et stuemøde",
            input_checks=(occurrence_fits,),
        ),
        Event(
            RoomEvent.CANCEL_MEETING,
            ORGANISERS,
            CancelOccurrenceIn,
            "cancel one room meeting on its own",
            "Aflys et stuemøde",
            input_checks=(occurrence_fits,),
        ),
        Event(
            RoomEvent.END_MEETINGS,
            ORGANISERS,
            ReasonIn,
            "no more room meetings (the rest leave the calendars)",
            "Afslut stuemøderne",
        ),
        Event(
            RoomEvent.ADD_CHILD,
            ORGANISERS,
            RoomChildIn,
            "a nursery child joins the room (a pseudonymous reference)",
            "Tilføj et barn",
            input_checks=(child_can_join,),
        ),
        Event(
            RoomEvent.REMOVE_CHILD,
            ORGANISERS,
            LeavingChildIn,
            "a child leaves the room",
            "Et barn forlader stuen",
            input_checks=(child_can_leave,),
        ),
        Event(
            RoomEvent.REGISTER_READING,
            ORGANISERS,
            ReadingIn,
            "the children read with (dialogic reading) on a day",
            "Registrér dialogisk læsning",
            input_checks=(reading_fits,),
        ),
        Event(
            RoomEvent.READING_CHECK,
            frozenset(),
            doc="the week's check: remind the staff of children without a reading",
            title="Ugentligt tjek af dialogisk læsning",
        ),
    ),
    transitions=(
        t(
            RoomEvent.PLAN_MEETINGS,
            RoomState.OPENED,
            RoomState.MEETING,
            guards=(plan_in_the_future,),
            actions=(schedule_meetings,),
        ),
        t(
            RoomEvent.MOVE_MEETING,
            RoomState.MEETING,
            None,
            guards=(occurrence_ahead,),
            actions=(move_occurrence,),
        ),
        t(
            RoomEvent.CANCEL_MEETING,
            RoomState.MEETING,
            None,
            guards=(occurrence_ahead,),
            actions=(cancel_occurrence,),
        ),
        t(
            RoomEvent.END_MEETINGS,
            (RoomState.OPENED, RoomState.MEETING),
            RoomState.ENDED,
            actions=(end_meetings,),
        ),
        t(RoomEvent.ADD_CHILD, LIVE, None, actions=(add_child,)),
        t(RoomEvent.REMOVE_CHILD, LIVE, None, actions=(remove_child,)),
        t(
            RoomEvent.REGISTER_READING,
            LIVE,
            None,
            guards=(reading_not_ahead,),
            actions=(register_reading,),
        ),
        t(RoomEvent.READING_CHECK, LIVE, None, actions=(check_readings,)),
    ),
    timers=(
        Timer(RoomState.OPENED, RoomEvent.READING_CHECK, reading_check_due),
        Timer(RoomState.MEETING, RoomEvent.READING_CHECK, reading_check_due),
    ),
)
