"""coaching: coachingforløb for young people at the youth centre (DOMAIN.md §3).

1. the caseworker refers; an optional intro meeting (youth, caseworker, coach) decides;
2. about six one-hour sessions, planned individually (``replan``);
3. session 1 frames the course: expectations, goals, methods;
4. the young person always leaves a session with homework: no homework, no session;
5. an optional follow-up conversation 6 weeks after the end *(default)*;
6. a coach runs about 50 courses a year (``forloeb capacity``);
7. the outcome is recorded at the end.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import Field

from .common import (
    cancel_open_meetings,
    iso,
    keys_with_roles,
    meeting_in_future,
    meeting_reminder_due,
    move_current_meeting,
    record_reason,
    remind_attendees,
    schedule_meeting,
)
from .definition import Capacity, Event, MeetingKind, Process, Role, Timer, t
from .effects import MarkMeetingHeld, Notify
from .engine import Context
from .inputs import CaseFile, OneLine, Pseudonym, ReasonIn, StrictModel, Text, When
from .workdays import at_local

COACH = frozenset({"coach"})
CASEWORKER = frozenset({"caseworker"})
PROFESSIONALS = frozenset({"coach", "caseworker", "coordinator"})

ROLES = {
    "youth": Role("den unge", "required"),
    "coach": Role("coach", "required"),
    "caseworker": Role("sagsbehandler", "optional"),
    "coordinator": Role("kommunal tovholder", "no"),
}

INTRO_MEETING = "intro"
SESSION_MEETING = "session"
FOLLOW_UP_MEETING = "follow-up"
MEETING_KINDS = {
    INTRO_MEETING: MeetingKind("Introduktionsmøde", "introduktionsmødet"),
    SESSION_MEETING: MeetingKind("Coachingsession", "sessionen"),
    FOLLOW_UP_MEETING: MeetingKind("Opfølgning på coachingforløb", "opfølgningsmødet"),
}

SETTINGS = {
    "intro_minutes": 60,
    "idle_reminder_days": 21,  # (default) nothing scheduled 3 weeks after the last session
    "follow_up_weeks": 6,  # rule 5 (default)
    "no_shows_before_caseworker_told": 2,
    "reminder_working_days": 2,
    "reminder_hour": 8,
}

Theme = Literal["relations", "persistence", "temptations", "distractions"]
Outcome = Literal["education", "employment", "neither", "unknown"]


class CoachingCaseFile(CaseFile):
    youth_ref: Pseudonym = Field(description="a pseudonymous reference, never a CPR number")
    planned_sessions: Annotated[int, Field(ge=1, le=30)] = 6
    session_minutes: Annotated[int, Field(ge=15, le=240)] = 60


class MeetingIn(StrictModel):
    start: When
    location: OneLine | None = None


class CompleteSessionIn(StrictModel):
    homework: str = ""
    themes: list[Theme] = Field(default_factory=list)
    expectations: Text | None = Field(None, description="required at session 1: the framing")


class ReplanIn(StrictModel):
    planned_sessions: Annotated[int, Field(ge=1, le=30)]


class FinishIn(StrictModel):
    outcome: Outcome


# ---------------------------------------------------------------- helpers


def _planned(ctx: Context) -> int:
    return int(ctx.data.get("planned_sessions", ctx.case.data["case_file"]["planned_sessions"]))


def _held(ctx: Context) -> int:
    return int(ctx.data.get("sessions_held", 0))


# ---------------------------------------------------------------- guards


def coach_is_free(ctx: Context) -> str | None:
    minutes = ctx.case.data["case_file"]["session_minutes"]
    start, end = ctx.input.start, ctx.input.start + timedelta(minutes=minutes)
    for busy_start, busy_end in ctx.case.busy:
        if start < busy_end and busy_start < end:
            return (
                f"the coach has another session from {busy_start.isoformat()} to "
                f"{busy_end.isoformat()}; choose another time"
            )
    return None


def homework_given(ctx: Context) -> str | None:
    if not ctx.input.homework.strip():
        return (
            "a session is not complete without homework: the young person always leaves with a task"
        )
    if _held(ctx) == 0 and not ctx.input.expectations:
        return "session 1 frames the course: give 'expectations' (expectations, goals, methods)"
    return None


def a_session_was_held(ctx: Context) -> str | None:
    if _held(ctx) == 0:
        return "no session has been held; use drop_out to end a course that never started"
    return None


# ---------------------------------------------------------------- actions


def invite_to_intro(ctx: Context) -> None:
    attendees = keys_with_roles(ctx, ("youth", "caseworker", "coach"))
    start = ctx.input.start
    schedule_meeting(
        ctx, INTRO_MEETING, start, ctx.settings["intro_minutes"], attendees, ctx.input.location
    )


def record_agreement(ctx: Context) -> None:
    ctx.data["agreed_at"] = iso(ctx.now)
    ctx.data.setdefault("planned_sessions", _planned(ctx))
    if ctx.case.state == "intro_scheduled":
        ctx.effects.append(MarkMeetingHeld(str(ctx.data["meeting"])))


def record_intro_declined(ctx: Context) -> None:
    ctx.effects.append(MarkMeetingHeld(str(ctx.data["meeting"])))


def invite_to_session(ctx: Context) -> None:
    attendees = keys_with_roles(ctx, ("youth", "coach"))
    minutes = ctx.case.data["case_file"]["session_minutes"]
    schedule_meeting(ctx, SESSION_MEETING, ctx.input.start, minutes, attendees, ctx.input.location)


def record_session(ctx: Context) -> None:
    held = _held(ctx) + 1
    ctx.data["sessions_held"] = held
    if held == 1:
        ctx.data["expectations"] = ctx.input.expectations
    ctx.data.setdefault("sessions", []).append(
        {"n": held, "homework": ctx.input.homework, "themes": list(ctx.input.themes)}
    )
    ctx.data["last_session_at"] = iso(ctx.now)
    ctx.effects.append(MarkMeetingHeld(str(ctx.data["meeting"])))


def count_no_show(ctx: Context) -> None:
    no_shows = int(ctx.data.get("no_shows", 0)) + 1
    ctx.data["no_shows"] = no_shows
    ctx.data["last_session_at"] = iso(ctx.now)
    ctx.effects.append(MarkMeetingHeld(str(ctx.data["meeting"])))
    if no_shows == ctx.settings["no_shows_before_caseworker_told"]:
        ctx.effects.append(Notify("escalation", roles=("caseworker",), topic="no_shows"))


def replan(ctx: Context) -> None:
    ctx.details["planned_sessions"] = {"from": _planned(ctx), "to": ctx.input.planned_sessions}
    ctx.data["planned_sessions"] = ctx.input.planned_sessions


def record_outcome(ctx: Context) -> None:
    ctx.data["outcome"] = ctx.input.outcome
    ctx.data["finished_at"] = iso(ctx.now)
    remaining = _planned(ctx) - _held(ctx)
    ctx.details["outcome"] = ctx.input.outcome
    if remaining > 0:
        # Ending early is allowed, but the caseworker hears of it.
        ctx.details["sessions_remaining"] = remaining
        ctx.effects.append(Notify("reminder", roles=("caseworker",), topic="sessions_remaining"))


def invite_to_follow_up(ctx: Context) -> None:
    attendees = keys_with_roles(ctx, ("youth", "coach"))
    minutes = ctx.case.data["case_file"]["session_minutes"]
    schedule_meeting(
        ctx, FOLLOW_UP_MEETING, ctx.input.start, minutes, attendees, ctx.input.location
    )


def mark_follow_up_held(ctx: Context) -> None:
    ctx.effects.append(MarkMeetingHeld(str(ctx.data["meeting"])))


def end_course(ctx: Context) -> None:
    record_reason(ctx)
    cancel_open_meetings(ctx)


def remind_coach_to_schedule(ctx: Context) -> None:
    ctx.effects.append(Notify("reminder", roles=("coach",), topic="schedule_session"))


def remind_coach_of_follow_up(ctx: Context) -> None:
    ctx.effects.append(Notify("reminder", roles=("coach",), topic="follow_up"))


# ---------------------------------------------------------------- timers


def idle_reminder_due(ctx: Context) -> datetime:
    last = datetime.fromisoformat(ctx.data["last_session_at"])
    day = (last + timedelta(days=ctx.settings["idle_reminder_days"])).date()
    return at_local(day, ctx.settings["reminder_hour"])


def follow_up_reminder_due(ctx: Context) -> datetime:
    finished = datetime.fromisoformat(ctx.data["finished_at"])
    day = (finished + timedelta(weeks=ctx.settings["follow_up_weeks"])).date()
    return at_local(day, ctx.settings["reminder_hour"])


LIVE = (
    "referred",
    "intro_scheduled",
    "agreed",
    "session_scheduled",
    "between_sessions",
    "completed",
    "follow_up_scheduled",
)

COACHING = Process(
    name="coaching",
    title="Coachingforløb",
    doc="An individual coaching course for a young person: about six one-hour sessions, "
    "homework between them, an outcome at the end and an optional follow-up.",
    states=(*LIVE, "closed", "declined", "dropped_out"),
    initial="referred",
    finals=frozenset({"closed", "declined", "dropped_out"}),
    roles=ROLES,
    settings=SETTINGS,
    case_file=CoachingCaseFile,
    meeting_kinds=MEETING_KINDS,
    busy_role="coach",
    capacity=Capacity("coach", 50),  # rule 6
    events=(
        Event("schedule_intro", CASEWORKER | COACH, MeetingIn, "the joint intro meeting"),
        Event("accept", CASEWORKER | COACH, doc="the course fits: agreed"),
        Event("decline", CASEWORKER | COACH, doc="the course does not fit"),
        Event("reschedule", CASEWORKER | COACH, MeetingIn, "move the booked meeting"),
        Event("schedule_session", COACH, MeetingIn, "book the next session"),
        Event("complete_session", COACH, CompleteSessionIn, "session held; homework agreed"),
        Event("no_show", COACH, doc="the young person did not come"),
        Event("replan", COACH | CASEWORKER, ReplanIn, "a new number of sessions"),
        Event("finish", COACH, FinishIn, "the course ends; outcome recorded"),
        Event("schedule_follow_up", COACH, MeetingIn, "the follow-up conversation"),
        Event("hold_follow_up", COACH, doc="the follow-up took place"),
        Event("close", PROFESSIONALS, doc="close without (further) follow-up"),
        Event("drop_out", PROFESSIONALS, ReasonIn, "the course ends early"),
        Event("idle_reminder", frozenset(), doc="nothing scheduled 3 weeks after a session"),
        Event("follow_up_reminder", frozenset(), doc="time for the follow-up conversation"),
        Event("meeting_reminder", frozenset(), doc="reminder mail before the meeting"),
    ),
    transitions=(
        t(
            "schedule_intro",
            "referred",
            "intro_scheduled",
            guards=(meeting_in_future,),
            actions=(invite_to_intro,),
        ),
        t("accept", ("referred", "intro_scheduled"), "agreed", actions=(record_agreement,)),
        t("decline", "intro_scheduled", "declined", actions=(record_intro_declined,)),
        t(
            "reschedule",
            ("intro_scheduled", "session_scheduled", "follow_up_scheduled"),
            None,
            guards=(meeting_in_future,),
            actions=(move_current_meeting,),
        ),
        t(
            "schedule_session",
            ("agreed", "between_sessions"),
            "session_scheduled",
            guards=(meeting_in_future, coach_is_free),
            actions=(invite_to_session,),
        ),
        t(
            "complete_session",
            "session_scheduled",
            "between_sessions",
            guards=(homework_given,),
            actions=(record_session,),
        ),
        t("no_show", "session_scheduled", "between_sessions", actions=(count_no_show,)),
        t("replan", ("agreed", "between_sessions"), None, actions=(replan,)),
        t(
            "finish",
            "between_sessions",
            "completed",
            guards=(a_session_was_held,),
            actions=(record_outcome,),
        ),
        t(
            "schedule_follow_up",
            "completed",
            "follow_up_scheduled",
            guards=(meeting_in_future,),
            actions=(invite_to_follow_up,),
        ),
        t("hold_follow_up", "follow_up_scheduled", "closed", actions=(mark_follow_up_held,)),
        t("close", "completed", "closed"),
        t("drop_out", LIVE, "dropped_out", actions=(end_course,)),
        t("idle_reminder", "between_sessions", None, actions=(remind_coach_to_schedule,)),
        t("follow_up_reminder", "completed", None, actions=(remind_coach_of_follow_up,)),
        t(
            "meeting_reminder",
            ("intro_scheduled", "session_scheduled", "follow_up_scheduled"),
            None,
            actions=(remind_attendees,),
        ),
    ),
    timers=(
        Timer("between_sessions", "idle_reminder", idle_reminder_due),
        Timer("completed", "follow_up_reminder", follow_up_reminder_due),
        Timer("intro_scheduled", "meeting_reminder", meeting_reminder_due),
        Timer("session_scheduled", "meeting_reminder", meeting_reminder_due),
        Timer("follow_up_scheduled", "meeting_reminder", meeting_reminder_due),
    ),
)
