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
from enum import StrEnum
from typing import Annotated, Any, Literal

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
from .inputs import (
    CaseFile,
    Choices,
    MeetingAt,
    OptionalText,
    Pseudonym,
    ReasonIn,
    RequiredByRule,
    StrictModel,
    Text,
)
from .workdays import COPENHAGEN, at_local


class CoachingState(StrEnum):
    REFERRED = "referred"
    INTRO_SCHEDULED = "intro_scheduled"
    AGREED = "agreed"
    SESSION_SCHEDULED = "session_scheduled"
    BETWEEN_SESSIONS = "between_sessions"
    COMPLETED = "completed"
    FOLLOW_UP_SCHEDULED = "follow_up_scheduled"
    CLOSED = "closed"
    DECLINED = "declined"
    DROPPED_OUT = "dropped_out"


class CoachingEvent(StrEnum):
    SCHEDULE_INTRO = "schedule_intro"
    ACCEPT = "accept"
    DECLINE = "decline"
    RESCHEDULE = "reschedule"
    SCHEDULE_SESSION = "schedule_session"
    COMPLETE_SESSION = "complete_session"
    NO_SHOW = "no_show"
    REPLAN = "replan"
    FINISH = "finish"
    SCHEDULE_FOLLOW_UP = "schedule_follow_up"
    HOLD_FOLLOW_UP = "hold_follow_up"
    CLOSE = "close"
    DROP_OUT = "drop_out"
    IDLE_REMINDER = "idle_reminder"
    FOLLOW_UP_REMINDER = "follow_up_reminder"
    MEETING_REMINDER = "meeting_reminder"


COACH = frozenset({"coach"})
CASEWORKER = frozenset({"caseworker"})
PROFESSIONALS = frozenset({"coach", "caseworker", "coordinator"})

ROLES = {
    "youth": Role("den unge", "required", citizen=True),
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

Theme = Annotated[
    Literal["relations", "persistence", "temptations", "distractions"],
    Choices(
        {
            "relations": "Relationer",
            "persistence": "Vedholdenhed",
            "temptations": "Fristelser",
            "distractions": "Distraktioner",
        }
    ),
]
Outcome = Annotated[
    Literal["education", "employment", "neither", "unknown"],
    Choices(
        {
            "education": "Uddannelse",
            "employment": "Beskæftigelse",
            "neither": "Ingen af delene",
            "unknown": "Ukendt",
        }
    ),
]


class CoachingCaseFile(CaseFile):
    youth_ref: Pseudonym = Field(
        title="Den unges reference (pseudonym)",
        description="en pseudonym reference, aldrig et CPR-nummer",
    )
    planned_sessions: Annotated[int, Field(ge=1, le=30)] = Field(6, title="Planlagte sessioner")
    session_minutes: Annotated[int, Field(ge=15, le=240)] = Field(
        60, title="Varighed pr. session (minutter)"
    )


class MeetingIn(MeetingAt):
    pass


class CompleteSessionIn(StrictModel):
    # Empty, the rule homework_given refuses it and says why.
    homework: Annotated[OptionalText, RequiredByRule()] = Field("", title="Hjemmeopgave")
    themes: list[Theme] = Field(default_factory=list, title="Temaer")
    expectations: Text | None = Field(
        None,
        title="Forventninger, mål og metoder",
        description="skal udfyldes ved første session: rammen for forløbet",
    )


class ReplanIn(StrictModel):
    planned_sessions: Annotated[int, Field(ge=1, le=30)] = Field(title="Planlagte sessioner")


class FinishIn(StrictModel):
    outcome: Outcome = Field(title="Resultat")


# ---------------------------------------------------------------- helpers


def _planned(ctx: Context[Any]) -> int:
    return int(ctx.data.get("planned_sessions", ctx.case.data["case_file"]["planned_sessions"]))


def _held(ctx: Context[Any]) -> int:
    return int(ctx.data.get("sessions_held", 0))


# ---------------------------------------------------------------- guards


def coach_is_free(ctx: Context[MeetingIn]) -> str | None:
    minutes = ctx.case.data["case_file"]["session_minutes"]
    start, end = ctx.input.start, ctx.input.start + timedelta(minutes=minutes)
    for busy_start, busy_end in ctx.case.busy:
        if start < busy_end and busy_start < end:
            return (
                "the coach has another session from "
                f"{busy_start.astimezone(COPENHAGEN):%Y-%m-%d %H:%M} to "
                f"{busy_end.astimezone(COPENHAGEN):%H:%M}; choose another time"
            )
    return None


def homework_given(ctx: Context[CompleteSessionIn]) -> str | None:
    if not ctx.input.homework.strip():
        return (
            "a session is not complete without homework: the young person always leaves with a task"
        )
    if _held(ctx) == 0 and not ctx.input.expectations:
        return "session 1 frames the course: give 'expectations' (expectations, goals, methods)"
    return None


def a_session_was_held(ctx: Context[Any]) -> str | None:
    if _held(ctx) == 0:
        return "no session has been held; use drop_out to end a course that never started"
    return None


# ---------------------------------------------------------------- actions


def invite_to_intro(ctx: Context[MeetingIn]) -> None:
    attendees = keys_with_roles(ctx, ("youth", "caseworker", "coach"))
    start = ctx.input.start
    schedule_meeting(
        ctx, INTRO_MEETING, start, ctx.settings["intro_minutes"], attendees, ctx.input.location
    )


def record_agreement(ctx: Context[Any]) -> None:
    ctx.data["agreed_at"] = iso(ctx.now)
    ctx.data.setdefault("planned_sessions", _planned(ctx))
    if ctx.case.state == CoachingState.INTRO_SCHEDULED:
        ctx.effects.append(MarkMeetingHeld(str(ctx.data["meeting"])))


def record_intro_declined(ctx: Context[Any]) -> None:
    ctx.effects.append(MarkMeetingHeld(str(ctx.data["meeting"])))


def invite_to_session(ctx: Context[MeetingIn]) -> None:
    attendees = keys_with_roles(ctx, ("youth", "coach"))
    minutes = ctx.case.data["case_file"]["session_minutes"]
    schedule_meeting(ctx, SESSION_MEETING, ctx.input.start, minutes, attendees, ctx.input.location)


def record_session(ctx: Context[CompleteSessionIn]) -> None:
    held = _held(ctx) + 1
    ctx.data["sessions_held"] = held
    if held == 1:
        ctx.data["expectations"] = ctx.input.expectations
    ctx.data.setdefault("sessions", []).append(
        {"n": held, "homework": ctx.input.homework, "themes": list(ctx.input.themes)}
    )
    ctx.data["last_session_at"] = iso(ctx.now)
    ctx.effects.append(MarkMeetingHeld(str(ctx.data["meeting"])))


def count_no_show(ctx: Context[Any]) -> None:
    no_shows = int(ctx.data.get("no_shows", 0)) + 1
    ctx.data["no_shows"] = no_shows
    ctx.data["last_session_at"] = iso(ctx.now)
    ctx.effects.append(MarkMeetingHeld(str(ctx.data["meeting"])))
    if no_shows == ctx.settings["no_shows_before_caseworker_told"]:
        ctx.effects.append(Notify("escalation", roles=("caseworker",), topic="no_shows"))


def replan(ctx: Context[ReplanIn]) -> None:
    ctx.details["planned_sessions"] = {"from": _planned(ctx), "to": ctx.input.planned_sessions}
    ctx.data["planned_sessions"] = ctx.input.planned_sessions


def record_outcome(ctx: Context[FinishIn]) -> None:
    ctx.data["outcome"] = ctx.input.outcome
    ctx.data["finished_at"] = iso(ctx.now)
    remaining = _planned(ctx) - _held(ctx)
    ctx.details["outcome"] = ctx.input.outcome
    if remaining > 0:
        # Ending early is allowed, but the caseworker hears of it.
        ctx.details["sessions_remaining"] = remaining
        ctx.effects.append(Notify("reminder", roles=("caseworker",), topic="sessions_remaining"))


def invite_to_follow_up(ctx: Context[MeetingIn]) -> None:
    attendees = keys_with_roles(ctx, ("youth", "coach"))
    minutes = ctx.case.data["case_file"]["session_minutes"]
    schedule_meeting(
        ctx, FOLLOW_UP_MEETING, ctx.input.start, minutes, attendees, ctx.input.location
    )


def mark_follow_up_held(ctx: Context[Any]) -> None:
    ctx.effects.append(MarkMeetingHeld(str(ctx.data["meeting"])))


def end_course(ctx: Context[ReasonIn]) -> None:
    record_reason(ctx)
    cancel_open_meetings(ctx)


def remind_coach_to_schedule(ctx: Context[Any]) -> None:
    ctx.effects.append(Notify("reminder", roles=("coach",), topic="schedule_session"))


def remind_coach_of_follow_up(ctx: Context[Any]) -> None:
    ctx.effects.append(Notify("reminder", roles=("coach",), topic="follow_up"))


# ---------------------------------------------------------------- timers


def idle_reminder_due(ctx: Context[Any]) -> datetime:
    last = datetime.fromisoformat(ctx.data["last_session_at"])
    day = (last + timedelta(days=ctx.settings["idle_reminder_days"])).date()
    return at_local(day, ctx.settings["reminder_hour"])


def follow_up_reminder_due(ctx: Context[Any]) -> datetime:
    finished = datetime.fromisoformat(ctx.data["finished_at"])
    day = (finished + timedelta(weeks=ctx.settings["follow_up_weeks"])).date()
    return at_local(day, ctx.settings["reminder_hour"])


LIVE = (
    CoachingState.REFERRED,
    CoachingState.INTRO_SCHEDULED,
    CoachingState.AGREED,
    CoachingState.SESSION_SCHEDULED,
    CoachingState.BETWEEN_SESSIONS,
    CoachingState.COMPLETED,
    CoachingState.FOLLOW_UP_SCHEDULED,
)
#: The states with a booked meeting (intro, session or follow-up).
MEETING_BOOKED = (
    CoachingState.INTRO_SCHEDULED,
    CoachingState.SESSION_SCHEDULED,
    CoachingState.FOLLOW_UP_SCHEDULED,
)

COACHING = Process(
    name="coaching",
    convener_roles=("coach",),
    title="Coachingforløb",
    doc="An individual coaching course for a young person: about six one-hour sessions, "
    "homework between them, an outcome at the end and an optional follow-up.",
    states=tuple(CoachingState),
    initial=CoachingState.REFERRED,
    finals=frozenset({CoachingState.CLOSED, CoachingState.DECLINED, CoachingState.DROPPED_OUT}),
    roles=ROLES,
    settings=SETTINGS,
    case_file=CoachingCaseFile,
    meeting_kinds=MEETING_KINDS,
    busy_role="coach",
    capacity=Capacity("coach", 50),  # rule 6
    state_titles={
        CoachingState.REFERRED: "Henvist",
        CoachingState.INTRO_SCHEDULED: "Introduktionsmøde aftalt",
        CoachingState.AGREED: "Forløbet er aftalt",
        CoachingState.SESSION_SCHEDULED: "Session aftalt",
        CoachingState.BETWEEN_SESSIONS: "Mellem sessioner",
        CoachingState.COMPLETED: "Forløbet er afsluttet",
        CoachingState.FOLLOW_UP_SCHEDULED: "Opfølgningssamtale aftalt",
        CoachingState.CLOSED: "Lukket",
        CoachingState.DECLINED: "Ikke påbegyndt",
        CoachingState.DROPPED_OUT: "Afbrudt",
    },
    events=(
        Event(
            CoachingEvent.SCHEDULE_INTRO,
            CASEWORKER | COACH,
            MeetingIn,
            "the joint intro meeting",
            "Aftal introduktionsmøde",
        ),
        Event(
            CoachingEvent.ACCEPT,
            CASEWORKER | COACH,
            doc="the course fits: agreed",
            title="Aftal forløbet",
        ),
        Event(
            CoachingEvent.DECLINE,
            CASEWORKER | COACH,
            doc="the course does not fit",
            title="Forløbet passer ikke",
        ),
        Event(
            CoachingEvent.RESCHEDULE,
            CASEWORKER | COACH,
            MeetingIn,
            "move the booked meeting",
            "Flyt mødet",
        ),
        Event(
            CoachingEvent.SCHEDULE_SESSION,
            COACH,
            MeetingIn,
            "book the next session",
            "Aftal næste session",
        ),
        Event(
            CoachingEvent.COMPLETE_SESSION,
            COACH,
            CompleteSessionIn,
            "session held; homework agreed",
            "Registrér afholdt session",
        ),
        Event(
            CoachingEvent.NO_SHOW,
            COACH,
            doc="the young person did not come",
            title="Den unge udeblev",
        ),
        Event(
            CoachingEvent.REPLAN,
            COACH | CASEWORKER,
            ReplanIn,
            "a new number of sessions",
            "Ændr antal sessioner",
        ),
        Event(
            CoachingEvent.FINISH,
            COACH,
            FinishIn,
            "the course ends; outcome recorded",
            "Afslut forløbet",
        ),
        Event(
            CoachingEvent.SCHEDULE_FOLLOW_UP,
            COACH,
            MeetingIn,
            "the follow-up conversation",
            "Aftal opfølgningssamtale",
        ),
        Event(
            CoachingEvent.HOLD_FOLLOW_UP,
            COACH,
            doc="the follow-up took place",
            title="Opfølgningssamtalen er holdt",
        ),
        Event(
            CoachingEvent.CLOSE,
            PROFESSIONALS,
            doc="close without (further) follow-up",
            title="Luk sagen",
        ),
        Event(
            CoachingEvent.DROP_OUT,
            PROFESSIONALS,
            ReasonIn,
            "the course ends early",
            "Afbryd forløbet",
        ),
        Event(
            CoachingEvent.IDLE_REMINDER,
            frozenset(),
            doc="nothing scheduled 3 weeks after a session",
            title="Påmindelse om næste session",
        ),
        Event(
            CoachingEvent.FOLLOW_UP_REMINDER,
            frozenset(),
            doc="time for the follow-up conversation",
            title="Påmindelse om opfølgningssamtale",
        ),
        Event(
            CoachingEvent.MEETING_REMINDER,
            frozenset(),
            doc="reminder mail before the meeting",
            title="Påmindelse om mødet",
        ),
    ),
    transitions=(
        t(
            CoachingEvent.SCHEDULE_INTRO,
            CoachingState.REFERRED,
            CoachingState.INTRO_SCHEDULED,
            guards=(meeting_in_future,),
            actions=(invite_to_intro,),
        ),
        t(
            CoachingEvent.ACCEPT,
            (CoachingState.REFERRED, CoachingState.INTRO_SCHEDULED),
            CoachingState.AGREED,
            actions=(record_agreement,),
        ),
        t(
            CoachingEvent.DECLINE,
            CoachingState.INTRO_SCHEDULED,
            CoachingState.DECLINED,
            actions=(record_intro_declined,),
        ),
        t(
            CoachingEvent.RESCHEDULE,
            MEETING_BOOKED,
            None,
            guards=(meeting_in_future,),
            actions=(move_current_meeting,),
        ),
        t(
            CoachingEvent.SCHEDULE_SESSION,
            (CoachingState.AGREED, CoachingState.BETWEEN_SESSIONS),
            CoachingState.SESSION_SCHEDULED,
            guards=(meeting_in_future, coach_is_free),
            actions=(invite_to_session,),
        ),
        t(
            CoachingEvent.COMPLETE_SESSION,
            CoachingState.SESSION_SCHEDULED,
            CoachingState.BETWEEN_SESSIONS,
            guards=(homework_given,),
            actions=(record_session,),
        ),
        t(
            CoachingEvent.NO_SHOW,
            CoachingState.SESSION_SCHEDULED,
            CoachingState.BETWEEN_SESSIONS,
            actions=(count_no_show,),
        ),
        t(
            CoachingEvent.REPLAN,
            (CoachingState.AGREED, CoachingState.BETWEEN_SESSIONS),
            None,
            actions=(replan,),
        ),
        t(
            CoachingEvent.FINISH,
            CoachingState.BETWEEN_SESSIONS,
            CoachingState.COMPLETED,
            guards=(a_session_was_held,),
            actions=(record_outcome,),
        ),
        t(
            CoachingEvent.SCHEDULE_FOLLOW_UP,
            CoachingState.COMPLETED,
            CoachingState.FOLLOW_UP_SCHEDULED,
            guards=(meeting_in_future,),
            actions=(invite_to_follow_up,),
        ),
        t(
            CoachingEvent.HOLD_FOLLOW_UP,
            CoachingState.FOLLOW_UP_SCHEDULED,
            CoachingState.CLOSED,
            actions=(mark_follow_up_held,),
        ),
        t(CoachingEvent.CLOSE, CoachingState.COMPLETED, CoachingState.CLOSED),
        t(CoachingEvent.DROP_OUT, LIVE, CoachingState.DROPPED_OUT, actions=(end_course,)),
        t(
            CoachingEvent.IDLE_REMINDER,
            CoachingState.BETWEEN_SESSIONS,
            None,
            actions=(remind_coach_to_schedule,),
        ),
        t(
            CoachingEvent.FOLLOW_UP_REMINDER,
            CoachingState.COMPLETED,
            None,
            actions=(remind_coach_of_follow_up,),
        ),
        t(CoachingEvent.MEETING_REMINDER, MEETING_BOOKED, None, actions=(remind_attendees,)),
    ),
    timers=(
        Timer(CoachingState.BETWEEN_SESSIONS, CoachingEvent.IDLE_REMINDER, idle_reminder_due),
        Timer(CoachingState.COMPLETED, CoachingEvent.FOLLOW_UP_REMINDER, follow_up_reminder_due),
        Timer(CoachingState.INTRO_SCHEDULED, CoachingEvent.MEETING_REMINDER, meeting_reminder_due),
        Timer(
            CoachingState.SESSION_SCHEDULED, CoachingEvent.MEETING_REMINDER, meeting_reminder_due
        ),
        Timer(
            CoachingState.FOLLOW_UP_SCHEDULED, CoachingEvent.MEETING_REMINDER, meeting_reminder_due
        ),
    ),
)
