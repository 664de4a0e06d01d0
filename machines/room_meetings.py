"""room_meetings: stuemøder, a daycare room's staff meeting every 14 days (issue 14, §4).

Its own process, not an event of ``learning_group``: a room's meetings outlive any one
group, and a room may hold several groups or none.

1. the meetings are one calendar series every 14 days for the room's staff, without the
   days the daycare is closed;
2. one meeting can be moved or cancelled on its own;
3. ending the meetings takes the rest out of the calendars (an update of the RRULE).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from .common import keys_with_roles, next_meeting_key, record_reason
from .definition import Event, MeetingKind, Process, Role, t
from .effects import ScheduleSeries
from .engine import Context
from .inputs import CaseFile, OneLine, ReasonIn
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


class RoomState(StrEnum):
    OPENED = "opened"
    MEETING = "meeting"
    ENDED = "ended"


class RoomEvent(StrEnum):
    PLAN_MEETINGS = "plan_meetings"
    MOVE_MEETING = "move_meeting"
    CANCEL_MEETING = "cancel_meeting"
    END_MEETINGS = "end_meetings"


ROLES = {
    "staff": Role("pædagogisk personale", "required"),
    "leader": Role("daginstitutionsleder", "optional"),
}
ORGANISERS = frozenset({"leader", "staff"})

ROOM_MEETING = "room-meetings"
MEETING_KINDS = {ROOM_MEETING: MeetingKind("Stuemøde", "stuemødet")}
SETTINGS = {"interval_weeks": 2}  # rule 1: every 14 days


class RoomCaseFile(CaseFile):
    room: Annotated[OneLine, Field(min_length=1, max_length=100)] = Field(title="Stue")


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


def end_meetings(ctx: Context[ReasonIn]) -> None:
    end_series_now(ctx)
    record_reason(ctx)


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
    ),
)
