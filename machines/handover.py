"""handover: tryghed i overgangen fra sundhedspleje til dagtilbud (DOMAIN.md §2).

An overgangsskema (transition form) carries what the health visitor knows about a child
to the daycare — only if the parents want it, and only the sections they choose.
1. the nurse offers the form in good time (reminder at start − 8 weeks *(default)*);
2. voluntary: the parents accept (choosing sections) or decline; they may withdraw until
   the handover, and then the form's content and the consent scope are erased;
3. the form is filled in at a home visit, start − 6 … start − 1 weeks *(default)*;
4. the start-up conversation at the daycare, within 10 working days after the start
   *(default)*; the nurse attends only if the parents chose so;
5. the daycare sees the form from the start-up conversation on.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field

from .case import CaseSnapshot
from .common import (
    cancel_current_meeting,
    cancel_open_meetings,
    keys_with_roles,
    meeting_in_future,
    meeting_reminder_due,
    move_current_meeting,
    remind_attendees,
    schedule_meeting,
)
from .definition import Event, MeetingKind, Process, Role, Timer, t
from .effects import MarkMeetingHeld, Notify
from .engine import Context
from .errors import GuardRejected, NotPermitted
from .inputs import (
    CaseFile,
    Choices,
    Day,
    FormText,
    MeetingAt,
    OneLine,
    Pseudonym,
    ReasonIn,
    StrictModel,
)
from .workdays import at_local, end_of_day


class HandoverState(StrEnum):
    REGISTERED = "registered"
    OFFERED = "offered"
    ACCEPTED = "accepted"
    HOME_VISIT_SCHEDULED = "home_visit_scheduled"
    FORM_COMPLETED = "form_completed"
    STARTUP_SCHEDULED = "startup_scheduled"
    HANDED_OVER = "handed_over"
    CLOSED = "closed"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"


class HandoverEvent(StrEnum):
    OFFER = "offer"
    ACCEPT = "accept"
    DECLINE = "decline"
    SCHEDULE_HOME_VISIT = "schedule_home_visit"
    RESCHEDULE = "reschedule"
    CANCEL = "cancel"
    COMPLETE_FORM = "complete_form"
    SCHEDULE_STARTUP = "schedule_startup"
    HOLD_STARTUP = "hold_startup"
    CLOSE = "close"
    WITHDRAW = "withdraw"
    OFFER_REMINDER = "offer_reminder"
    ANSWER_REMINDER = "answer_reminder"
    MEETING_REMINDER = "meeting_reminder"
    STARTUP_WARNING = "startup_warning"
    STARTUP_OVERDUE = "startup_overdue"


NURSE = frozenset({"health_nurse"})
FAMILY = frozenset({"parent", "health_nurse"})  # the nurse may record on the parents' behalf
DAYCARE = frozenset({"daycare_leader", "pedagogue"})
DAYCARE_LEAD = frozenset({"daycare_leader", "coordinator"})

ROLES = {
    "parent": Role("forælder", "required", citizen=True),
    "health_nurse": Role("sundhedsplejerske", "required"),
    "daycare_leader": Role("dagtilbudsleder", "required"),
    "pedagogue": Role("pædagogisk personale", "required"),
    "coordinator": Role("kommunal tovholder", "no"),
}

#: The form's sections. The parents decide which of them may pass to the daycare.
Section = Annotated[
    Literal["family", "development", "health", "adbb", "wishes"],
    Choices(
        {
            "family": "Familien og hverdagen",
            "development": "Barnets udvikling og trivsel",
            "health": "Helbred, søvn og mad",
            "adbb": "Sundhedsplejerskens ADBB-observationer (sociale kompetencer)",
            "wishes": "Forældrenes ønsker til dagtilbuddet",
        }
    ),
]

HOME_VISIT_MEETING = "home-visit"
STARTUP_MEETING = "startup"
MEETING_KINDS = {
    HOME_VISIT_MEETING: MeetingKind("Hjemmebesøg", "hjemmebesøget"),
    STARTUP_MEETING: MeetingKind("Opstartssamtale", "opstartssamtalen"),
}

SETTINGS = {
    "offer_weeks_before": 8,  # rule 1 (default)
    "answer_weeks_before": 6,  # (default) no answer by then: the nurse is reminded
    "home_visit_window_weeks": (6, 1),  # rule 3 (default): start − 6 … start − 1 weeks
    "home_visit_minutes": 60,
    "startup_minutes": 60,
    "startup_working_days": 10,  # rule 4 (default)
    "startup_warning_working_days": 2,  # the daycare leader is reminded this much earlier
    "reminder_working_days": 2,
    "reminder_hour": 8,
}


class HandoverCaseFile(CaseFile):
    child_ref: Pseudonym = Field(
        title="Barnets reference (pseudonym)",
        description="en pseudonym reference, aldrig et CPR-nummer",
    )
    daycare: OneLine = Field(title="Dagtilbud")
    start_date: Day = Field(title="Startdato i dagtilbuddet")


class AcceptIn(StrictModel):
    sections: Annotated[list[Section], Field(min_length=1)] = Field(
        title="Afsnit forældrene giver samtykke til"
    )
    nurse_at_startup: bool = Field(title="Sundhedsplejersken deltager i opstartssamtalen")


class MeetingIn(MeetingAt):
    reason: OneLine | None = Field(
        None,
        title="Begrundelse for tidspunkt uden for perioden",
        description="hvorfor besøget ligger uden for sit tidsrum",
    )


class CompleteFormIn(StrictModel):
    # Keyed by the form's own sections: a key typed by someone (a name, a CPR number) is
    # refused by the model and never repeated in a message.
    sections: dict[Section, FormText] = Field(title="Skemaets afsnit")


# ---------------------------------------------------------------- checks and helpers


def start_date_in_future(case_file: CaseFile, now: datetime) -> str | None:
    assert isinstance(case_file, HandoverCaseFile)
    if case_file.start_date <= now.date():
        return f"start_date {case_file.start_date} is not in the future"
    return None


def _start(ctx: Context[Any]) -> date:
    return date.fromisoformat(ctx.case.data["case_file"]["start_date"])


def _weeks_before_start(ctx: Context[Any], weeks: int) -> datetime:
    return at_local(_start(ctx) - timedelta(weeks=weeks), ctx.settings["reminder_hour"])


def _startup_deadline(ctx: Context[Any]) -> datetime:
    return end_of_day(
        ctx.calendar.add_working_days(_start(ctx), ctx.settings["startup_working_days"])
    )


# ---------------------------------------------------------------- guards


def _home_visit_window(ctx: Context[Any]) -> tuple[date, date]:
    first_weeks, last_weeks = ctx.settings["home_visit_window_weeks"]
    start_date = _start(ctx)
    return start_date - timedelta(weeks=first_weeks), start_date - timedelta(weeks=last_weeks)


def _outside_home_visit_window(ctx: Context[MeetingIn]) -> bool:
    first, last = _home_visit_window(ctx)
    return not first <= ctx.input.start.date() <= last


def home_visit_in_window(ctx: Context[MeetingIn]) -> str | None:
    start_date = _start(ctx)
    if ctx.input.start.date() >= start_date:
        return f"the home visit must lie before the start date {start_date}"
    if _outside_home_visit_window(ctx) and not ctx.input.reason:
        first, last = _home_visit_window(ctx)
        first_weeks, last_weeks = ctx.settings["home_visit_window_weeks"]
        return (
            f"the home visit should lie between {first} and {last} "
            f"({first_weeks} to {last_weeks} weeks before the start); give a 'reason' otherwise"
        )
    return None


def only_consented_sections(ctx: Context[CompleteFormIn]) -> str | None:
    allowed = set(ctx.case.data["consent"]["sections"])
    refused = sorted(set(ctx.input.sections) - allowed)
    if refused:
        return (
            f"the parents have not consented to sharing {', '.join(refused)}; "
            f"consented sections: {', '.join(sorted(allowed))}"
        )
    if not ctx.input.sections:
        return "the form has no sections filled in"
    return None


# ---------------------------------------------------------------- actions


def record_offer(ctx: Context[Any]) -> None:
    ctx.data["offered_at"] = ctx.now.isoformat()


def record_consent(ctx: Context[AcceptIn]) -> None:
    # Who consented, when, and to what: the record the parents' medbestemmelse rests on.
    ctx.data["consent"] = {
        "by": ctx.actor,
        "at": ctx.now.isoformat(),
        "sections": list(ctx.input.sections),
        "nurse_at_startup": ctx.input.nurse_at_startup,
    }
    ctx.details["consent_sections"] = len(ctx.input.sections)


def record_decline(ctx: Context[Any]) -> None:
    ctx.data["declined_at"] = ctx.now.isoformat()


def record_outside_window_reason(ctx: Context[MeetingIn]) -> None:
    if _outside_home_visit_window(ctx):
        ctx.details["outside_window_reason"] = ctx.input.reason


def invite_to_home_visit(ctx: Context[MeetingIn]) -> None:
    attendees = keys_with_roles(ctx, ("parent", "health_nurse"))
    schedule_meeting(
        ctx,
        HOME_VISIT_MEETING,
        ctx.input.start,
        ctx.settings["home_visit_minutes"],
        attendees,
        ctx.input.location,
    )


def store_form(ctx: Context[CompleteFormIn]) -> None:
    ctx.data["form"] = dict(ctx.input.sections)
    ctx.details["form_sections"] = sorted(ctx.input.sections)  # names, never content
    ctx.effects.append(MarkMeetingHeld(str(ctx.data["meeting"])))


def invite_to_startup(ctx: Context[MeetingIn]) -> None:
    roles = ["parent", "daycare_leader", "pedagogue"]
    if ctx.case.data["consent"]["nurse_at_startup"]:
        roles.append("health_nurse")
    schedule_meeting(
        ctx,
        STARTUP_MEETING,
        ctx.input.start,
        ctx.settings["startup_minutes"],
        keys_with_roles(ctx, roles),
        ctx.input.location,
    )


def mark_startup_held(ctx: Context[Any]) -> None:
    ctx.data["handed_over_at"] = ctx.now.isoformat()
    ctx.effects.append(MarkMeetingHeld(str(ctx.data["meeting"])))


def erase_consented_content(ctx: Context[Any]) -> None:
    """Withdrawal: the form's content and the consent scope leave the database."""
    ctx.data.pop("form", None)
    consent = ctx.data.get("consent")
    if consent is not None:
        ctx.data["consent"] = {"by": consent["by"], "at": consent["at"], "withdrawn": True}
    ctx.data["withdrawn_at"] = ctx.now.isoformat()
    cancel_open_meetings(ctx)


def remind_nurse_to_offer(ctx: Context[Any]) -> None:
    ctx.effects.append(Notify("reminder", roles=("health_nurse",), topic="offer_form"))


def remind_nurse_of_answer(ctx: Context[Any]) -> None:
    ctx.effects.append(Notify("reminder", roles=("health_nurse",), topic="parents_answer"))


def remind_daycare_of_startup(ctx: Context[Any]) -> None:
    ctx.effects.append(Notify("reminder", roles=("daycare_leader",), topic="startup"))


def escalate_missing_startup(ctx: Context[Any]) -> None:
    ctx.effects.append(Notify("escalation", roles=("coordinator",), topic="startup"))


# ---------------------------------------------------------------- timers


def offer_reminder_due(ctx: Context[Any]) -> datetime:
    return _weeks_before_start(ctx, ctx.settings["offer_weeks_before"])


def answer_reminder_due(ctx: Context[Any]) -> datetime:
    return _weeks_before_start(ctx, ctx.settings["answer_weeks_before"])


def startup_warning_due(ctx: Context[Any]) -> datetime:
    days = ctx.settings["startup_working_days"] - ctx.settings["startup_warning_working_days"]
    return at_local(ctx.calendar.add_working_days(_start(ctx), days), ctx.settings["reminder_hour"])


def startup_deadline_due(ctx: Context[Any]) -> datetime:
    return _startup_deadline(ctx)


# ---------------------------------------------------------------- who may read the form


def readable_form(case: CaseSnapshot, actor: str) -> dict[str, str]:
    """The form's sections for ``actor``. The daycare reads it from the start-up on;
    the parents and the nurse, whose form it is, at any time."""
    roles = case.roles_of(actor)
    if not roles & (FAMILY | DAYCARE):
        raise NotPermitted("form", actor, sorted(FAMILY | DAYCARE))
    if not roles & FAMILY and case.state not in (HandoverState.HANDED_OVER, HandoverState.CLOSED):
        raise GuardRejected("form", "the daycare sees the form from the start-up conversation on")
    form = case.data.get("form")
    if not form:
        raise GuardRejected("form", "there is no form content (not filled in, or withdrawn)")
    return dict(form)


LIVE = (
    HandoverState.REGISTERED,
    HandoverState.OFFERED,
    HandoverState.ACCEPTED,
    HandoverState.HOME_VISIT_SCHEDULED,
    HandoverState.FORM_COMPLETED,
    HandoverState.STARTUP_SCHEDULED,
)

HANDOVER = Process(
    name="handover",
    convener_roles=("health_nurse", "daycare_leader"),
    title="Overgang fra sundhedspleje til dagtilbud",
    doc="The health visitor's knowledge about a child reaches the daycare on a transition "
    "form, only with the parents' consent and only the sections they choose.",
    states=tuple(HandoverState),
    initial=HandoverState.REGISTERED,
    finals=frozenset({HandoverState.CLOSED, HandoverState.DECLINED, HandoverState.WITHDRAWN}),
    roles=ROLES,
    settings=SETTINGS,
    case_file=HandoverCaseFile,
    meeting_kinds=MEETING_KINDS,
    form_reader=readable_form,
    form_title="Overgangsskema",
    form_keys=frozenset({"form"}),
    open_checks=(start_date_in_future,),
    state_titles={
        HandoverState.REGISTERED: "Registreret",
        HandoverState.OFFERED: "Overgangsskema tilbudt",
        HandoverState.ACCEPTED: "Samtykke givet",
        HandoverState.HOME_VISIT_SCHEDULED: "Hjemmebesøg aftalt",
        HandoverState.FORM_COMPLETED: "Overgangsskema udfyldt",
        HandoverState.STARTUP_SCHEDULED: "Opstartssamtale aftalt",
        HandoverState.HANDED_OVER: "Overleveret",
        HandoverState.CLOSED: "Afsluttet",
        HandoverState.DECLINED: "Forældrene har takket nej",
        HandoverState.WITHDRAWN: "Samtykke trukket tilbage",
    },
    events=(
        Event(
            HandoverEvent.OFFER,
            NURSE,
            doc="the nurse introduces the family to the form",
            title="Tilbyd overgangsskema",
        ),
        Event(
            HandoverEvent.ACCEPT,
            FAMILY,
            AcceptIn,
            "consent: which sections, nurse at start-up",
            "Giv samtykke",
        ),
        Event(
            HandoverEvent.DECLINE,
            FAMILY,
            doc="the parents say no; nothing is shared",
            title="Tak nej",
        ),
        Event(
            HandoverEvent.SCHEDULE_HOME_VISIT,
            NURSE,
            MeetingIn,
            "the home visit to fill in the form",
            "Aftal hjemmebesøg",
        ),
        Event(
            HandoverEvent.RESCHEDULE,
            NURSE | DAYCARE_LEAD,
            MeetingIn,
            "move the booked meeting",
            "Flyt mødet",
        ),
        Event(
            HandoverEvent.CANCEL, NURSE, ReasonIn, "cancel the home visit", "Aflys hjemmebesøget"
        ),
        Event(
            HandoverEvent.COMPLETE_FORM,
            NURSE,
            CompleteFormIn,
            "the form, consented sections only",
            "Udfyld overgangsskemaet",
        ),
        Event(
            HandoverEvent.SCHEDULE_STARTUP,
            DAYCARE_LEAD | NURSE,
            MeetingIn,
            "the start-up conversation",
            "Aftal opstartssamtale",
        ),
        Event(
            HandoverEvent.HOLD_STARTUP,
            DAYCARE_LEAD,
            doc="the start-up conversation took place",
            title="Opstartssamtalen er holdt",
        ),
        Event(HandoverEvent.CLOSE, DAYCARE_LEAD, doc="the handover is done", title="Afslut sagen"),
        Event(
            HandoverEvent.WITHDRAW,
            FAMILY,
            doc="consent withdrawn: the form's content is erased",
            title="Træk samtykket tilbage",
        ),
        Event(
            HandoverEvent.OFFER_REMINDER,
            frozenset(),
            doc="not offered by start − 8 weeks",
            title="Påmindelse om tilbud",
        ),
        Event(
            HandoverEvent.ANSWER_REMINDER,
            frozenset(),
            doc="no answer by start − 6 weeks",
            title="Påmindelse om forældrenes svar",
        ),
        Event(
            HandoverEvent.MEETING_REMINDER,
            frozenset(),
            doc="reminder mail before the meeting",
            title="Påmindelse om mødet",
        ),
        Event(
            HandoverEvent.STARTUP_WARNING,
            frozenset(),
            doc="the start-up conversation is due soon",
            title="Varsel om opstartssamtale",
        ),
        Event(
            HandoverEvent.STARTUP_OVERDUE,
            frozenset(),
            doc="no start-up within 10 working days",
            title="Opstartssamtalen er ikke holdt",
        ),
    ),
    transitions=(
        t(
            HandoverEvent.OFFER,
            HandoverState.REGISTERED,
            HandoverState.OFFERED,
            actions=(record_offer,),
        ),
        t(
            HandoverEvent.OFFER_REMINDER,
            HandoverState.REGISTERED,
            None,
            actions=(remind_nurse_to_offer,),
        ),
        t(
            HandoverEvent.ACCEPT,
            HandoverState.OFFERED,
            HandoverState.ACCEPTED,
            actions=(record_consent,),
        ),
        t(
            HandoverEvent.DECLINE,
            HandoverState.OFFERED,
            HandoverState.DECLINED,
            actions=(record_decline,),
        ),
        t(
            HandoverEvent.ANSWER_REMINDER,
            HandoverState.OFFERED,
            None,
            actions=(remind_nurse_of_answer,),
        ),
        t(
            HandoverEvent.SCHEDULE_HOME_VISIT,
            HandoverState.ACCEPTED,
            HandoverState.HOME_VISIT_SCHEDULED,
            guards=(meeting_in_future, home_visit_in_window),
            actions=(record_outside_window_reason, invite_to_home_visit),
        ),
        t(
            HandoverEvent.RESCHEDULE,
            HandoverState.HOME_VISIT_SCHEDULED,
            HandoverState.HOME_VISIT_SCHEDULED,
            guards=(meeting_in_future, home_visit_in_window),
            actions=(record_outside_window_reason, move_current_meeting),
        ),
        t(
            HandoverEvent.CANCEL,
            HandoverState.HOME_VISIT_SCHEDULED,
            HandoverState.ACCEPTED,
            actions=(cancel_current_meeting,),
        ),
        t(
            HandoverEvent.COMPLETE_FORM,
            HandoverState.HOME_VISIT_SCHEDULED,
            HandoverState.FORM_COMPLETED,
            guards=(only_consented_sections,),
            actions=(store_form,),
        ),
        t(
            HandoverEvent.SCHEDULE_STARTUP,
            HandoverState.FORM_COMPLETED,
            HandoverState.STARTUP_SCHEDULED,
            guards=(meeting_in_future,),
            actions=(invite_to_startup,),
        ),
        t(
            HandoverEvent.RESCHEDULE,
            HandoverState.STARTUP_SCHEDULED,
            HandoverState.STARTUP_SCHEDULED,
            guards=(meeting_in_future,),
            actions=(move_current_meeting,),
        ),
        t(
            HandoverEvent.MEETING_REMINDER,
            (HandoverState.HOME_VISIT_SCHEDULED, HandoverState.STARTUP_SCHEDULED),
            None,
            actions=(remind_attendees,),
        ),
        t(
            HandoverEvent.STARTUP_WARNING,
            HandoverState.FORM_COMPLETED,
            None,
            actions=(remind_daycare_of_startup,),
        ),
        t(
            HandoverEvent.STARTUP_OVERDUE,
            (HandoverState.FORM_COMPLETED, HandoverState.STARTUP_SCHEDULED),
            None,
            actions=(escalate_missing_startup,),
        ),
        t(
            HandoverEvent.HOLD_STARTUP,
            HandoverState.STARTUP_SCHEDULED,
            HandoverState.HANDED_OVER,
            actions=(mark_startup_held,),
        ),
        t(HandoverEvent.CLOSE, HandoverState.HANDED_OVER, HandoverState.CLOSED),
        t(
            HandoverEvent.WITHDRAW,
            LIVE,
            HandoverState.WITHDRAWN,
            actions=(erase_consented_content,),
        ),
    ),
    timers=(
        Timer(HandoverState.REGISTERED, HandoverEvent.OFFER_REMINDER, offer_reminder_due),
        Timer(HandoverState.OFFERED, HandoverEvent.ANSWER_REMINDER, answer_reminder_due),
        Timer(
            HandoverState.HOME_VISIT_SCHEDULED, HandoverEvent.MEETING_REMINDER, meeting_reminder_due
        ),
        Timer(HandoverState.FORM_COMPLETED, HandoverEvent.STARTUP_WARNING, startup_warning_due),
        Timer(HandoverState.FORM_COMPLETED, HandoverEvent.STARTUP_OVERDUE, startup_deadline_due),
        Timer(
            HandoverState.STARTUP_SCHEDULED, HandoverEvent.MEETING_REMINDER, meeting_reminder_due
        ),
        Timer(HandoverState.STARTUP_SCHEDULED, HandoverEvent.STARTUP_OVERDUE, startup_deadline_due),
    ),
)
