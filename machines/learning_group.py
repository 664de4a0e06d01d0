"""learning_group: small learning groups in a daycare (DOMAIN.md §4, issue 14).

1. a group is 3–4 children and one fixed pedagogue; children by pseudonymous references
   only; a child is in one group at a time (across cases: the store's memberships, see
   ``Enrol``);
2. the group meets once a week for a period: one calendar series (RRULE, EXDATEs for the
   closed days); one session can be moved or cancelled on its own;
3. changing the pedagogue is an explicit, recorded event: the old series ends, the rest
   of the sessions are a new series with the new pedagogue;
4. after each session the pedagogue notes the follow-up in the development wheel, per
   child, in the configured areas; a session without its notes ``note_working_days``
   working days later → a reminder to the pedagogue (one timer per group, re-armed for
   the next session: never one timer row per future session);
5. the notes are read by the daycare's staff on the group (``forloeb case form``), never
   sent to Prefect, never in a mail (the reminder names no child and no note).

Room meetings (stuemøder) are their own process, ``room_meetings``: a room's meetings
outlive any one group.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, field_validator

from .case import CaseSnapshot
from .common import (
    cancel_open_meetings,
    children_of,
    iso,
    next_meeting_key,
    record_reason,
    series_of,
)
from .definition import Event, MeetingKind, Process, Role, Timer, t
from .effects import (
    AddParticipant,
    CancelMeeting,
    ChangeRole,
    EndSeries,
    Enrol,
    Notify,
    ScheduleSeries,
    SetTimer,
    Unenrol,
)
from .engine import Context
from .errors import GuardRejected, NotPermitted
from .inputs import (
    CaseChild,
    CaseFile,
    Email,
    Key,
    OneLine,
    Pseudonym,
    ReasonIn,
    Session,
    SettingChoices,
    StrictModel,
    Text,
)
from .recurring import (
    CancelOccurrenceIn,
    MoveOccurrenceIn,
    PlanSeriesIn,
    cancel_occurrence,
    current_occurrences,
    end_series_now,
    find_occurrence,
    label,
    move_occurrence,
    no_such_occurrence,
    occurrence_ahead,
    occurrence_fits,
    plan_in_future,
    planned_series,
    series_keys,
)
from .series import Occurrence, Series, SeriesRule
from .workdays import COPENHAGEN


class GroupState(StrEnum):
    FORMING = "forming"
    RUNNING = "running"
    ENDED = "ended"
    DISSOLVED = "dissolved"


class GroupEvent(StrEnum):
    PLAN_SESSIONS = "plan_sessions"
    MOVE_SESSION = "move_session"
    CANCEL_SESSION = "cancel_session"
    WRITE_NOTE = "write_note"
    ADD_CHILD = "add_child"
    REMOVE_CHILD = "remove_child"
    CHANGE_PEDAGOGUE = "change_pedagogue"
    END_GROUP = "end_group"
    DISSOLVE = "dissolve"
    NOTE_CHECK = "note_check"


PEDAGOGUE = frozenset({"pedagogue"})
LEADER = frozenset({"leader"})
#: The daycare's staff on the group: they read the notes.
STAFF_ON_GROUP = frozenset({"pedagogue", "leader", "staff"})

ROLES = {
    "pedagogue": Role("pædagog", "required"),
    "leader": Role("daginstitutionsleder", "optional"),
    "staff": Role("pædagogisk personale", "optional"),
    "former_pedagogue": Role("tidligere pædagog", "no"),
}

SESSIONS = "sessions"
MEETING_KINDS = {SESSIONS: MeetingKind("Lille læringsgruppe", "samlingen")}

#: The development wheel's areas (udviklingshjulet): configuration, as municipalities differ.
WHEEL_AREAS = (
    "sprog",
    "motorik",
    "sociale_kompetencer",
    "trivsel",
    "selvhjulpenhed",
    "leg",
)

#: Their Danish names, as the desk offers them (an area added above needs one here).
WHEEL_AREA_NAMES = {
    "sprog": "Sprog",
    "motorik": "Motorik",
    "sociale_kompetencer": "Sociale kompetencer",
    "trivsel": "Trivsel",
    "selvhjulpenhed": "Selvhjulpenhed",
    "leg": "Leg",
}

SETTINGS: dict[str, Any] = {
    "min_children": 3,
    "max_children": 4,
    "wheel_areas": WHEEL_AREAS,
    "note_working_days": 2,  # rule 4: the reminder this many working days after a session
}


def _children_count_problem(count: int) -> str | None:
    low, high = SETTINGS["min_children"], SETTINGS["max_children"]
    if count > high:
        return (
            f"a learning group has {low}–{high} children, {count} given; "
            "start another group for the others"
        )
    if count < low:
        return f"a learning group has {low}–{high} children, {count} given; add more children"
    return None


class LearningGroupCaseFile(CaseFile):
    room: Annotated[OneLine, Field(min_length=1, max_length=100)] = Field(title="Stue")
    children: list[Pseudonym] = Field(
        title="Børn (pseudonyme referencer)",
        description="3–4 pseudonyme referencer, aldrig navne eller CPR-numre",
    )

    @field_validator("children")
    @classmethod
    def _three_or_four_distinct(cls, children: list[str]) -> list[str]:
        if len(set(children)) != len(children):
            raise ValueError("a child is listed twice")
        problem = _children_count_problem(len(children))
        if problem:
            raise ValueError(problem)
        return children


class NoteIn(StrictModel):
    session: Session = Field(title="Samling (planlagt tidspunkt)")
    child: CaseChild = Field(title="Barn")
    # Keyed by a key (areas are configuration, see SETTINGS): a name or a sentence typed as
    # an area is refused by the model, whatever its length.
    wheel: dict[Annotated[Key, SettingChoices("wheel_areas", WHEEL_AREA_NAMES)], Text] = Field(
        title="Opfølgning i udviklingshjulet", description="opfølgningen for hvert område"
    )


class ChildIn(StrictModel):
    child: Pseudonym = Field(title="Barn (pseudonym reference)")


class RemoveChildIn(ChildIn):
    child: CaseChild = Field(title="Barn")
    reason: Annotated[OneLine, Field(min_length=1, max_length=1000)] = Field(title="Begrundelse")


class ChangePedagogueIn(StrictModel):
    key: Key | None = Field(None, title="Nøgle")
    name: Annotated[OneLine, Field(min_length=1, max_length=200)] = Field(title="Navn")
    email: Email = Field(title="E-mail")
    reason: Annotated[OneLine, Field(min_length=1, max_length=1000)] = Field(title="Begrundelse")


# ---------------------------------------------------------------- reading the case


def _current_pedagogue(case: CaseSnapshot) -> str:
    (pedagogue,) = (p.key for p in case.participants if p.role == "pedagogue")
    return pedagogue


# ---------------------------------------------------------------- open checks


def one_pedagogue(case_file: CaseFile, now: datetime) -> str | None:
    pedagogues = [p for p in case_file.participants if p.role == "pedagogue"]
    if len(pedagogues) != 1:
        return (
            f"a learning group has one fixed pedagogue, {len(pedagogues)} given; "
            "list exactly one participant with role 'pedagogue'"
        )
    if not pedagogues[0].email:
        return "the pedagogue needs an e-mail address: the sessions are sent to it"
    return None


# ---------------------------------------------------------------- input checks (bad input)


def note_fits(case: CaseSnapshot, note: NoteIn) -> str | None:
    children = children_of(case)
    if note.child not in children:
        # What was typed is not repeated (here and below): a name or a number typed as a
        # child's reference would reach the terminal, logs and Prefect. The group's own
        # (pseudonymous) references are what to choose from.
        return f"the child given is not in this group; its children are: {', '.join(children)}"
    unknown = len(set(note.wheel) - set(SETTINGS["wheel_areas"]))
    if unknown:
        # Not repeated: a key is typed by someone, and messages reach logs and Prefect.
        return (
            f"{unknown} of the areas given is not an area of the development wheel; "
            f"the areas are: {', '.join(SETTINGS['wheel_areas'])}"
        )
    if not note.wheel:
        return "the note is empty: write the follow-up for at least one area"
    return no_such_occurrence(case, note.session)


def child_can_join(case: CaseSnapshot, given: ChildIn) -> str | None:
    children = children_of(case)
    if given.child in children:
        return "the child given is already in this group"
    if len(children) >= SETTINGS["max_children"]:
        return _children_count_problem(len(children) + 1)
    return None


def child_can_leave(case: CaseSnapshot, given: ChildIn) -> str | None:
    children = children_of(case)
    if given.child not in children:
        return f"the child given is not in this group; its children are: {', '.join(children)}"
    if len(children) <= SETTINGS["min_children"]:
        return (
            f"the group would have {len(children) - 1} children, fewer than "
            f"{SETTINGS['min_children']}; add a child first, or end the group"
        )
    return None


def new_pedagogue_fits(case: CaseSnapshot, given: ChangePedagogueIn) -> str | None:
    current = case.participant(_current_pedagogue(case))
    if current is not None and given.email.lower() == (current.email or "").lower():
        return "that is already the group's pedagogue"
    if given.key is not None and case.participant(given.key) is not None:
        return "the participant key given is already taken on this case; choose another"
    return None


# ---------------------------------------------------------------- guards (rules)


def sessions_in_future(ctx: Context[PlanSeriesIn]) -> str | None:
    return plan_in_future(ctx, planned_series(ctx.input, ctx.calendar))


def session_happened(ctx: Context[NoteIn]) -> str | None:
    found = find_occurrence(ctx.case, ctx.input.session)
    assert found is not None
    if found[2].start > ctx.now:
        return (
            f"the session at {label(found[2].start)} has not happened yet; write the note after it"
        )
    return None


# ---------------------------------------------------------------- actions


def enrol_children(ctx: Context[Any]) -> None:
    """Opening: every child joins this group, and no other (the store checks across cases)."""
    ctx.effects.extend(Enrol(child) for child in children_of(ctx.case))


def schedule_sessions(ctx: Context[PlanSeriesIn]) -> None:
    key = next_meeting_key(ctx, SESSIONS)
    series = planned_series(ctx.input, ctx.calendar)
    location = ctx.input.location or ctx.case.location
    ctx.effects.append(ScheduleSeries(key, series, location, (_current_pedagogue(ctx.case),)))
    ctx.data["series"] = [*series_keys(ctx.data), key]
    ctx.data["location"] = location
    ctx.details["sessions"] = len(series.held_or_planned())


def move_session(ctx: Context[MoveOccurrenceIn]) -> None:
    move_occurrence(ctx)
    arm_note_check(ctx)


def cancel_session(ctx: Context[CancelOccurrenceIn]) -> None:
    cancel_occurrence(ctx)
    arm_note_check(ctx)


def record_note(ctx: Context[NoteIn]) -> None:
    session = label(ctx.input.session)
    notes = ctx.data.setdefault("notes", {})
    # A later note for the same child and session replaces it; the history keeps who wrote.
    notes.setdefault(session, {})[ctx.input.child] = dict(ctx.input.wheel)
    # Ids only in the history row: the note's words stay in the case data.
    ctx.details["session"] = session
    ctx.details["child"] = ctx.input.child
    ctx.details["areas"] = sorted(ctx.input.wheel)


def add_child(ctx: Context[ChildIn]) -> None:
    ctx.data["children"] = [*children_of(ctx.case, ctx.data), ctx.input.child]
    ctx.effects.append(Enrol(ctx.input.child))
    ctx.details["child"] = ctx.input.child


def remove_child(ctx: Context[RemoveChildIn]) -> None:
    ctx.data["children"] = [c for c in children_of(ctx.case, ctx.data) if c != ctx.input.child]
    ctx.effects.append(Unenrol(ctx.input.child))
    ctx.details["child"] = ctx.input.child
    ctx.details["reason"] = ctx.input.reason


def change_pedagogue(ctx: Context[ChangePedagogueIn]) -> None:
    old = _current_pedagogue(ctx.case)
    taken = {p.key for p in ctx.case.participants}
    new = ctx.input.key or next(
        k for n in range(1, 1000) if (k := f"pedagogue-{n + 1}") not in taken
    )
    ctx.effects.append(ChangeRole(old, "former_pedagogue"))
    ctx.effects.append(AddParticipant(new, "pedagogue", ctx.input.name, ctx.input.email))
    ctx.details.update({"from": old, "to": new, "reason": ctx.input.reason})
    # The sessions still to come become a new series, sent to the new pedagogue; the old
    # series ends (an update of its RRULE) or, if none of it was held, is cancelled.
    for key in series_keys(ctx.data):
        series = series_of(ctx, key)
        if series is None:
            continue
        ahead = [s for s in series.rule_starts() if s > ctx.now]
        # Only sessions that will take place are handed over: a tail made only of closure
        # days and cancelled sessions would be a series without occurrences.
        if not any(o.recurrence_id > ctx.now and not o.cancelled for o in series.occurrences()):
            continue
        if any(s <= ctx.now for s in series.rule_starts()):
            ctx.effects.append(EndSeries(key, ahead[0]))
        else:
            ctx.effects.append(CancelMeeting(key))
        rule = series.rule
        if rule.count is not None:
            rule = SeriesRule(rule.freq, rule.interval, count=len(ahead))
        rest = Series(
            ahead[0],
            ahead[0] + series.duration,
            rule,
            frozenset(d for d in series.exdates if d >= ahead[0]),
            {k: v for k, v in series.overrides.items() if k >= ahead[0]},
        )
        new_key = next_meeting_key(ctx, SESSIONS)
        location = ctx.data.get("location", ctx.case.location)
        ctx.effects.append(ScheduleSeries(new_key, rest, location, (new,)))
        ctx.data["series"] = [*series_keys(ctx.data), new_key]


def release_children(ctx: Context[Any]) -> None:
    """An ended group holds no one: its children may join another group."""
    ctx.effects.extend(Unenrol(child) for child in children_of(ctx.case, ctx.data))


def end_group(ctx: Context[ReasonIn]) -> None:
    release_children(ctx)
    end_series_now(ctx)
    ctx.data["ended_at"] = iso(ctx.now)
    record_reason(ctx)


def dissolve(ctx: Context[ReasonIn]) -> None:
    release_children(ctx)
    record_reason(ctx)
    cancel_open_meetings(ctx)


# ---------------------------------------------------------------- the note reminder


def _note_due(ctx: Context[Any], session: Occurrence) -> datetime:
    """``note_working_days`` working days after the session, at the time it began."""
    local = session.start.astimezone(COPENHAGEN)
    day = ctx.calendar.add_working_days(local.date(), ctx.settings["note_working_days"])
    return datetime.combine(day, local.time(), COPENHAGEN)


def _unchecked(ctx: Context[Any]) -> list[Occurrence]:
    checked = ctx.data.get("notes_checked_through")
    through = datetime.fromisoformat(checked) if checked else None
    return [s for s in current_occurrences(ctx) if through is None or s.start > through]


def note_check_due(ctx: Context[Any]) -> datetime | None:
    """The one timer of a group: when the next unchecked session's notes are due."""
    unchecked = _unchecked(ctx)
    return _note_due(ctx, unchecked[0]) if unchecked else None


def arm_note_check(ctx: Context[Any]) -> None:
    """Re-arm the group's one timer (a moved or cancelled session changes its due time)."""
    due = note_check_due(ctx)
    if due is not None:
        ctx.effects.append(SetTimer(GroupEvent.NOTE_CHECK, due))


def check_notes(ctx: Context[Any]) -> None:
    """Remind the pedagogue of every session now due whose notes are missing, then arm
    the timer for the next session: the sweep sees one row per group, due or not."""
    children = set(children_of(ctx.case))
    notes = ctx.data.get("notes", {})
    missing: list[str] = []
    last = None
    for session in _unchecked(ctx):
        if _note_due(ctx, session) > ctx.now:
            break
        last = session
        named = label(session.recurrence_id)
        if not children <= set(notes.get(named, {})):
            missing.append(named)
    if last is not None:
        ctx.data["notes_checked_through"] = iso(last.start)
    if missing:
        ctx.data["reminded"] = [*ctx.data.get("reminded", []), *missing]
        ctx.details["sessions_without_notes"] = missing
        pedagogue = _current_pedagogue(ctx.case)
        ctx.effects.append(Notify("reminder", keys=(pedagogue,), topic="session_note"))
    arm_note_check(ctx)


# ---------------------------------------------------------------- the notes, for the staff


def read_notes(case: CaseSnapshot, actor: str) -> dict[str, str]:
    """The group's notes, by session, for the daycare's staff on the group only."""
    if not case.roles_of(actor) & STAFF_ON_GROUP:
        raise NotPermitted("form", actor, sorted(STAFF_ON_GROUP))
    notes = case.data.get("notes") or {}
    if not notes:
        raise GuardRejected("form", "no notes have been written for this group yet")
    return {
        session: "\n".join(
            f"{child} – {area}: {text}"
            for child, wheel in sorted(by_child.items())
            for area, text in wheel.items()
        )
        for session, by_child in sorted(notes.items())
    }


LEARNING_GROUP = Process(
    name="learning_group",
    title="Lille læringsgruppe",
    doc="Three or four children and one fixed pedagogue meet weekly for a period; after "
    "each session the pedagogue notes the follow-up in the development wheel.",
    states=tuple(GroupState),
    initial=GroupState.FORMING,
    finals=frozenset({GroupState.ENDED, GroupState.DISSOLVED}),
    roles=ROLES,
    settings=SETTINGS,
    case_file=LearningGroupCaseFile,
    meeting_kinds=MEETING_KINDS,
    open_checks=(one_pedagogue,),
    open_actions=(enrol_children,),
    escalation_role="leader",
    form_reader=read_notes,
    form_title="Noter fra gruppen",
    form_keys=frozenset({"notes"}),
    state_titles={
        GroupState.FORMING: "Gruppen dannes",
        GroupState.RUNNING: "Gruppen mødes",
        GroupState.ENDED: "Forløbet er afsluttet",
        GroupState.DISSOLVED: "Opløst før start",
    },
    events=(
        Event(
            GroupEvent.PLAN_SESSIONS,
            PEDAGOGUE | LEADER,
            PlanSeriesIn,
            "the weekly sessions, as one calendar series",
            "Planlæg samlingerne",
        ),
        Event(
            GroupEvent.MOVE_SESSION,
            PEDAGOGUE | LEADER,
            MoveOccurrenceIn,
            "move one session on its own",
            "Flyt en samling",
            input_checks=(occurrence_fits,),
        ),
        Event(
            GroupEvent.CANCEL_SESSION,
            PEDAGOGUE | LEADER,
            CancelOccurrenceIn,
            "cancel one session on its own",
            "Aflys en samling",
            input_checks=(occurrence_fits,),
        ),
        Event(
            GroupEvent.WRITE_NOTE,
            PEDAGOGUE,
            NoteIn,
            "the follow-up of one child after a session, in the development wheel",
            "Skriv opfølgning",
            input_checks=(note_fits,),
        ),
        Event(
            GroupEvent.ADD_CHILD,
            PEDAGOGUE | LEADER,
            ChildIn,
            "a child joins the group",
            "Tilføj et barn",
            input_checks=(child_can_join,),
        ),
        Event(
            GroupEvent.REMOVE_CHILD,
            PEDAGOGUE | LEADER,
            RemoveChildIn,
            "a child leaves the group",
            "Et barn stopper",
            input_checks=(child_can_leave,),
        ),
        Event(
            GroupEvent.CHANGE_PEDAGOGUE,
            LEADER,
            ChangePedagogueIn,
            "another pedagogue takes the group (recorded)",
            "Skift pædagog",
            input_checks=(new_pedagogue_fits,),
        ),
        Event(
            GroupEvent.END_GROUP,
            PEDAGOGUE | LEADER,
            ReasonIn,
            "the group's period ends (the remaining sessions are taken out)",
            "Afslut forløbet",
        ),
        Event(
            GroupEvent.DISSOLVE,
            PEDAGOGUE | LEADER,
            ReasonIn,
            "the group is given up before it meets",
            "Opløs gruppen",
        ),
        Event(
            GroupEvent.NOTE_CHECK,
            frozenset(),
            doc="a session's notes are due: remind the pedagogue of missing ones",
            title="Påmindelse om opfølgning",
        ),
    ),
    transitions=(
        t(
            GroupEvent.PLAN_SESSIONS,
            GroupState.FORMING,
            GroupState.RUNNING,
            guards=(sessions_in_future,),
            actions=(schedule_sessions,),
        ),
        t(
            GroupEvent.MOVE_SESSION,
            GroupState.RUNNING,
            None,
            guards=(occurrence_ahead,),
            actions=(move_session,),
        ),
        t(
            GroupEvent.CANCEL_SESSION,
            GroupState.RUNNING,
            None,
            guards=(occurrence_ahead,),
            actions=(cancel_session,),
        ),
        t(
            GroupEvent.WRITE_NOTE,
            GroupState.RUNNING,
            None,
            guards=(session_happened,),
            actions=(record_note,),
        ),
        t(
            GroupEvent.ADD_CHILD,
            (GroupState.FORMING, GroupState.RUNNING),
            None,
            actions=(add_child,),
        ),
        t(
            GroupEvent.REMOVE_CHILD,
            (GroupState.FORMING, GroupState.RUNNING),
            None,
            actions=(remove_child,),
        ),
        t(
            GroupEvent.CHANGE_PEDAGOGUE,
            (GroupState.FORMING, GroupState.RUNNING),
            None,
            actions=(change_pedagogue, arm_note_check),
        ),
        t(
            GroupEvent.END_GROUP,
            GroupState.RUNNING,
            GroupState.ENDED,
            actions=(end_group,),
        ),
        t(
            GroupEvent.DISSOLVE,
            GroupState.FORMING,
            GroupState.DISSOLVED,
            actions=(dissolve,),
        ),
        t(
            GroupEvent.NOTE_CHECK,
            GroupState.RUNNING,
            None,
            actions=(check_notes,),
        ),
    ),
    timers=(Timer(GroupState.RUNNING, GroupEvent.NOTE_CHECK, note_check_due),),
)
