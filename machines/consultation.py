"""consultation: social workers in daycare (DOMAIN.md §4, issue 14).

Two social workers from the family department cover the municipality's daycares. One
process, three kinds of case, chosen by the case file's ``kind``; the states say which
kind a case is in, and every event checks the kind before anything else:

``monthly`` — the fixed monthly meeting (*fast månedligt møde*) of one daycare
    ``opened → planned → closed``. ``plan_monthly`` sends one calendar series to the
    daycare's leader and its fixed social worker: ``FREQ=MONTHLY;BYDAY=2TU`` (the same
    weekday and week of the month), with EXDATEs for the days the daycare is closed. The
    rota (``machines.rota``, ``forloeb rota plan``) chooses the slot; a month whose slot
    cannot be kept moves that one occurrence (RECURRENCE-ID, its own SEQUENCE). Children
    and families are discussed **anonymously**: the record of a held meeting
    (``record_meeting``) holds only counts and topics from a fixed list
    (``settings["topics"]``); its input refuses any other field, so no free text can be
    stored. A social worker's absence (``forloeb rota absent``) hands single occurrences
    to the other social worker (``cover_meeting``: the occurrence's own attendees, an
    update to the leader and the covering worker, a CANCEL of that occurrence alone to the
    absent one) or moves them to another day.

``dialogue`` — a dialogue meeting with the parents, the pedagogical staff and PPR
    ``opened → consented → booked → closed``, or ``→ withdrawn``. The social worker takes
    part only after the parents' consent, recorded with who, when and its scope (the shape
    of the handover's consent); the meeting can only be booked after it. Withdrawing the
    consent cancels every meeting not yet held (CANCEL to everyone) and erases the scope.

``booking`` — a parent books advice directly
    ``opened → slots_proposed → booked → closed``. A meeting (phone or home visit) within
    ``booking_deadline_working_days`` working days of the request: the first free slots
    of the social worker's calendar (CalDAV free-busy, ``notifications.freebusy``) within
    working hours are proposed; the social worker picks one and the invitations go out. No
    free slot before the deadline → ``report_no_slot`` (an escalation mail to the social
    worker); the deadline passing without a booked meeting does the same (a timer).

Underretning — on a monthly or dialogue case, ``record_notification`` records that the
daycare sent a notification to the family department: when and by whom, never its text.
The daycare's fixed social worker is told at once by a plain mail whose subject names
the case id only (no child).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from .case import CaseSnapshot
from .common import (
    cancel_open_meetings,
    keys_with_roles,
    meeting_in_future,
    next_meeting_key,
    record_reason,
    schedule_meeting,
)
from .definition import Event, MeetingKind, MessageFacts, Process, Role, Timer, t
from .effects import AddParticipant, ChangeOccurrence, MarkMeetingHeld, Notify, ScheduleSeries
from .engine import Context
from .errors import GuardRejected, NotPermitted
from .inputs import (
    AwareTime,
    CaseFile,
    Choices,
    Day,
    Email,
    Key,
    MeetingAt,
    OneLine,
    Pseudonym,
    ReasonIn,
    Session,
    SettingChoices,
    StrictModel,
)
from .recurring import (
    CancelOccurrenceIn,
    MoveOccurrenceIn,
    cancel_occurrence,
    end_series_now,
    find_occurrence,
    label,
    move_occurrence,
    no_such_occurrence,
    occurrence_ahead,
    occurrence_fits,
    series_keys,
)
from .series import Series, SeriesRule, closure_exdates
from .workdays import COPENHAGEN, WorkingCalendar


class ConsultationState(StrEnum):
    OPENED = "opened"
    PLANNED = "planned"
    CONSENTED = "consented"
    SLOTS_PROPOSED = "slots_proposed"
    BOOKED = "booked"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"


class ConsultationEvent(StrEnum):
    PLAN_MONTHLY = "plan_monthly"
    MOVE_MEETING = "move_meeting"
    COVER_MEETING = "cover_meeting"
    CANCEL_MEETING = "cancel_meeting"
    RECORD_MEETING = "record_meeting"
    ADD_MEETING = "add_meeting"
    GIVE_CONSENT = "give_consent"
    SCHEDULE_DIALOGUE = "schedule_dialogue"
    WITHDRAW_CONSENT = "withdraw_consent"
    PROPOSE_SLOTS = "propose_slots"
    REPORT_NO_SLOT = "report_no_slot"
    PICK_SLOT = "pick_slot"
    HOLD_MEETING = "hold_meeting"
    RECORD_NOTIFICATION = "record_notification"
    CLOSE = "close"
    BOOKING_OVERDUE = "booking_overdue"


Kind = Annotated[
    Literal["monthly", "dialogue", "booking"],
    Choices(
        {
            "monthly": "Månedligt møde med socialrådgiver",
            "dialogue": "Dialogmøde om et barn",
            "booking": "Rådgivning bestilt af en forælder",
        }
    ),
]
#: How a parent's booked advice is held.
MeetingForm = Annotated[
    Literal["phone", "home_visit"],
    Choices({"phone": "Telefonsamtale", "home_visit": "Hjemmebesøg"}),
]

SOCIAL_WORKER = frozenset({"social_worker"})
SUBSTITUTE = frozenset({"substitute"})
DAYCARE = frozenset({"leader", "staff"})
PARENT = frozenset({"parent"})

ROLES = {
    "social_worker": Role("socialrådgiver", "required"),
    #: Another social worker who covers single monthly meetings (the fixed one is absent).
    "substitute": Role("stedfortrædende socialrådgiver", "optional"),
    "leader": Role("daginstitutionsleder", "required"),
    "staff": Role("pædagogisk personale", "optional"),
    "ppr": Role("PPR", "optional"),
    "parent": Role("forælder", "required", citizen=True),
}

MONTHLY = "monthly"
DIALOGUE = "dialogue"
ADVICE = "advice"
MEETING_KINDS = {
    MONTHLY: MeetingKind("Månedligt møde med socialrådgiver", "det månedlige møde"),
    DIALOGUE: MeetingKind("Dialogmøde", "dialogmødet"),
    ADVICE: MeetingKind("Rådgivning", "rådgivningen"),
}

#: The topics a monthly meeting's record may name (configuration, as municipalities differ).
TOPICS = (
    "trivsel",
    "sprog",
    "vold_overgreb",
    "misbrug_i_familien",
    "oekonomi_bolig",
    "samarbejde_med_foraeldre",
    "andet",
)

#: Their Danish names, as the desk offers them (a topic added above needs one here).
TOPIC_NAMES = {
    "trivsel": "Trivsel",
    "sprog": "Sprog",
    "vold_overgreb": "Vold og overgreb",
    "misbrug_i_familien": "Misbrug i familien",
    "oekonomi_bolig": "Økonomi og bolig",
    "samarbejde_med_foraeldre": "Samarbejde med forældre",
    "andet": "Andet",
}

#: What the parents' consent to a dialogue meeting may cover.
ConsentScope = Annotated[
    Literal["deltagelse", "ppr", "deling_af_oplysninger"],
    Choices(
        {
            "deltagelse": "Deltagelse i dialogmødet",
            "ppr": "At PPR deltager",
            "deling_af_oplysninger": "Deling af oplysninger",
        }
    ),
]

SETTINGS: dict[str, Any] = {
    "topics": TOPICS,
    "max_discussed": 50,  # a bound on a record's counts: more is a typing error
    "monthly_minutes": 90,
    "dialogue_minutes": 60,
    "advice_minutes": 45,
    "booking_deadline_working_days": 5,  # rule c (default)
    "working_hours": ("08:30", "15:30"),  # the slots proposed to a parent lie within them
    "proposed_slots": 3,
}


class ConsultationCaseFile(CaseFile):
    kind: Kind = Field(title="Type")
    daycare: Key = Field(title="Dagtilbud (reference)")
    child_ref: Pseudonym | None = Field(
        None,
        title="Barnets reference (pseudonym)",
        description="kun ved dialogmøder: en pseudonym reference, aldrig et navn eller CPR-nummer",
    )
    meeting_form: MeetingForm | None = Field(None, title="Mødeform (telefon eller hjemmebesøg)")
    requested_at: AwareTime | None = Field(None, title="Forældrenes henvendelse (tidspunkt)")

    @model_validator(mode="after")
    def _fits_kind(self) -> ConsultationCaseFile:
        if self.kind == "monthly" and self.child_ref is not None:
            raise ValueError("a monthly meeting discusses children anonymously: remove 'child_ref'")
        if self.kind == "dialogue" and self.child_ref is None:
            raise ValueError("a dialogue meeting is about one child: give 'child_ref'")
        if self.kind == "booking" and (self.meeting_form is None or self.requested_at is None):
            raise ValueError(
                "a parent's booking needs 'meeting_form' (phone or home_visit) and "
                "'requested_at' (when the parent asked)"
            )
        return self


class PlanMonthlyIn(StrictModel):
    """The daycare's monthly slot from ``first`` (its weekday and week of the month)."""

    first: AwareTime = Field(title="Første møde")
    until: Day = Field(title="Sidste dag")
    minutes: Annotated[int, Field(ge=30, le=240)] = Field(90, title="Varighed (minutter)")
    closure_days: list[Day] = Field(default_factory=list, title="Lukkedage")


Count = Annotated[int, Field(ge=0, le=SETTINGS["max_discussed"])]
Topic = Annotated[str, Field(max_length=40), SettingChoices("topics", TOPIC_NAMES)]


class MonthlyRecordIn(StrictModel):
    """What a held monthly meeting leaves behind: counts and topics, never text."""

    session: Session = Field(title="Møde (planlagt tidspunkt)")
    children: Count = Field(title="Antal børn drøftet")
    families: Count = Field(title="Antal familier drøftet")
    topics: list[Topic] = Field(
        default_factory=list, title="Emner", description="fra den faste liste af emner"
    )

    @model_validator(mode="before")
    @classmethod
    def _no_free_text(cls, raw: Any) -> Any:
        if isinstance(raw, dict):
            extra = sorted(str(k) for k in raw if k not in cls.model_fields)
            if extra:
                raise ValueError(
                    "the monthly meeting is anonymous: its record holds only 'children', "
                    "'families' (counts) and 'topics' (from the fixed list); "
                    f"remove {len(extra)} other field(s)"
                )
        return raw

    @field_validator("topics")
    @classmethod
    def _fixed_topics(cls, topics: list[str]) -> list[str]:
        known = SETTINGS["topics"]
        if any(topic not in known for topic in topics):
            raise ValueError(
                f"a topic is not on the fixed list; the topics are: {', '.join(known)}"
            )
        if len(set(topics)) != len(topics):
            raise ValueError("a topic is listed twice")
        return topics


class ConsentIn(StrictModel):
    scope: Annotated[list[ConsentScope], Field(min_length=1)] = Field(
        title="Hvad forældrene giver samtykke til"
    )


class ProposeSlotsIn(StrictModel):
    slots: Annotated[list[AwareTime], Field(min_length=1, max_length=10)] = Field(
        title="Ledige tider"
    )


class PickSlotIn(StrictModel):
    start: AwareTime = Field(title="Valgt tid")

    def meeting_starts(self) -> tuple[datetime, ...]:
        return (self.start,)


class CoveringWorkerIn(StrictModel):
    name: Annotated[OneLine, Field(min_length=1, max_length=200)] = Field(title="Navn")
    email: Email = Field(title="E-mail")


class CoverMeetingIn(MoveOccurrenceIn):
    """One monthly meeting held by another social worker (at ``start``: the same time, or
    another), e.g. while the fixed one is absent."""

    worker: CoveringWorkerIn = Field(title="Socialrådgiver der dækker")


class NotificationIn(StrictModel):
    sent_at: AwareTime = Field(title="Underretningen er sendt (tidspunkt)")


# ---------------------------------------------------------------- reading the case


def kind_of(case: CaseSnapshot) -> str:
    return str(case.data["case_file"]["kind"])


def booking_deadline(case: CaseSnapshot, calendar: WorkingCalendar, days: int) -> datetime:
    """The end of the ``days``-th working day after the parent asked."""
    asked = datetime.fromisoformat(case.data["case_file"]["requested_at"])
    return calendar.deadline(asked, days)


def working_hours(settings: Any) -> tuple[time, time]:
    first, last = settings["working_hours"]
    return time.fromisoformat(first), time.fromisoformat(last)


# ---------------------------------------------------------------- guards


def _is(kind: str) -> Any:
    def guard(ctx: Context[Any]) -> str | None:
        actual = kind_of(ctx.case)
        if actual != kind:
            return f"this is a {actual} case; '{ctx.event}' belongs to a {kind} case"
        return None

    guard.__name__ = f"is_{kind}"
    return guard


is_monthly, is_dialogue, is_booking = _is("monthly"), _is("dialogue"), _is("booking")


def not_booking(ctx: Context[Any]) -> str | None:
    if kind_of(ctx.case) == "booking":
        return "an underretning is recorded on the daycare's monthly or dialogue case"
    return None


def monthly_series(given: PlanMonthlyIn, calendar: WorkingCalendar) -> Series:
    first = given.first.astimezone(COPENHAGEN)
    nth = (first.day - 1) // 7 + 1
    last = datetime.combine(given.until, time(23, 59), COPENHAGEN)
    rule = SeriesRule("MONTHLY", until=last, byday=(min(nth, 4), first.weekday()))
    exdates = closure_exdates(first, rule, calendar, given.closure_days)
    return Series(first, first + timedelta(minutes=given.minutes), rule, exdates)


def monthly_slot_fits(ctx: Context[PlanMonthlyIn]) -> str | None:
    first = ctx.input.first.astimezone(COPENHAGEN)
    if first <= ctx.now:
        return f"the first meeting {label(first)} is in the past"
    if first.day > 28:
        return "a monthly slot lies in the month's first four weeks (day 1–28); choose another"
    if ctx.input.until < first.date():
        return f"the last day {ctx.input.until} lies before the first meeting"
    if not monthly_series(ctx.input, ctx.calendar).held_or_planned():
        return "every meeting of that plan falls on a day the daycare is closed"
    return None


def record_fits(case: CaseSnapshot, given: MonthlyRecordIn) -> str | None:
    return no_such_occurrence(case, given.session)


def meeting_was_held(ctx: Context[MonthlyRecordIn]) -> str | None:
    found = find_occurrence(ctx.case, ctx.input.session)
    assert found is not None
    if found[2].start > ctx.now:
        return f"the meeting at {label(found[2].start)} has not been held yet; record it after"
    return None


def slots_fit(ctx: Context[ProposeSlotsIn]) -> str | None:
    """Every proposed slot lies ahead, within working hours and before the deadline."""
    deadline = booking_deadline(
        ctx.case, ctx.calendar, ctx.settings["booking_deadline_working_days"]
    )
    opens, closes = working_hours(ctx.settings)
    minutes = timedelta(minutes=ctx.settings["advice_minutes"])
    for slot in ctx.input.slots:
        local = slot.astimezone(COPENHAGEN)
        if slot <= ctx.now:
            return f"the slot {label(slot)} is in the past"
        if slot > deadline:
            return f"the slot {label(slot)} lies after the deadline {label(deadline)}"
        if not ctx.calendar.is_working_day(local.date()):
            return f"{local.date()} is not a working day"
        if local.time() < opens or (local + minutes).time() > closes:
            return (
                f"the slot {label(slot)} lies outside working hours ({opens:%H:%M}–{closes:%H:%M})"
            )
    return None


def slot_was_proposed(case: CaseSnapshot, given: PickSlotIn) -> str | None:
    proposed = case.data.get("proposed", [])
    if label(given.start) not in proposed:
        return f"{label(given.start)} was not proposed; choose one of: {', '.join(proposed)}"
    return None


# ---------------------------------------------------------------- actions


def schedule_monthly(ctx: Context[PlanMonthlyIn]) -> None:
    series = monthly_series(ctx.input, ctx.calendar)
    key = next_meeting_key(ctx, MONTHLY)
    attendees = keys_with_roles(ctx, ("social_worker", "leader"))
    ctx.effects.append(ScheduleSeries(key, series, ctx.case.location, attendees))
    ctx.data["series"] = [*series_keys(ctx.data), key]
    ctx.details["meetings"] = len(series.held_or_planned())


def add_monthly_meeting(ctx: Context[MeetingAt]) -> None:
    """A month whose slot is a closure day gets its meeting on another day: a single
    meeting beside the series (whose EXDATE stays)."""
    attendees = keys_with_roles(ctx, ("social_worker", "leader"))
    minutes = ctx.settings["monthly_minutes"]
    key = schedule_meeting(ctx, MONTHLY, ctx.input.start, minutes, attendees, ctx.input.location)
    ctx.data["extra_meetings"] = [*ctx.data.get("extra_meetings", []), key]
    ctx.details["meeting"] = key


def cover_occurrence(ctx: Context[CoverMeetingIn]) -> None:
    """The occurrence gets its own attendees: the covering social worker (a participant
    with role ``substitute``, added once) instead of the fixed one, and the leader. Given
    the fixed social worker, the occurrence is theirs again (the series' attendees)."""
    found = find_occurrence(ctx.case, ctx.input.session)
    assert found is not None
    key, series, occurrence = found
    wanted = ctx.input.worker.email.lower()
    known = next(
        (
            p
            for p in ctx.case.participants
            if p.role in ("social_worker", "substitute") and (p.email or "").lower() == wanted
        ),
        None,
    )
    meeting = ctx.case.meeting(key)
    assert meeting is not None
    if known is not None and known.role == "social_worker":
        attendees = meeting.attendees
        cover = known.key
    else:
        if known is None:
            taken = {p.key for p in ctx.case.participants}
            cover = next(k for n in range(2, 1000) if (k := f"sr-{n}") not in taken)
            worker = ctx.input.worker
            ctx.effects.append(AddParticipant(cover, "substitute", worker.name, worker.email))
        else:
            cover = known.key
        attendees = (cover, *keys_with_roles(ctx, ("leader",)))
    start = ctx.input.start
    ctx.effects.append(
        ChangeOccurrence(
            key, occurrence.recurrence_id, start, start + series.duration, attendees=attendees
        )
    )
    ctx.details.update({"session": label(occurrence.recurrence_id), "covered_by": cover})


def store_record(ctx: Context[MonthlyRecordIn]) -> None:
    session = label(ctx.input.session)
    record = {
        "children": ctx.input.children,
        "families": ctx.input.families,
        "topics": list(ctx.input.topics),
    }
    ctx.data.setdefault("records", {})[session] = record
    ctx.details.update({"session": session, **record})  # counts and fixed words only


def record_consent(ctx: Context[ConsentIn]) -> None:
    # Who consented, when, and to what (the handover's shape).
    ctx.data["consent"] = {"by": ctx.actor, "at": ctx.now.isoformat(), "scope": ctx.input.scope}
    ctx.details["consent_scope"] = list(ctx.input.scope)


def invite_to_dialogue(ctx: Context[MeetingAt]) -> None:
    roles = ["parent", "leader", "staff", "social_worker"]
    if "ppr" in ctx.case.data["consent"]["scope"]:
        roles.append("ppr")
    attendees = keys_with_roles(ctx, roles)
    minutes = ctx.settings["dialogue_minutes"]
    schedule_meeting(ctx, DIALOGUE, ctx.input.start, minutes, attendees, ctx.input.location)


def withdraw(ctx: Context[Any]) -> None:
    consent = ctx.data.get("consent") or {}
    ctx.data["consent"] = {"by": consent.get("by"), "at": consent.get("at"), "withdrawn": True}
    ctx.data["withdrawn_at"] = ctx.now.isoformat()
    cancel_open_meetings(ctx)


def store_proposed(ctx: Context[ProposeSlotsIn]) -> None:
    ctx.data["proposed"] = [label(s) for s in sorted(ctx.input.slots)]
    ctx.details["slots"] = len(ctx.input.slots)


def tell_no_slot(ctx: Context[Any]) -> None:
    ctx.data["no_slot_reported_at"] = ctx.now.isoformat()
    ctx.effects.append(Notify("escalation", roles=("social_worker",), topic="no_free_slot"))


def book_slot(ctx: Context[PickSlotIn]) -> None:
    form = ctx.case.data["case_file"]["meeting_form"]
    location = "Telefonisk rådgivning" if form == "phone" else None
    attendees = keys_with_roles(ctx, ("parent", "social_worker"))
    minutes = ctx.settings["advice_minutes"]
    schedule_meeting(ctx, ADVICE, ctx.input.start, minutes, attendees, location)


def mark_held(ctx: Context[Any]) -> None:
    ctx.effects.append(MarkMeetingHeld(str(ctx.data["meeting"])))
    ctx.data["held_at"] = ctx.now.isoformat()


def tell_social_worker(ctx: Context[NotificationIn]) -> None:
    sent = ctx.input.sent_at.isoformat()
    ctx.data["notifications"] = [*ctx.data.get("notifications", []), {"at": sent, "by": ctx.actor}]
    ctx.details["sent_at"] = sent
    ctx.effects.append(Notify("reminder", roles=("social_worker",), topic="underretning"))


def close_case(ctx: Context[ReasonIn]) -> None:
    end_series_now(ctx)
    if kind_of(ctx.case) != "monthly":
        cancel_open_meetings(ctx)
    record_reason(ctx)


def escalate_booking(ctx: Context[Any]) -> None:
    ctx.effects.append(Notify("escalation", roles=("social_worker",), topic="booking_deadline"))


# ---------------------------------------------------------------- timers and facts


def booking_due(ctx: Context[Any]) -> datetime | None:
    if kind_of(ctx.case) != "booking":
        return None
    return booking_deadline(ctx.case, ctx.calendar, ctx.settings["booking_deadline_working_days"])


def message_facts(case: CaseSnapshot, template: str, topic: str | None) -> MessageFacts:
    if topic == "underretning":
        sent = case.data.get("notifications") or [{}]
        return MessageFacts(deadline=sent[-1].get("at"))
    if topic in ("no_free_slot", "booking_deadline"):
        deadline = booking_deadline(
            case, WorkingCalendar.from_env(), SETTINGS["booking_deadline_working_days"]
        )
        return MessageFacts(deadline=deadline.isoformat())
    return MessageFacts()


# ---------------------------------------------------------------- the records, for the staff


def read_records(case: CaseSnapshot, actor: str) -> dict[str, str]:
    """The monthly meetings' records (counts and topics) for the social worker and daycare."""
    readers = SOCIAL_WORKER | DAYCARE
    if not case.roles_of(actor) & readers:
        raise NotPermitted("form", actor, sorted(readers))
    records = case.data.get("records") or {}
    if not records:
        raise GuardRejected("form", "no monthly meeting has been recorded on this case yet")
    return {
        session: f"børn: {r['children']}, familier: {r['families']}, "
        f"emner: {', '.join(r['topics']) or '–'}"
        for session, r in sorted(records.items())
    }


S, E = ConsultationState, ConsultationEvent
LIVE = (S.OPENED, S.PLANNED, S.CONSENTED, S.SLOTS_PROPOSED, S.BOOKED)

CONSULTATION = Process(
    name="consultation",
    title="Socialrådgiver i dagtilbud",
    doc="Social workers in daycare: fixed monthly anonymous meetings, dialogue meetings "
    "with the parents' consent, and advice booked directly by parents.",
    states=tuple(ConsultationState),
    initial=S.OPENED,
    finals=frozenset({S.CLOSED, S.WITHDRAWN}),
    roles=ROLES,
    settings=SETTINGS,
    case_file=ConsultationCaseFile,
    meeting_kinds=MEETING_KINDS,
    message_facts=message_facts,
    escalation_role="social_worker",
    convener_roles=("social_worker",),
    form_reader=read_records,
    form_title="Mødereferater (anonyme)",
    form_keys=frozenset({"records"}),
    state_titles={
        S.OPENED: "Oprettet",
        S.PLANNED: "Faste møder planlagt",
        S.CONSENTED: "Forældrene har givet samtykke",
        S.SLOTS_PROPOSED: "Tider foreslået",
        S.BOOKED: "Møde aftalt",
        S.CLOSED: "Afsluttet",
        S.WITHDRAWN: "Samtykke trukket tilbage",
    },
    events=(
        Event(
            E.PLAN_MONTHLY,
            SOCIAL_WORKER | DAYCARE,
            PlanMonthlyIn,
            "the daycare's fixed monthly meetings, as one calendar series",
            "Planlæg de faste møder",
        ),
        Event(
            E.MOVE_MEETING,
            SOCIAL_WORKER | DAYCARE,
            MoveOccurrenceIn,
            "move one monthly meeting on its own",
            "Flyt et møde",
            input_checks=(occurrence_fits,),
        ),
        Event(
            E.COVER_MEETING,
            SOCIAL_WORKER | DAYCARE,
            CoverMeetingIn,
            "another social worker takes one monthly meeting (the fixed one is absent)",
            "Lad en anden socialrådgiver tage et møde",
            input_checks=(occurrence_fits,),
        ),
        Event(
            E.CANCEL_MEETING,
            SOCIAL_WORKER | DAYCARE,
            CancelOccurrenceIn,
            "cancel one monthly meeting on its own",
            "Aflys et møde",
            input_checks=(occurrence_fits,),
        ),
        Event(
            E.RECORD_MEETING,
            SOCIAL_WORKER | SUBSTITUTE,
            MonthlyRecordIn,
            "a held monthly meeting: counts and topics only",
            "Registrér mødet",
            input_checks=(record_fits,),
        ),
        Event(
            E.ADD_MEETING,
            SOCIAL_WORKER | DAYCARE,
            MeetingAt,
            "a month's meeting on another day than the slot (closed that day)",
            "Tilføj et møde",
        ),
        Event(
            E.GIVE_CONSENT,
            PARENT | DAYCARE,
            ConsentIn,
            "the parents' consent to the social worker taking part (recorded: who, when, scope)",
            "Giv samtykke",
        ),
        Event(
            E.SCHEDULE_DIALOGUE,
            SOCIAL_WORKER | DAYCARE,
            MeetingAt,
            "the dialogue meeting with the parents, the staff and the social worker",
            "Indkald til dialogmøde",
        ),
        Event(
            E.WITHDRAW_CONSENT,
            PARENT | DAYCARE,
            doc="the parents withdraw their consent: every meeting is cancelled",
            title="Træk samtykket tilbage",
        ),
        Event(
            E.PROPOSE_SLOTS,
            SOCIAL_WORKER,
            ProposeSlotsIn,
            "the first free slots of the social worker's calendar before the deadline",
            "Foreslå tider",
        ),
        Event(
            E.REPORT_NO_SLOT,
            SOCIAL_WORKER,
            doc="no free slot before the deadline: the social worker is told by mail",
            title="Ingen ledig tid",
        ),
        Event(
            E.PICK_SLOT,
            SOCIAL_WORKER,
            PickSlotIn,
            "the social worker picks one of the proposed slots; invitations go out",
            "Vælg tid",
            input_checks=(slot_was_proposed,),
        ),
        Event(
            E.HOLD_MEETING,
            SOCIAL_WORKER,
            doc="the dialogue meeting or the advice took place",
            title="Mødet er holdt",
        ),
        Event(
            E.RECORD_NOTIFICATION,
            DAYCARE,
            NotificationIn,
            "the daycare sent an underretning to the family department (when; no text)",
            "Registrér underretning",
        ),
        Event(E.CLOSE, SOCIAL_WORKER | DAYCARE, ReasonIn, "the case ends", "Afslut sagen"),
        Event(
            E.BOOKING_OVERDUE,
            frozenset(),
            doc="no advice booked within the deadline",
            title="Fristen for rådgivning er overskredet",
        ),
    ),
    transitions=(
        t(
            E.PLAN_MONTHLY,
            S.OPENED,
            S.PLANNED,
            guards=(is_monthly, monthly_slot_fits),
            actions=(schedule_monthly,),
        ),
        t(E.MOVE_MEETING, S.PLANNED, None, guards=(occurrence_ahead,), actions=(move_occurrence,)),
        t(
            E.COVER_MEETING,
            S.PLANNED,
            None,
            guards=(occurrence_ahead,),
            actions=(cover_occurrence,),
        ),
        t(
            E.CANCEL_MEETING,
            S.PLANNED,
            None,
            guards=(occurrence_ahead,),
            actions=(cancel_occurrence,),
        ),
        t(
            E.RECORD_MEETING,
            S.PLANNED,
            None,
            guards=(meeting_was_held,),
            actions=(store_record,),
        ),
        t(
            E.ADD_MEETING,
            S.PLANNED,
            None,
            guards=(meeting_in_future,),
            actions=(add_monthly_meeting,),
        ),
        t(
            E.GIVE_CONSENT,
            S.OPENED,
            S.CONSENTED,
            guards=(is_dialogue,),
            actions=(record_consent,),
        ),
        t(
            E.SCHEDULE_DIALOGUE,
            S.CONSENTED,
            S.BOOKED,
            guards=(meeting_in_future,),
            actions=(invite_to_dialogue,),
        ),
        t(E.WITHDRAW_CONSENT, (S.CONSENTED, S.BOOKED), S.WITHDRAWN, actions=(withdraw,)),
        t(
            E.PROPOSE_SLOTS,
            (S.OPENED, S.SLOTS_PROPOSED),
            S.SLOTS_PROPOSED,
            guards=(is_booking, slots_fit),
            actions=(store_proposed,),
        ),
        t(
            E.REPORT_NO_SLOT,
            (S.OPENED, S.SLOTS_PROPOSED),
            None,
            guards=(is_booking,),
            actions=(tell_no_slot,),
        ),
        t(
            E.PICK_SLOT,
            S.SLOTS_PROPOSED,
            S.BOOKED,
            guards=(meeting_in_future,),
            actions=(book_slot,),
        ),
        t(E.HOLD_MEETING, S.BOOKED, S.CLOSED, actions=(mark_held,)),
        t(
            E.RECORD_NOTIFICATION,
            (S.OPENED, S.PLANNED, S.CONSENTED, S.BOOKED),
            None,
            guards=(not_booking,),
            actions=(tell_social_worker,),
        ),
        t(E.CLOSE, LIVE, S.CLOSED, actions=(close_case,)),
        t(E.BOOKING_OVERDUE, (S.OPENED, S.SLOTS_PROPOSED), None, actions=(escalate_booking,)),
    ),
    timers=(
        Timer(S.OPENED, E.BOOKING_OVERDUE, booking_due),
        Timer(S.SLOTS_PROPOSED, E.BOOKING_OVERDUE, booking_due),
    ),
)
