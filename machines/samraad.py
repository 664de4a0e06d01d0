"""fraværssamråd: one coordinated meeting about a pupil's worrying absence (DOMAIN.md §1).

The catalogue's rules, as they are enforced here:
1. the school leader convenes; everyone meets within 7 working days (``meeting_deadline``);
2. the meeting lasts 1.5 hours, at the school as a rule;
4. three interview rounds in order, every participant heard in each;
5. the meeting ends with decisions and a date for the follow-up meeting;
6. the leader sends the action plan (who, what, by when) within 2 working days *(default)*;
7. the follow-up closes the case, continues it, or convenes a new samråd.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from .case import CaseSnapshot
from .common import (
    cancel_current_meeting,
    iso,
    meeting_in_future,
    meeting_reminder_due,
    morning_before,
    move_current_meeting,
    next_meeting_key,
    record_reason,
    schedule_meeting,
)
from .definition import (
    ActionItemFact,
    Branch,
    Event,
    MeetingKind,
    MessageFacts,
    Process,
    Role,
    Timer,
    t,
)
from .effects import (
    AddParticipant,
    MarkMeetingHeld,
    Notify,
    ScheduleMeeting,
)
from .engine import Context
from .inputs import (
    CaseFile,
    Choices,
    Day,
    Key,
    MeetingAt,
    OneLine,
    ParticipantIn,
    Pseudonym,
    ReasonIn,
    StrictModel,
    Text,
    assign_keys,
)
from .workdays import at_local


class SamraadState(StrEnum):
    CONCERN = "concern"
    CONVENED = "convened"
    OVERDUE = "overdue"
    SCHEDULED = "scheduled"
    ROUND_1 = "round_1"
    ROUND_2 = "round_2"
    ROUND_3 = "round_3"
    CONCLUDED = "concluded"
    FOLLOW_UP_PENDING = "follow_up_pending"
    CLOSED = "closed"
    DISMISSED = "dismissed"
    CANCELLED = "cancelled"


class SamraadEvent(StrEnum):
    CONVENE = "convene"
    DISMISS = "dismiss"
    ADD_PARTICIPANT = "add_participant"
    SCHEDULE = "schedule"
    RESCHEDULE = "reschedule"
    CANCEL = "cancel"
    START_MEETING = "start_meeting"
    NEXT_ROUND = "next_round"
    CONCLUDE = "conclude"
    SEND_ACTION_PLAN = "send_action_plan"
    HOLD_FOLLOW_UP = "hold_follow_up"
    DEADLINE_WARNING = "deadline_warning"
    DEADLINE_PASSED = "deadline_passed"
    MEETING_REMINDER = "meeting_reminder"
    ACTION_PLAN_REMINDER = "action_plan_reminder"
    ACTION_PLAN_OVERDUE = "action_plan_overdue"


LEADERS = frozenset({"school_leader", "coordinator"})
PROCESS_LEADERS = frozenset({"ppr_interviewer", "ppr_referent", "school_leader"})

ROLES = {
    "pupil": Role("elev", "required", citizen=True),
    "parent": Role("forælder", "required", citizen=True),
    "school_leader": Role("skoleleder", "required"),
    "teacher": Role("klasselærer", "required"),
    "ppr_interviewer": Role("PPR-psykolog (interviewer)", "required"),
    "ppr_referent": Role("PPR-psykolog (referent)", "required"),
    "school_social_worker": Role("skolens socialrådgiver", "required"),
    "uu_counselor": Role("UU-vejleder", "optional"),
    "health_nurse": Role("sundhedsplejerske", "optional"),
    "leisure_pedagogue": Role("pædagog (klub/fritid)", "optional"),
    "coordinator": Role("kommunal tovholder", "no"),
}

#: Meeting keys: "samraad-1", "follow-up-1", ...
SAMRAAD_MEETING = "samraad"
FOLLOW_UP_MEETING = "follow-up"
MEETING_KINDS = {
    SAMRAAD_MEETING: MeetingKind("Samråd", "samrådet"),
    FOLLOW_UP_MEETING: MeetingKind("Opfølgning på samråd", "opfølgningsmødet"),
}

SETTINGS = {
    "meeting_deadline_working_days": 7,  # rule 1
    "meeting_minutes": 90,  # rule 2
    "follow_up_minutes": 60,  # (default) the catalogue gives no length
    "action_plan_working_days": 2,  # rule 6 (default)
    "deadline_warning_working_days": 2,  # (default) the leader is warned this early
    "reminder_working_days": 2,  # (default) reminder mail before each meeting
    "reminder_hour": 8,
}


# ---------------------------------------------------------------- inputs


def _known_role(role: str) -> str:
    if role not in ROLES:
        # The value is not repeated: it may be a name typed in the wrong field.
        raise ValueError(f"not a role of samråd; roles are: {', '.join(ROLES)}")
    return role


class SamraadCaseFile(CaseFile):
    """The samråd case file: who and where, plus how the concern arose.

    ``pupil_ref`` is a pseudonymous reference (never a CPR number); ``concern`` records
    why the case was opened (e.g. which absence threshold was hit, on which dates). Both
    stay in the database: no mail subject and nothing sent to Prefect carries them.
    """

    pupil_ref: Pseudonym | None = Field(None, title="Elevens reference (pseudonym)")
    concern: dict[str, Any] | None = Field(None, title="Bekymringen")


class AddParticipantIn(ParticipantIn):
    """One more person on the case (before the meeting is scheduled)."""

    @field_validator("role")
    @classmethod
    def _role_is_known(cls, role: str) -> str:
        return _known_role(role)


class ConveneIn(StrictModel):
    participants: list[AddParticipantIn] = Field(
        default_factory=list,
        title="Deltagere",
        description="personer, der føjes til sagen, når der indkaldes",
    )


class ScheduleIn(MeetingAt):
    reason: OneLine | None = Field(
        None,
        title="Begrundelse for senere møde",
        description="hvorfor mødet ligger efter fristen",
    )
    minutes: Annotated[int, Field(ge=15, le=480)] | None = Field(None, title="Varighed (minutter)")


class RescheduleIn(MeetingAt):
    reason: OneLine | None = Field(None, title="Begrundelse for senere møde")


class StartMeetingIn(StrictModel):
    present: list[Key] | None = Field(
        None, title="Til stede", description="vælges ingen, regnes alle inviterede som til stede"
    )


class NextRoundIn(StrictModel):
    notes: dict[Key, Text] = Field(title="Noter pr. deltager")


class FollowUpIn(MeetingAt):
    participants: list[Key] | None = Field(None, title="Deltagere")


class ConcludeIn(StrictModel):
    notes: dict[Key, Text] = Field(title="Noter pr. deltager")
    decisions: list[Text] = Field(default_factory=list, title="Beslutninger")
    follow_up: FollowUpIn | None = Field(None, title="Opfølgningsmøde")

    def meeting_starts(self) -> tuple[datetime, ...]:
        return () if self.follow_up is None else (self.follow_up.start,)


class ActionItem(StrictModel):
    owner: Key = Field(title="Ansvarlig")
    action: Text = Field(title="Handling")
    due: Day = Field(title="Frist")


class SendActionPlanIn(StrictModel):
    items: list[ActionItem] = Field(title="Handlinger")


class NextFollowUpIn(MeetingAt):
    pass


class HoldFollowUpIn(StrictModel):
    outcome: Annotated[
        Literal["close", "continue", "reconvene"],
        Choices(
            {
                "close": "Luk sagen",
                "continue": "Fortsæt med et nyt opfølgningsmøde",
                "reconvene": "Indkald til et nyt samråd",
            }
        ),
    ] = Field(title="Udfald")
    next_follow_up: NextFollowUpIn | None = Field(None, title="Næste opfølgningsmøde")

    def meeting_starts(self) -> tuple[datetime, ...]:
        return () if self.next_follow_up is None else (self.next_follow_up.start,)


# ---------------------------------------------------------------- helpers


def _current_meeting(ctx: Context[Any]) -> str:
    return str(ctx.data["meeting"])


def _invited(ctx: Context[Any]) -> tuple[str, ...]:
    invited = {r for r, spec in ROLES.items() if spec.attends != "no"}
    keys = [p.key for p in ctx.case.participants if p.role in invited]
    keys += [e.key for e in ctx.effects if isinstance(e, AddParticipant) and e.role in invited]
    return tuple(keys)


def _start_convened_clock(ctx: Context[Any]) -> None:
    deadline = ctx.calendar.deadline(ctx.now, ctx.settings["meeting_deadline_working_days"])
    ctx.data["convened_at"] = iso(ctx.now)
    ctx.data["meeting_deadline"] = iso(deadline)


def _after_deadline(ctx: Context[ScheduleIn] | Context[RescheduleIn]) -> bool:
    return ctx.input.start > datetime.fromisoformat(ctx.data["meeting_deadline"])


# ---------------------------------------------------------------- input checks


def _keys_free(case: CaseSnapshot, people: list[AddParticipantIn]) -> str | None:
    taken = {p.key for p in case.participants}
    clashes = sum(1 for p in people if p.key in taken)
    # Counted, not quoted (here and in the guards below): a key is typed by someone, may be
    # a name or a CPR number, and messages reach the terminal, logs and Prefect.
    if clashes:
        return (
            f"{clashes} participant key(s) given already on the case; choose others, or leave "
            "the key out to have one made (see the case's keys with case show)"
        )
    return None


def convened_keys_free(case: CaseSnapshot, given: ConveneIn) -> str | None:
    return _keys_free(case, given.participants)


def added_key_free(case: CaseSnapshot, given: AddParticipantIn) -> str | None:
    return _keys_free(case, [given])


# ---------------------------------------------------------------- guards

#: Roles that carry powers over the case (convene, schedule, conclude; escalations): only a
#: coordinator may give them, or a school leader could make anyone a leader of the case.
GRANTED_BY_COORDINATOR = frozenset({"school_leader", "coordinator"})


def only_coordinator_grants_powers(
    ctx: Context[ConveneIn] | Context[AddParticipantIn],
) -> str | None:
    people = ctx.input.participants if isinstance(ctx.input, ConveneIn) else [ctx.input]
    granted = sorted({p.role for p in people} & GRANTED_BY_COORDINATOR)
    if granted and "coordinator" not in ctx.actor_roles:
        return (
            f"only the coordinator may give someone the role {' or '.join(granted)}; "
            "ask the case's coordinator to add them"
        )
    return None


def required_roles_present(ctx: Context[ScheduleIn]) -> str | None:
    missing = [
        r for r, spec in ROLES.items() if spec.attends == "required" and not ctx.case.with_role(r)
    ]
    if missing:
        return f"the meeting needs {', '.join(missing)}; add them first (event add_participant)"
    return None


def within_deadline_or_reason(ctx: Context[ScheduleIn] | Context[RescheduleIn]) -> str | None:
    if _after_deadline(ctx) and not ctx.input.reason:
        deadline = datetime.fromisoformat(ctx.data["meeting_deadline"])
        return (
            f"the meeting must start by {deadline.date().isoformat()} "
            f"(7 working days after convening); give a 'reason' to hold it later"
        )
    return None


def present_are_invited(ctx: Context[StartMeetingIn]) -> str | None:
    invited = set(_invited(ctx))
    unknown = [k for k in ctx.input.present or () if k not in invited]
    if unknown:
        return (
            f"not invited to this meeting: {len(unknown)} of the keys given; invited are: "
            f"{', '.join(sorted(invited))}"
        )
    if ctx.input.present is not None and not ctx.input.present:
        return "nobody is present; name who is present or cancel the meeting"
    return None


def every_present_heard(ctx: Context[NextRoundIn] | Context[ConcludeIn]) -> str | None:
    present = ctx.data["present"]
    notes = ctx.input.notes
    extra = set(notes) - set(present)
    if extra:
        return (
            f"notes for someone not present: {len(extra)} of the keys given; present are: "
            f"{', '.join(present)}"
        )
    missing = [k for k in present if not notes.get(k, "").strip()]
    if missing:
        return f"round {ctx.data['round']} is not finished: no note yet for {', '.join(missing)}"
    return None


def decisions_and_follow_up(ctx: Context[ConcludeIn]) -> str | None:
    if not ctx.input.decisions:
        return "the meeting must end with at least one decision"
    if ctx.input.follow_up is None:
        return "a date and time for the follow-up meeting is a fixed agenda item; give 'follow_up'"
    unknown = [k for k in ctx.input.follow_up.participants or () if ctx.case.participant(k) is None]
    if unknown:
        return f"follow-up participants not on the case: {len(unknown)} of the keys given"
    return None


def action_plan_complete(ctx: Context[SendActionPlanIn]) -> str | None:
    if not ctx.input.items:
        return "the action plan needs at least one action (who, what, by when)"
    unknown = {i.owner for i in ctx.input.items if ctx.case.participant(i.owner) is None}
    if unknown:
        return f"action owners not on the case: {len(unknown)} of the keys given"
    return None


def next_follow_up_given(ctx: Context[HoldFollowUpIn]) -> str | None:
    if ctx.input.next_follow_up is None:
        return "to continue, give 'next_follow_up' with the start of the next follow-up meeting"
    return None


def outcome_is(outcome: str) -> Branch:
    def selected(ctx: Context[HoldFollowUpIn]) -> bool:
        return ctx.input.outcome == outcome

    selected.__name__ = f"outcome_is_{outcome}"
    return selected


# ---------------------------------------------------------------- actions


def _add_participants(ctx: Context[Any], people: list[AddParticipantIn]) -> None:
    # Roles and keys were checked with the input (AddParticipantIn, *_keys_free).
    taken = {p.key for p in ctx.case.participants}
    for p in assign_keys(list[ParticipantIn](people), taken):
        assert p.key is not None
        ctx.effects.append(AddParticipant(p.key, p.role, p.name, p.email))
        ctx.details.setdefault("added", []).append({"key": p.key, "role": p.role})


def add_convened_participants(ctx: Context[ConveneIn]) -> None:
    _add_participants(ctx, list(ctx.input.participants))


def add_one_participant(ctx: Context[AddParticipantIn]) -> None:
    _add_participants(ctx, [ctx.input])


def start_convened_clock(ctx: Context[ConveneIn]) -> None:
    _start_convened_clock(ctx)


def record_late_reason(ctx: Context[ScheduleIn] | Context[RescheduleIn]) -> None:
    if _after_deadline(ctx):
        ctx.details["late_reason"] = ctx.input.reason


def invite_to_samraad(ctx: Context[ScheduleIn]) -> None:
    minutes = ctx.input.minutes or ctx.settings["meeting_minutes"]
    schedule_meeting(
        ctx, SAMRAAD_MEETING, ctx.input.start, minutes, _invited(ctx), ctx.input.location
    )


def open_first_round(ctx: Context[StartMeetingIn]) -> None:
    meeting = ctx.case.meeting(_current_meeting(ctx))
    assert meeting is not None
    ctx.data["present"] = list(ctx.input.present or meeting.attendees)
    ctx.data["round"] = 1
    ctx.data.setdefault("notes", {})[meeting.key] = {}
    ctx.effects.append(MarkMeetingHeld(meeting.key))


def record_round_notes(ctx: Context[NextRoundIn] | Context[ConcludeIn]) -> None:
    round_no = ctx.data["round"]
    ctx.data["notes"][_current_meeting(ctx)][str(round_no)] = dict(ctx.input.notes)
    ctx.data["round"] = round_no + 1


def record_decisions(ctx: Context[ConcludeIn]) -> None:
    ctx.data["decisions"] = list(ctx.input.decisions)
    deadline = ctx.calendar.deadline(ctx.now, ctx.settings["action_plan_working_days"])
    ctx.data["action_plan_deadline"] = iso(deadline)


def _schedule_follow_up(
    ctx: Context[Any], meeting: MeetingAt, attendees: tuple[str, ...] | None
) -> None:
    key = next_meeting_key(ctx, FOLLOW_UP_MEETING)
    start = meeting.start
    minutes = ctx.settings["follow_up_minutes"]
    ctx.data["follow_up"] = {"meeting": key, "start": iso(start)}
    ctx.effects.append(
        ScheduleMeeting(
            key,
            start,
            start + timedelta(minutes=minutes),
            meeting.location or ctx.case.location,
            attendees or _invited(ctx),
        )
    )


def invite_to_follow_up(ctx: Context[ConcludeIn]) -> None:
    follow_up = ctx.input.follow_up
    assert follow_up is not None  # decisions_and_follow_up
    _schedule_follow_up(ctx, follow_up, tuple(follow_up.participants or ()))


def invite_to_next_follow_up(ctx: Context[HoldFollowUpIn]) -> None:
    assert ctx.input.next_follow_up is not None  # next_follow_up_given
    _schedule_follow_up(ctx, ctx.input.next_follow_up, None)


def send_action_plan_to_all(ctx: Context[SendActionPlanIn]) -> None:
    ctx.data["action_plan"] = [item.model_dump(mode="json") for item in ctx.input.items]
    ctx.data["action_plan_sent_at"] = iso(ctx.now)
    ctx.effects.append(Notify("action_plan", keys=_invited(ctx), topic="action_plan"))


def mark_follow_up_held(ctx: Context[HoldFollowUpIn]) -> None:
    ctx.data["follow_up_outcome"] = ctx.input.outcome
    ctx.effects.append(MarkMeetingHeld(ctx.data["follow_up"]["meeting"]))


def reconvene(ctx: Context[HoldFollowUpIn]) -> None:
    _start_convened_clock(ctx)


def warn_leader_of_deadline(ctx: Context[Any]) -> None:
    ctx.effects.append(
        Notify("deadline_warning", roles=("school_leader",), topic="meeting_deadline")
    )


def escalate_missed_meeting_deadline(ctx: Context[Any]) -> None:
    ctx.effects.append(Notify("escalation", roles=("coordinator",), topic="meeting_deadline"))


def remind_attendees_of_samraad_or_follow_up(ctx: Context[Any]) -> None:
    key = (
        ctx.data["follow_up"]["meeting"]
        if ctx.case.state == SamraadState.FOLLOW_UP_PENDING
        else ctx.data["meeting"]
    )
    meeting = ctx.case.meeting(key)
    assert meeting is not None
    ctx.effects.append(Notify("reminder", keys=meeting.attendees, meeting=key, topic="meeting"))


def remind_leader_of_action_plan(ctx: Context[Any]) -> None:
    ctx.effects.append(Notify("reminder", roles=("school_leader",), topic="action_plan"))


def escalate_missing_action_plan(ctx: Context[Any]) -> None:
    ctx.effects.append(Notify("escalation", roles=("coordinator",), topic="action_plan"))


# ---------------------------------------------------------------- timers


def deadline_warning_due(ctx: Context[Any]) -> datetime | None:
    deadline = datetime.fromisoformat(ctx.data["meeting_deadline"])
    return morning_before(ctx, deadline, ctx.settings["deadline_warning_working_days"])


def meeting_deadline_due(ctx: Context[Any]) -> datetime:
    return datetime.fromisoformat(ctx.data["meeting_deadline"])


def follow_up_reminder_due(ctx: Context[Any]) -> datetime | None:
    start = datetime.fromisoformat(ctx.data["follow_up"]["start"])
    return morning_before(ctx, start, ctx.settings["reminder_working_days"])


def action_plan_reminder_due(ctx: Context[Any]) -> datetime:
    # The morning of the last day: "today is the last day to send the action plan".
    deadline = datetime.fromisoformat(ctx.data["action_plan_deadline"])
    return at_local(deadline.date(), ctx.settings["reminder_hour"])


def action_plan_deadline_due(ctx: Context[Any]) -> datetime:
    return datetime.fromisoformat(ctx.data["action_plan_deadline"])


# ---------------------------------------------------------------- what messages say


def message_facts(case: CaseSnapshot, template: str, topic: str | None) -> MessageFacts:
    """The decisions, the action plan and the deadline a message is about."""
    data = case.data
    deadline = None
    if topic == "action_plan":
        deadline = data.get("action_plan_deadline")
    elif topic == "meeting_deadline" or template == "deadline_warning":
        deadline = data.get("meeting_deadline")
    return MessageFacts(
        decisions=tuple(str(d) for d in data.get("decisions") or ()),
        action_items=tuple(
            ActionItemFact(str(item.get("owner")), str(item.get("action", "")), item.get("due"))
            for item in data.get("action_plan") or ()
        ),
        follow_up_start=(data.get("follow_up") or {}).get("start"),
        deadline=deadline,
    )


# ---------------------------------------------------------------- the table

SAMRAAD = Process(
    name="samraad",
    convener_roles=("school_leader",),
    title="Fraværssamråd",
    doc="A coordinated meeting about a pupil's worrying absence: convene within 7 working "
    "days, three interview rounds, decisions, an action plan and a follow-up meeting.",
    states=tuple(SamraadState),
    initial=SamraadState.CONCERN,
    finals=frozenset({SamraadState.CLOSED, SamraadState.DISMISSED, SamraadState.CANCELLED}),
    roles=ROLES,
    settings=SETTINGS,
    case_file=SamraadCaseFile,
    meeting_kinds=MEETING_KINDS,
    message_facts=message_facts,
    overdue_states=frozenset({SamraadState.OVERDUE}),
    state_titles={
        SamraadState.CONCERN: "Bekymring",
        SamraadState.CONVENED: "Indkaldt",
        SamraadState.OVERDUE: "Fristen er overskredet",
        SamraadState.SCHEDULED: "Mødet er berammet",
        SamraadState.ROUND_1: "1. interviewrunde",
        SamraadState.ROUND_2: "2. interviewrunde",
        SamraadState.ROUND_3: "3. interviewrunde",
        SamraadState.CONCLUDED: "Beslutninger truffet",
        SamraadState.FOLLOW_UP_PENDING: "Afventer opfølgning",
        SamraadState.CLOSED: "Afsluttet",
        SamraadState.DISMISSED: "Henlagt uden samråd",
        SamraadState.CANCELLED: "Aflyst",
    },
    events=(
        Event(
            SamraadEvent.CONVENE,
            LEADERS,
            ConveneIn,
            "convene the samråd; the 7-working-day clock starts",
            "Indkald til samråd",
            input_checks=(convened_keys_free,),
        ),
        Event(
            SamraadEvent.DISMISS,
            LEADERS,
            ReasonIn,
            "the leader's assessment: no samråd",
            "Henlæg sagen",
        ),
        Event(
            SamraadEvent.ADD_PARTICIPANT,
            LEADERS,
            AddParticipantIn,
            "one more person on the case",
            "Tilføj deltager",
            input_checks=(added_key_free,),
        ),
        Event(
            SamraadEvent.SCHEDULE,
            LEADERS,
            ScheduleIn,
            "fix time and place; invitations go out",
            "Beram mødet",
        ),
        Event(
            SamraadEvent.RESCHEDULE,
            LEADERS,
            RescheduleIn,
            "move the meeting; updates go out",
            "Flyt mødet",
        ),
        Event(
            SamraadEvent.CANCEL,
            LEADERS,
            ReasonIn,
            "cancel the meeting; cancellations go out",
            "Aflys mødet",
        ),
        Event(
            SamraadEvent.START_MEETING,
            PROCESS_LEADERS,
            StartMeetingIn,
            "the meeting begins: round 1",
            "Start mødet",
        ),
        Event(
            SamraadEvent.NEXT_ROUND,
            PROCESS_LEADERS,
            NextRoundIn,
            "everyone heard: the next round",
            "Næste runde",
        ),
        Event(
            SamraadEvent.CONCLUDE,
            LEADERS,
            ConcludeIn,
            "decisions and a follow-up time",
            "Afslut mødet",
        ),
        Event(
            SamraadEvent.SEND_ACTION_PLAN,
            LEADERS,
            SendActionPlanIn,
            "the action plan to all",
            "Send handleplanen",
        ),
        Event(
            SamraadEvent.HOLD_FOLLOW_UP,
            LEADERS,
            HoldFollowUpIn,
            "close, continue or reconvene",
            "Hold opfølgningsmødet",
        ),
        Event(
            SamraadEvent.DEADLINE_WARNING,
            frozenset(),
            doc="the leader is warned before the deadline",
            title="Varsel om frist",
        ),
        Event(
            SamraadEvent.DEADLINE_PASSED,
            frozenset(),
            doc="7 working days passed; the coordinator is told",
            title="Fristen er overskredet",
        ),
        Event(
            SamraadEvent.MEETING_REMINDER,
            frozenset(),
            doc="reminder mail before the meeting",
            title="Påmindelse om mødet",
        ),
        Event(
            SamraadEvent.ACTION_PLAN_REMINDER,
            frozenset(),
            doc="the leader is reminded of the plan",
            title="Påmindelse om handleplanen",
        ),
        Event(
            SamraadEvent.ACTION_PLAN_OVERDUE,
            frozenset(),
            doc="no plan by the deadline: escalation",
            title="Handleplanen er ikke sendt",
        ),
    ),
    transitions=(
        t(
            SamraadEvent.CONVENE,
            SamraadState.CONCERN,
            SamraadState.CONVENED,
            guards=(only_coordinator_grants_powers,),
            actions=(add_convened_participants, start_convened_clock),
        ),
        t(
            SamraadEvent.DISMISS,
            SamraadState.CONCERN,
            SamraadState.DISMISSED,
            actions=(record_reason,),
        ),
        t(
            SamraadEvent.ADD_PARTICIPANT,
            (SamraadState.CONCERN, SamraadState.CONVENED, SamraadState.OVERDUE),
            None,
            guards=(only_coordinator_grants_powers,),
            actions=(add_one_participant,),
        ),
        t(
            SamraadEvent.DEADLINE_WARNING,
            SamraadState.CONVENED,
            None,
            actions=(warn_leader_of_deadline,),
        ),
        t(
            SamraadEvent.DEADLINE_PASSED,
            SamraadState.CONVENED,
            SamraadState.OVERDUE,
            actions=(escalate_missed_meeting_deadline,),
        ),
        t(
            SamraadEvent.SCHEDULE,
            (SamraadState.CONVENED, SamraadState.OVERDUE),
            SamraadState.SCHEDULED,
            guards=(required_roles_present, meeting_in_future, within_deadline_or_reason),
            actions=(record_late_reason, invite_to_samraad),
        ),
        t(
            SamraadEvent.RESCHEDULE,
            SamraadState.SCHEDULED,
            SamraadState.SCHEDULED,
            guards=(meeting_in_future, within_deadline_or_reason),
            actions=(record_late_reason, move_current_meeting),
        ),
        t(
            SamraadEvent.CANCEL,
            SamraadState.SCHEDULED,
            SamraadState.CANCELLED,
            actions=(record_reason, cancel_current_meeting),
        ),
        t(
            SamraadEvent.MEETING_REMINDER,
            (SamraadState.SCHEDULED, SamraadState.FOLLOW_UP_PENDING),
            None,
            actions=(remind_attendees_of_samraad_or_follow_up,),
        ),
        t(
            SamraadEvent.START_MEETING,
            SamraadState.SCHEDULED,
            SamraadState.ROUND_1,
            guards=(present_are_invited,),
            actions=(open_first_round,),
        ),
        t(
            SamraadEvent.NEXT_ROUND,
            SamraadState.ROUND_1,
            SamraadState.ROUND_2,
            guards=(every_present_heard,),
            actions=(record_round_notes,),
        ),
        t(
            SamraadEvent.NEXT_ROUND,
            SamraadState.ROUND_2,
            SamraadState.ROUND_3,
            guards=(every_present_heard,),
            actions=(record_round_notes,),
        ),
        t(
            SamraadEvent.CONCLUDE,
            SamraadState.ROUND_3,
            SamraadState.CONCLUDED,
            guards=(every_present_heard, decisions_and_follow_up, meeting_in_future),
            actions=(record_round_notes, record_decisions, invite_to_follow_up),
        ),
        t(
            SamraadEvent.ACTION_PLAN_REMINDER,
            SamraadState.CONCLUDED,
            None,
            actions=(remind_leader_of_action_plan,),
        ),
        t(
            SamraadEvent.ACTION_PLAN_OVERDUE,
            SamraadState.CONCLUDED,
            None,
            actions=(escalate_missing_action_plan,),
        ),
        t(
            SamraadEvent.SEND_ACTION_PLAN,
            SamraadState.CONCLUDED,
            SamraadState.FOLLOW_UP_PENDING,
            guards=(action_plan_complete,),
            actions=(send_action_plan_to_all,),
        ),
        t(
            SamraadEvent.HOLD_FOLLOW_UP,
            SamraadState.FOLLOW_UP_PENDING,
            SamraadState.CLOSED,
            branch=outcome_is("close"),
            actions=(mark_follow_up_held,),
        ),
        t(
            SamraadEvent.HOLD_FOLLOW_UP,
            SamraadState.FOLLOW_UP_PENDING,
            SamraadState.FOLLOW_UP_PENDING,
            branch=outcome_is("continue"),
            guards=(next_follow_up_given, meeting_in_future),
            actions=(mark_follow_up_held, invite_to_next_follow_up),
        ),
        t(
            SamraadEvent.HOLD_FOLLOW_UP,
            SamraadState.FOLLOW_UP_PENDING,
            SamraadState.CONVENED,
            branch=outcome_is("reconvene"),
            actions=(mark_follow_up_held, reconvene),
        ),
    ),
    timers=(
        Timer(SamraadState.CONVENED, SamraadEvent.DEADLINE_WARNING, deadline_warning_due),
        Timer(SamraadState.CONVENED, SamraadEvent.DEADLINE_PASSED, meeting_deadline_due),
        Timer(SamraadState.SCHEDULED, SamraadEvent.MEETING_REMINDER, meeting_reminder_due),
        Timer(
            SamraadState.FOLLOW_UP_PENDING, SamraadEvent.MEETING_REMINDER, follow_up_reminder_due
        ),
        Timer(SamraadState.CONCLUDED, SamraadEvent.ACTION_PLAN_REMINDER, action_plan_reminder_due),
        Timer(SamraadState.CONCLUDED, SamraadEvent.ACTION_PLAN_OVERDUE, action_plan_deadline_due),
    ),
)
