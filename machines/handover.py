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
from typing import Annotated, Literal

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
from .inputs import CaseFile, OneLine, Pseudonym, ReasonIn, StrictModel, When
from .workdays import at_local, end_of_day

NURSE = frozenset({"health_nurse"})
FAMILY = frozenset({"parent", "health_nurse"})  # the nurse may record on the parents' behalf
DAYCARE = frozenset({"daycare_leader", "pedagogue"})
DAYCARE_LEAD = frozenset({"daycare_leader", "coordinator"})

ROLES = {
    "parent": Role("forælder", "required"),
    "health_nurse": Role("sundhedsplejerske", "required"),
    "daycare_leader": Role("dagtilbudsleder", "required"),
    "pedagogue": Role("pædagogisk personale", "required"),
    "coordinator": Role("kommunal tovholder", "no"),
}

#: The form's sections. The parents decide which of them may pass to the daycare.
Section = Literal[
    "family",  # familien og hverdagen
    "development",  # barnets udvikling og trivsel
    "health",  # helbred, søvn og mad
    "adbb",  # sundhedsplejerskens ADBB-observationer (sociale kompetencer)
    "wishes",  # forældrenes ønsker til dagtilbuddet
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
    child_ref: Pseudonym = Field(description="a pseudonymous reference, never a CPR number")
    daycare: OneLine
    start_date: date


class AcceptIn(StrictModel):
    sections: Annotated[list[Section], Field(min_length=1)]
    nurse_at_startup: bool


class MeetingIn(StrictModel):
    start: When
    location: OneLine | None = None
    reason: OneLine | None = Field(None, description="why the visit lies outside its window")


class CompleteFormIn(StrictModel):
    sections: dict[str, Annotated[str, Field(min_length=1, max_length=20_000)]]


# ---------------------------------------------------------------- checks and helpers


def start_date_in_future(case_file: CaseFile, now: datetime) -> str | None:
    assert isinstance(case_file, HandoverCaseFile)
    if case_file.start_date <= now.date():
        return f"start_date {case_file.start_date} is not in the future"
    return None


def _start(ctx: Context) -> date:
    return date.fromisoformat(ctx.case.data["case_file"]["start_date"])


def _weeks_before_start(ctx: Context, weeks: int) -> datetime:
    return at_local(_start(ctx) - timedelta(weeks=weeks), ctx.settings["reminder_hour"])


def _startup_deadline(ctx: Context) -> datetime:
    return end_of_day(
        ctx.calendar.add_working_days(_start(ctx), ctx.settings["startup_working_days"])
    )


# ---------------------------------------------------------------- guards


def home_visit_in_window(ctx: Context) -> str | None:
    start_date = _start(ctx)
    if ctx.input.start.date() >= start_date:
        return f"the home visit must lie before the start date {start_date}"
    first_weeks, last_weeks = ctx.settings["home_visit_window_weeks"]
    first = start_date - timedelta(weeks=first_weeks)
    last = start_date - timedelta(weeks=last_weeks)
    if not first <= ctx.input.start.date() <= last and not ctx.input.reason:
        return (
            f"the home visit should lie between {first} and {last} "
            f"({first_weeks} to {last_weeks} weeks before the start); give a 'reason' otherwise"
        )
    if not first <= ctx.input.start.date() <= last:
        ctx.details["outside_window_reason"] = ctx.input.reason
    return None


def only_consented_sections(ctx: Context) -> str | None:
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


def record_offer(ctx: Context) -> None:
    ctx.data["offered_at"] = ctx.now.isoformat()


def record_consent(ctx: Context) -> None:
    # Who consented, when, and to what: the record the parents' medbestemmelse rests on.
    ctx.data["consent"] = {
        "by": ctx.actor,
        "at": ctx.now.isoformat(),
        "sections": list(ctx.input.sections),
        "nurse_at_startup": ctx.input.nurse_at_startup,
    }
    ctx.details["consent_sections"] = len(ctx.input.sections)


def record_decline(ctx: Context) -> None:
    ctx.data["declined_at"] = ctx.now.isoformat()


def invite_to_home_visit(ctx: Context) -> None:
    attendees = keys_with_roles(ctx, ("parent", "health_nurse"))
    schedule_meeting(
        ctx,
        HOME_VISIT_MEETING,
        ctx.input.start,
        ctx.settings["home_visit_minutes"],
        attendees,
        ctx.input.location,
    )


def store_form(ctx: Context) -> None:
    ctx.data["form"] = dict(ctx.input.sections)
    ctx.details["form_sections"] = sorted(ctx.input.sections)  # names, never content
    ctx.effects.append(MarkMeetingHeld(str(ctx.data["meeting"])))


def invite_to_startup(ctx: Context) -> None:
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


def mark_startup_held(ctx: Context) -> None:
    ctx.data["handed_over_at"] = ctx.now.isoformat()
    ctx.effects.append(MarkMeetingHeld(str(ctx.data["meeting"])))


def erase_consented_content(ctx: Context) -> None:
    """Withdrawal: the form's content and the consent scope leave the database."""
    ctx.data.pop("form", None)
    consent = ctx.data.get("consent")
    if consent is not None:
        ctx.data["consent"] = {"by": consent["by"], "at": consent["at"], "withdrawn": True}
    ctx.data["withdrawn_at"] = ctx.now.isoformat()
    cancel_open_meetings(ctx)


def remind_nurse_to_offer(ctx: Context) -> None:
    ctx.effects.append(Notify("reminder", roles=("health_nurse",), topic="offer_form"))


def remind_nurse_of_answer(ctx: Context) -> None:
    ctx.effects.append(Notify("reminder", roles=("health_nurse",), topic="parents_answer"))


def remind_daycare_of_startup(ctx: Context) -> None:
    ctx.effects.append(Notify("reminder", roles=("daycare_leader",), topic="startup"))


def escalate_missing_startup(ctx: Context) -> None:
    ctx.effects.append(Notify("escalation", roles=("coordinator",), topic="startup"))


# ---------------------------------------------------------------- timers


def offer_reminder_due(ctx: Context) -> datetime:
    return _weeks_before_start(ctx, ctx.settings["offer_weeks_before"])


def answer_reminder_due(ctx: Context) -> datetime:
    return _weeks_before_start(ctx, ctx.settings["answer_weeks_before"])


def startup_warning_due(ctx: Context) -> datetime:
    days = ctx.settings["startup_working_days"] - ctx.settings["startup_warning_working_days"]
    return at_local(ctx.calendar.add_working_days(_start(ctx), days), ctx.settings["reminder_hour"])


def startup_deadline_due(ctx: Context) -> datetime:
    return _startup_deadline(ctx)


# ---------------------------------------------------------------- who may read the form


def readable_form(case: CaseSnapshot, actor: str) -> dict[str, str]:
    """The form's sections for ``actor``. The daycare reads it from the start-up on;
    the parents and the nurse, whose form it is, at any time."""
    roles = case.roles_of(actor)
    if not roles & (FAMILY | DAYCARE):
        raise NotPermitted("form", actor, sorted(FAMILY | DAYCARE))
    if not roles & FAMILY and case.state not in ("handed_over", "closed"):
        raise GuardRejected("form", "the daycare sees the form from the start-up conversation on")
    form = case.data.get("form")
    if not form:
        raise GuardRejected("form", "there is no form content (not filled in, or withdrawn)")
    return dict(form)


LIVE = (
    "registered",
    "offered",
    "accepted",
    "home_visit_scheduled",
    "form_completed",
    "startup_scheduled",
)

HANDOVER = Process(
    name="handover",
    title="Overgang fra sundhedspleje til dagtilbud",
    doc="The health visitor's knowledge about a child reaches the daycare on a transition "
    "form, only with the parents' consent and only the sections they choose.",
    states=(*LIVE, "handed_over", "closed", "declined", "withdrawn"),
    initial="registered",
    finals=frozenset({"closed", "declined", "withdrawn"}),
    roles=ROLES,
    settings=SETTINGS,
    case_file=HandoverCaseFile,
    meeting_kinds=MEETING_KINDS,
    form_reader=readable_form,
    open_checks=(start_date_in_future,),
    events=(
        Event("offer", NURSE, doc="the nurse introduces the family to the form"),
        Event("accept", FAMILY, AcceptIn, "consent: which sections, nurse at start-up"),
        Event("decline", FAMILY, doc="the parents say no; nothing is shared"),
        Event("schedule_home_visit", NURSE, MeetingIn, "the home visit to fill in the form"),
        Event("reschedule", NURSE | DAYCARE_LEAD, MeetingIn, "move the booked meeting"),
        Event("cancel", NURSE, ReasonIn, "cancel the home visit"),
        Event("complete_form", NURSE, CompleteFormIn, "the form, consented sections only"),
        Event("schedule_startup", DAYCARE_LEAD | NURSE, MeetingIn, "the start-up conversation"),
        Event("hold_startup", DAYCARE_LEAD, doc="the start-up conversation took place"),
        Event("close", DAYCARE_LEAD, doc="the handover is done"),
        Event("withdraw", FAMILY, doc="consent withdrawn: the form's content is erased"),
        Event("offer_reminder", frozenset(), doc="not offered by start − 8 weeks"),
        Event("answer_reminder", frozenset(), doc="no answer by start − 6 weeks"),
        Event("meeting_reminder", frozenset(), doc="reminder mail before the meeting"),
        Event("startup_warning", frozenset(), doc="the start-up conversation is due soon"),
        Event("startup_overdue", frozenset(), doc="no start-up within 10 working days"),
    ),
    transitions=(
        t("offer", "registered", "offered", actions=(record_offer,)),
        t("offer_reminder", "registered", None, actions=(remind_nurse_to_offer,)),
        t("accept", "offered", "accepted", actions=(record_consent,)),
        t("decline", "offered", "declined", actions=(record_decline,)),
        t("answer_reminder", "offered", None, actions=(remind_nurse_of_answer,)),
        t(
            "schedule_home_visit",
            "accepted",
            "home_visit_scheduled",
            guards=(meeting_in_future, home_visit_in_window),
            actions=(invite_to_home_visit,),
        ),
        t(
            "reschedule",
            "home_visit_scheduled",
            "home_visit_scheduled",
            guards=(meeting_in_future, home_visit_in_window),
            actions=(move_current_meeting,),
        ),
        t("cancel", "home_visit_scheduled", "accepted", actions=(cancel_current_meeting,)),
        t(
            "complete_form",
            "home_visit_scheduled",
            "form_completed",
            guards=(only_consented_sections,),
            actions=(store_form,),
        ),
        t(
            "schedule_startup",
            "form_completed",
            "startup_scheduled",
            guards=(meeting_in_future,),
            actions=(invite_to_startup,),
        ),
        t(
            "reschedule",
            "startup_scheduled",
            "startup_scheduled",
            guards=(meeting_in_future,),
            actions=(move_current_meeting,),
        ),
        t(
            "meeting_reminder",
            ("home_visit_scheduled", "startup_scheduled"),
            None,
            actions=(remind_attendees,),
        ),
        t("startup_warning", "form_completed", None, actions=(remind_daycare_of_startup,)),
        t(
            "startup_overdue",
            ("form_completed", "startup_scheduled"),
            None,
            actions=(escalate_missing_startup,),
        ),
        t("hold_startup", "startup_scheduled", "handed_over", actions=(mark_startup_held,)),
        t("close", "handed_over", "closed"),
        t("withdraw", LIVE, "withdrawn", actions=(erase_consented_content,)),
    ),
    timers=(
        Timer("registered", "offer_reminder", offer_reminder_due),
        Timer("offered", "answer_reminder", answer_reminder_due),
        Timer("home_visit_scheduled", "meeting_reminder", meeting_reminder_due),
        Timer("form_completed", "startup_warning", startup_warning_due),
        Timer("form_completed", "startup_overdue", startup_deadline_due),
        Timer("startup_scheduled", "meeting_reminder", meeting_reminder_due),
        Timer("startup_scheduled", "startup_overdue", startup_deadline_due),
    ),
)
