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

from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import Field

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
from .errors import InvalidInput
from .inputs import (
    CaseFile,
    Key,
    OneLine,
    ParticipantIn,
    Pseudonym,
    ReasonIn,
    StrictModel,
    Text,
    When,
    assign_keys,
)
from .workdays import at_local

LEADERS = frozenset({"school_leader", "coordinator"})
PROCESS_LEADERS = frozenset({"ppr_interviewer", "ppr_referent", "school_leader"})

ROLES = {
    "pupil": Role("elev", "required"),
    "parent": Role("forælder", "required"),
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


class SamraadCaseFile(CaseFile):
    """The samråd case file: who and where, plus how the concern arose.

    ``pupil_ref`` is a pseudonymous reference (never a CPR number); ``concern`` records
    why the case was opened (e.g. which absence threshold was hit, on which dates). Both
    stay in the database: no mail subject and nothing sent to Prefect carries them.
    """

    pupil_ref: Pseudonym | None = None
    concern: dict[str, Any] | None = None


class ConveneIn(StrictModel):
    participants: list[ParticipantIn] = Field(
        default_factory=list, description="people to add to the case when convening"
    )


class AddParticipantIn(ParticipantIn):
    """One more person on the case (before the meeting is scheduled)."""


class ScheduleIn(StrictModel):
    start: When
    location: OneLine | None = None
    reason: OneLine | None = Field(None, description="why the meeting lies after the deadline")
    minutes: Annotated[int, Field(ge=15, le=480)] | None = None


class RescheduleIn(StrictModel):
    start: When
    location: OneLine | None = None
    reason: OneLine | None = None


class StartMeetingIn(StrictModel):
    present: list[Key] | None = Field(None, description="participant keys; default: all invited")


class NextRoundIn(StrictModel):
    notes: dict[Key, Text]


class FollowUpIn(StrictModel):
    start: When
    participants: list[Key] | None = None
    location: OneLine | None = None


class ConcludeIn(StrictModel):
    notes: dict[Key, Text]
    decisions: list[Text] = Field(default_factory=list)
    follow_up: FollowUpIn | None = None


class ActionItem(StrictModel):
    owner: Key
    action: Text
    due: date


class SendActionPlanIn(StrictModel):
    items: list[ActionItem]


class NextFollowUpIn(StrictModel):
    start: When
    location: OneLine | None = None


class HoldFollowUpIn(StrictModel):
    outcome: Literal["close", "continue", "reconvene"]
    next_follow_up: NextFollowUpIn | None = None


# ---------------------------------------------------------------- helpers


def _current_meeting(ctx: Context) -> str:
    return str(ctx.data["meeting"])


def _invited(ctx: Context) -> tuple[str, ...]:
    invited = {r for r, spec in ROLES.items() if spec.attends != "no"}
    keys = [p.key for p in ctx.case.participants if p.role in invited]
    keys += [e.key for e in ctx.effects if isinstance(e, AddParticipant) and e.role in invited]
    return tuple(keys)


def _start_convened_clock(ctx: Context) -> None:
    deadline = ctx.calendar.deadline(ctx.now, ctx.settings["meeting_deadline_working_days"])
    ctx.data["convened_at"] = iso(ctx.now)
    ctx.data["meeting_deadline"] = iso(deadline)


# ---------------------------------------------------------------- guards


def required_roles_present(ctx: Context) -> str | None:
    missing = [
        r for r, spec in ROLES.items() if spec.attends == "required" and not ctx.case.with_role(r)
    ]
    if missing:
        return f"the meeting needs {', '.join(missing)}; add them first (event add_participant)"
    return None


def within_deadline_or_reason(ctx: Context) -> str | None:
    deadline = datetime.fromisoformat(ctx.data["meeting_deadline"])
    if ctx.input.start > deadline and not ctx.input.reason:
        return (
            f"the meeting must start by {deadline.date().isoformat()} "
            f"(7 working days after convening); give a 'reason' to hold it later"
        )
    if ctx.input.start > deadline:
        ctx.details["late_reason"] = ctx.input.reason
    return None


def present_are_invited(ctx: Context) -> str | None:
    invited = set(_invited(ctx))
    unknown = [k for k in ctx.input.present or () if k not in invited]
    if unknown:
        return f"not invited to this meeting: {', '.join(unknown)}"
    if ctx.input.present is not None and not ctx.input.present:
        return "nobody is present; name who is present or cancel the meeting"
    return None


def every_present_heard(ctx: Context) -> str | None:
    present = ctx.data["present"]
    notes = ctx.input.notes
    extra = sorted(set(notes) - set(present))
    if extra:
        return f"notes for someone not present: {', '.join(extra)}"
    missing = [k for k in present if not notes.get(k, "").strip()]
    if missing:
        return f"round {ctx.data['round']} is not finished: no note yet for {', '.join(missing)}"
    return None


def decisions_and_follow_up(ctx: Context) -> str | None:
    if not ctx.input.decisions:
        return "the meeting must end with at least one decision"
    if ctx.input.follow_up is None:
        return "a date and time for the follow-up meeting is a fixed agenda item; give 'follow_up'"
    unknown = [k for k in ctx.input.follow_up.participants or () if ctx.case.participant(k) is None]
    if unknown:
        return f"follow-up participants not on the case: {', '.join(unknown)}"
    return None


def action_plan_complete(ctx: Context) -> str | None:
    if not ctx.input.items:
        return "the action plan needs at least one action (who, what, by when)"
    unknown = sorted({i.owner for i in ctx.input.items if ctx.case.participant(i.owner) is None})
    if unknown:
        return f"action owners not on the case: {', '.join(unknown)}"
    return None


def next_follow_up_given(ctx: Context) -> str | None:
    if ctx.input.next_follow_up is None:
        return "to continue, give 'next_follow_up' with the start of the next follow-up meeting"
    return None


def outcome_is(outcome: str) -> object:
    def selected(ctx: Context) -> bool:
        return bool(ctx.input.outcome == outcome)

    selected.__name__ = f"outcome_is_{outcome}"
    return selected


# ---------------------------------------------------------------- actions


def _add_participants(ctx: Context, people: list[ParticipantIn]) -> None:
    taken = {p.key for p in ctx.case.participants}
    for p in assign_keys(people, taken):
        if p.role not in ROLES:
            raise InvalidInput(f"unknown role {p.role!r}; roles are: {', '.join(ROLES)}")
        if p.key in taken:
            raise InvalidInput(f"participant key {p.key!r} is already on the case")
        assert p.key is not None
        ctx.effects.append(AddParticipant(p.key, p.role, p.name, p.email))
        ctx.details.setdefault("added", []).append({"key": p.key, "role": p.role})


def add_convened_participants(ctx: Context) -> None:
    _add_participants(ctx, list(ctx.input.participants))


def add_one_participant(ctx: Context) -> None:
    _add_participants(ctx, [ctx.input])


def start_convened_clock(ctx: Context) -> None:
    _start_convened_clock(ctx)


def invite_to_samraad(ctx: Context) -> None:
    minutes = ctx.input.minutes or ctx.settings["meeting_minutes"]
    schedule_meeting(
        ctx, SAMRAAD_MEETING, ctx.input.start, minutes, _invited(ctx), ctx.input.location
    )


def open_first_round(ctx: Context) -> None:
    meeting = ctx.case.meeting(_current_meeting(ctx))
    assert meeting is not None
    ctx.data["present"] = list(ctx.input.present or meeting.attendees)
    ctx.data["round"] = 1
    ctx.data.setdefault("notes", {})[meeting.key] = {}
    ctx.effects.append(MarkMeetingHeld(meeting.key))


def record_round_notes(ctx: Context) -> None:
    round_no = ctx.data["round"]
    ctx.data["notes"][_current_meeting(ctx)][str(round_no)] = dict(ctx.input.notes)
    ctx.data["round"] = round_no + 1


def record_decisions(ctx: Context) -> None:
    ctx.data["decisions"] = list(ctx.input.decisions)
    deadline = ctx.calendar.deadline(ctx.now, ctx.settings["action_plan_working_days"])
    ctx.data["action_plan_deadline"] = iso(deadline)


def invite_to_follow_up(ctx: Context) -> None:
    follow_up = getattr(ctx.input, "follow_up", None) or ctx.input.next_follow_up
    attendees = tuple(getattr(follow_up, "participants", None) or _invited(ctx))
    key = next_meeting_key(ctx, FOLLOW_UP_MEETING)
    start = follow_up.start
    minutes = ctx.settings["follow_up_minutes"]
    ctx.data["follow_up"] = {"meeting": key, "start": iso(start)}
    ctx.effects.append(
        ScheduleMeeting(
            key,
            start,
            start + timedelta(minutes=minutes),
            follow_up.location or ctx.case.location,
            attendees,
        )
    )


def send_action_plan_to_all(ctx: Context) -> None:
    ctx.data["action_plan"] = [item.model_dump(mode="json") for item in ctx.input.items]
    ctx.data["action_plan_sent_at"] = iso(ctx.now)
    ctx.effects.append(Notify("action_plan", keys=_invited(ctx), topic="action_plan"))


def mark_follow_up_held(ctx: Context) -> None:
    ctx.data["follow_up_outcome"] = ctx.input.outcome
    ctx.effects.append(MarkMeetingHeld(ctx.data["follow_up"]["meeting"]))


def reconvene(ctx: Context) -> None:
    _start_convened_clock(ctx)


def warn_leader_of_deadline(ctx: Context) -> None:
    ctx.effects.append(
        Notify("deadline_warning", roles=("school_leader",), topic="meeting_deadline")
    )


def escalate_missed_meeting_deadline(ctx: Context) -> None:
    ctx.effects.append(Notify("escalation", roles=("coordinator",), topic="meeting_deadline"))


def remind_attendees_of_samraad_or_follow_up(ctx: Context) -> None:
    key = (
        ctx.data["follow_up"]["meeting"]
        if ctx.case.state == "follow_up_pending"
        else ctx.data["meeting"]
    )
    meeting = ctx.case.meeting(key)
    assert meeting is not None
    ctx.effects.append(Notify("reminder", keys=meeting.attendees, meeting=key, topic="meeting"))


def remind_leader_of_action_plan(ctx: Context) -> None:
    ctx.effects.append(Notify("reminder", roles=("school_leader",), topic="action_plan"))


def escalate_missing_action_plan(ctx: Context) -> None:
    ctx.effects.append(Notify("escalation", roles=("coordinator",), topic="action_plan"))


# ---------------------------------------------------------------- timers


def deadline_warning_due(ctx: Context) -> datetime | None:
    deadline = datetime.fromisoformat(ctx.data["meeting_deadline"])
    return morning_before(ctx, deadline, ctx.settings["deadline_warning_working_days"])


def meeting_deadline_due(ctx: Context) -> datetime:
    return datetime.fromisoformat(ctx.data["meeting_deadline"])


def follow_up_reminder_due(ctx: Context) -> datetime | None:
    start = datetime.fromisoformat(ctx.data["follow_up"]["start"])
    return morning_before(ctx, start, ctx.settings["reminder_working_days"])


def action_plan_reminder_due(ctx: Context) -> datetime:
    # The morning of the last day: "today is the last day to send the action plan".
    deadline = datetime.fromisoformat(ctx.data["action_plan_deadline"])
    return at_local(deadline.date(), ctx.settings["reminder_hour"])


def action_plan_deadline_due(ctx: Context) -> datetime:
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
    title="Fraværssamråd",
    doc="A coordinated meeting about a pupil's worrying absence: convene within 7 working "
    "days, three interview rounds, decisions, an action plan and a follow-up meeting.",
    states=(
        "concern",
        "convened",
        "overdue",
        "scheduled",
        "round_1",
        "round_2",
        "round_3",
        "concluded",
        "follow_up_pending",
        "closed",
        "dismissed",
        "cancelled",
    ),
    initial="concern",
    finals=frozenset({"closed", "dismissed", "cancelled"}),
    roles=ROLES,
    settings=SETTINGS,
    case_file=SamraadCaseFile,
    meeting_kinds=MEETING_KINDS,
    message_facts=message_facts,
    overdue_states=frozenset({"overdue"}),
    events=(
        Event("convene", LEADERS, ConveneIn, "convene the samråd; the 7-working-day clock starts"),
        Event("dismiss", LEADERS, ReasonIn, "the leader's assessment: no samråd"),
        Event("add_participant", LEADERS, AddParticipantIn, "one more person on the case"),
        Event("schedule", LEADERS, ScheduleIn, "fix time and place; invitations go out"),
        Event("reschedule", LEADERS, RescheduleIn, "move the meeting; updates go out"),
        Event("cancel", LEADERS, ReasonIn, "cancel the meeting; cancellations go out"),
        Event("start_meeting", PROCESS_LEADERS, StartMeetingIn, "the meeting begins: round 1"),
        Event("next_round", PROCESS_LEADERS, NextRoundIn, "everyone heard: the next round"),
        Event("conclude", LEADERS, ConcludeIn, "decisions and a follow-up time"),
        Event("send_action_plan", LEADERS, SendActionPlanIn, "the action plan to all"),
        Event("hold_follow_up", LEADERS, HoldFollowUpIn, "close, continue or reconvene"),
        Event("deadline_warning", frozenset(), doc="the leader is warned before the deadline"),
        Event("deadline_passed", frozenset(), doc="7 working days passed; the coordinator is told"),
        Event("meeting_reminder", frozenset(), doc="reminder mail before the meeting"),
        Event("action_plan_reminder", frozenset(), doc="the leader is reminded of the plan"),
        Event("action_plan_overdue", frozenset(), doc="no plan by the deadline: escalation"),
    ),
    transitions=(
        t(
            "convene",
            "concern",
            "convened",
            actions=(add_convened_participants, start_convened_clock),
        ),
        t("dismiss", "concern", "dismissed", actions=(record_reason,)),
        t(
            "add_participant",
            ("concern", "convened", "overdue"),
            None,
            actions=(add_one_participant,),
        ),
        t("deadline_warning", "convened", None, actions=(warn_leader_of_deadline,)),
        t("deadline_passed", "convened", "overdue", actions=(escalate_missed_meeting_deadline,)),
        t(
            "schedule",
            ("convened", "overdue"),
            "scheduled",
            guards=(required_roles_present, meeting_in_future, within_deadline_or_reason),
            actions=(invite_to_samraad,),
        ),
        t(
            "reschedule",
            "scheduled",
            "scheduled",
            guards=(meeting_in_future, within_deadline_or_reason),
            actions=(move_current_meeting,),
        ),
        t("cancel", "scheduled", "cancelled", actions=(record_reason, cancel_current_meeting)),
        t(
            "meeting_reminder",
            ("scheduled", "follow_up_pending"),
            None,
            actions=(remind_attendees_of_samraad_or_follow_up,),
        ),
        t(
            "start_meeting",
            "scheduled",
            "round_1",
            guards=(present_are_invited,),
            actions=(open_first_round,),
        ),
        t(
            "next_round",
            "round_1",
            "round_2",
            guards=(every_present_heard,),
            actions=(record_round_notes,),
        ),
        t(
            "next_round",
            "round_2",
            "round_3",
            guards=(every_present_heard,),
            actions=(record_round_notes,),
        ),
        t(
            "conclude",
            "round_3",
            "concluded",
            guards=(every_present_heard, decisions_and_follow_up, meeting_in_future),
            actions=(record_round_notes, record_decisions, invite_to_follow_up),
        ),
        t("action_plan_reminder", "concluded", None, actions=(remind_leader_of_action_plan,)),
        t("action_plan_overdue", "concluded", None, actions=(escalate_missing_action_plan,)),
        t(
            "send_action_plan",
            "concluded",
            "follow_up_pending",
            guards=(action_plan_complete,),
            actions=(send_action_plan_to_all,),
        ),
        t(
            "hold_follow_up",
            "follow_up_pending",
            "closed",
            when=outcome_is("close"),  # type: ignore[arg-type]
            actions=(mark_follow_up_held,),
        ),
        t(
            "hold_follow_up",
            "follow_up_pending",
            "follow_up_pending",
            when=outcome_is("continue"),  # type: ignore[arg-type]
            guards=(next_follow_up_given, meeting_in_future),
            actions=(mark_follow_up_held, invite_to_follow_up),
        ),
        t(
            "hold_follow_up",
            "follow_up_pending",
            "convened",
            when=outcome_is("reconvene"),  # type: ignore[arg-type]
            actions=(mark_follow_up_held, reconvene),
        ),
    ),
    timers=(
        Timer("convened", "deadline_warning", deadline_warning_due),
        Timer("convened", "deadline_passed", meeting_deadline_due),
        Timer("scheduled", "meeting_reminder", meeting_reminder_due),
        Timer("follow_up_pending", "meeting_reminder", follow_up_reminder_due),
        Timer("concluded", "action_plan_reminder", action_plan_reminder_due),
        Timer("concluded", "action_plan_overdue", action_plan_deadline_due),
    ),
)
