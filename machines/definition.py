"""The declarative form of a process: states, events, transitions, timers, as data.

One ``Process`` per process (samråd, handover, coaching, ...). Guards and actions are plain
functions named in the table, so ``grep`` finds where a rule lives. ``check_definition``
validates the graph when the process is loaded, because ``transitions`` will not.

A process module names its states and events as ``StrEnum``s and writes its table with them,
so a typo is an import-time error; the definition stores them as plain ``str`` (what the
database, JSON and ``transitions`` see, whose Enum handling would use the member's name).
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, get_args

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from .case import CaseSnapshot
from .errors import DefinitionError
from .inputs import CaseFile, NoInput, choice_names, setting_choices, unnamed_choices

if TYPE_CHECKING:
    from .engine import Context

#: A guard returns None when the rule holds, or one line saying why it does not. It only
#: answers: changes to the case belong in actions.
Guard = Callable[["Context[Any]"], str | None]
#: A branch selector: which of several transitions of one event applies.
Branch = Callable[["Context[Any]"], bool]
#: An action updates the case data and appends effects to the context. It never refuses:
#: every reason to refuse is a guard's or an input check's.
Action = Callable[["Context[Any]"], None]
#: When a timer falls due, computed on entering its state; None means "not armed".
Due = Callable[["Context[Any]"], datetime | None]
#: A check of a new case file against the clock: None, or why it cannot be opened.
OpenCheck = Callable[[CaseFile, datetime], str | None]
#: A check of an event's input against the case (a key already taken): None, or why the
#: input does not fit. Refused as invalid input, before any guard runs.
InputCheck = Callable[[CaseSnapshot, Any], str | None]


def _plain(name: str) -> str:
    """A state or event name as a plain ``str``, also when the table gave a ``StrEnum``."""
    return str.__str__(name)


SYSTEM = "system"  # the actor of timer events, fired by the sweep


@dataclass(frozen=True)
class Role:
    title: str  # Danish, as on the invitation
    attends: str = "optional"  # "required", "optional" or "no" (never invited: coordinator)
    #: A citizen (pupil, parent, young person), not a professional: shown by role, never by
    #: name or address, in the professionals' calendars (which colleagues often share).
    citizen: bool = False


@dataclass(frozen=True)
class Event:
    name: str
    roles: frozenset[str]  # who may fire it; empty: a timer event, fired by the sweep only
    input: type[BaseModel] = NoInput
    doc: str = ""
    #: Danish, as a coordinator reads it on a button or in a timeline ("Indkald").
    title: str = ""
    input_checks: tuple[InputCheck, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", _plain(self.name))

    @property
    def is_timer(self) -> bool:
        return not self.roles


@dataclass(frozen=True)
class Transition:
    event: str
    source: tuple[str, ...]
    dest: str | None  # None: an internal transition; the state and its timers stay
    guards: tuple[Guard, ...] = ()
    branch: Branch | None = None
    actions: tuple[Action, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "event", _plain(self.event))
        object.__setattr__(self, "source", tuple(_plain(s) for s in self.source))
        object.__setattr__(self, "dest", None if self.dest is None else _plain(self.dest))


@dataclass(frozen=True)
class Timer:
    """A timer bound to a state: armed on entering it, cleared on leaving it."""

    state: str
    event: str
    due: Due

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", _plain(self.state))
        object.__setattr__(self, "event", _plain(self.event))


@dataclass(frozen=True)
class Capacity:
    """How many cases a year one person in ``role`` can carry (opening more warns)."""

    role: str
    per_year: int


@dataclass(frozen=True)
class MeetingKind:
    """How a kind of meeting is called in Danish, by the prefix of its key ("startup-2")."""

    title: str  # in a calendar entry and a subject: "Opstartssamtale" (no child, no situation)
    definite: str  # "the meeting" in a sentence: "opstartssamtalen"


@dataclass(frozen=True)
class ActionItemFact:
    owner: str  # a participant key
    action: str
    due: str | None  # ISO date


@dataclass(frozen=True)
class MessageFacts:
    """What a notification template may say about a case beyond its meetings and people.

    Each process reads its own case data into these; the templates never see the data.
    """

    decisions: tuple[str, ...] = ()
    action_items: tuple[ActionItemFact, ...] = ()
    follow_up_start: str | None = None  # ISO time of the next follow-up meeting
    deadline: str | None = None  # ISO time of the deadline the message is about
    #: Pseudonymous references the body lists (children without a reading); never a name,
    #: and never in a subject.
    references: tuple[str, ...] = ()


#: The facts one message needs: (case, template, topic) -> facts.
MessageFactsOf = Callable[[CaseSnapshot, str, str | None], MessageFacts]


def no_message_facts(case: CaseSnapshot, template: str, topic: str | None) -> MessageFacts:
    return MessageFacts()


#: Who may read a case's form, and what it says: sections by name (raises a refusal).
FormReader = Callable[[CaseSnapshot, str], dict[str, str]]


@dataclass(frozen=True)
class Process:
    name: str
    title: str  # Danish, as users know it
    states: tuple[str, ...]
    initial: str
    finals: frozenset[str]
    roles: Mapping[str, Role]
    events: tuple[Event, ...]
    transitions: tuple[Transition, ...]
    timers: tuple[Timer, ...] = ()
    case_file: type[CaseFile] = CaseFile
    settings: Mapping[str, Any] = field(default_factory=dict)
    doc: str = ""
    open_checks: tuple[OpenCheck, ...] = ()
    #: A role whose other meetings (in other cases) the rules need, e.g. a coach's.
    busy_role: str | None = None
    capacity: Capacity | None = None
    #: Danish names of the states, as users read them ("indkaldt").
    state_titles: Mapping[str, str] = field(default_factory=dict)
    #: The meetings this process schedules, by the prefix of their key ("home-visit").
    meeting_kinds: Mapping[str, MeetingKind] = field(default_factory=dict)
    #: The facts of a case its notification templates need (decisions, action plan, ...).
    message_facts: MessageFactsOf = no_message_facts
    #: States in which a case is overdue by being in them (not only by a late timer).
    overdue_states: frozenset[str] = frozenset()
    #: The role that hears of what went wrong on a case (e.g. undeliverable mail).
    escalation_role: str = "coordinator"
    #: The case's readable form, if the process keeps one (handover's transition form).
    form_reader: FormReader | None = None
    #: The form's Danish name, as its readers know it ("Overgangsskema").
    form_title: str = "Skema"
    #: Keys of the case's data (and of history details) that hold the form: shown only
    #: through ``form_reader``, never in the general view of the case.
    form_keys: frozenset[str] = frozenset()
    #: What opening a case does besides arming its initial timers (effects only, e.g.
    #: enrolling a learning group's children); run in the opening transaction.
    open_actions: tuple[Action, ...] = ()
    #: Who convenes the meetings: told at once when a required participant declines.
    convener_roles: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        plain = object.__setattr__
        plain(self, "states", tuple(_plain(s) for s in self.states))
        plain(self, "initial", _plain(self.initial))
        plain(self, "finals", frozenset(_plain(s) for s in self.finals))
        plain(self, "overdue_states", frozenset(_plain(s) for s in self.overdue_states))
        plain(self, "state_titles", {_plain(s): t for s, t in self.state_titles.items()})

    @cached_property
    def definition_version(self) -> str:
        """The version of this definition as stored cases depend on it: a hash of its
        states, finals, events and timers (12 hex digits). Rules, titles and inputs may
        change without a new version; a renamed state or event makes one."""
        shape = {
            "states": sorted(self.states),
            "finals": sorted(self.finals),
            "events": sorted((e.name, e.is_timer) for e in self.events),
            "timers": sorted((tm.state, tm.event) for tm in self.timers),
        }
        digest = hashlib.sha256(json.dumps(shape, sort_keys=True).encode("utf-8"))
        return digest.hexdigest()[:12]

    def meeting_kind(self, key: str) -> MeetingKind:
        """What the meeting with ``key`` ("startup-2") is called; the process title if unknown."""
        prefix = key.rstrip("0123456789").rstrip("-")
        return self.meeting_kinds.get(prefix) or MeetingKind(self.title, "mødet")

    @cached_property
    def choice_titles(self) -> Mapping[str, str]:
        """The Danish names of the choice values of its case file and inputs (a form's
        sections, an outcome), for showing a stored value."""
        names: dict[str, str] = {}
        for model in (self.case_file, *(e.input for e in self.events)):
            for _, info in _fields_deep(model, set()):
                names.update(choice_names(info.annotation, tuple(info.metadata)))
        return names

    def state_title(self, state: str) -> str:
        return self.state_titles.get(state) or state.replace("_", " ")

    def event_title(self, name: str) -> str:
        event = self.event(name)
        return (event.title if event is not None else "") or name.replace("_", " ")

    def invited_roles(self) -> frozenset[str]:
        return frozenset(r for r, spec in self.roles.items() if spec.attends != "no")

    def citizen_roles(self) -> frozenset[str]:
        return frozenset(r for r, spec in self.roles.items() if spec.citizen)

    def required_roles(self) -> tuple[str, ...]:
        return tuple(r for r, spec in self.roles.items() if spec.attends == "required")

    def event(self, name: str) -> Event | None:
        return next((e for e in self.events if e.name == name), None)

    def transitions_from(self, state: str) -> tuple[Transition, ...]:
        return tuple(t for t in self.transitions if state in t.source)

    def allowed_events(self, state: str, *, include_timers: bool = False) -> list[str]:
        names = {t.event for t in self.transitions_from(state)}
        return sorted(n for n in names if include_timers or not self._event_or_raise(n).is_timer)

    def _event_or_raise(self, name: str) -> Event:
        event = self.event(name)
        if event is None:
            raise DefinitionError(f"{self.name}: transition names unknown event {name!r}")
        return event


def t(
    event: str,
    source: str | tuple[str, ...],
    dest: str | None,
    *,
    guards: tuple[Guard, ...] = (),
    branch: Branch | None = None,
    actions: tuple[Action, ...] = (),
) -> Transition:
    """Shorthand for one row of a transition table."""
    sources = (source,) if isinstance(source, str) else tuple(source)
    return Transition(event, sources, dest, guards, branch, actions)


def check_definition(process: Process) -> None:
    """Raise DefinitionError listing every structural problem of a process."""
    problems: list[str] = []
    states = set(process.states)
    event_names = {e.name for e in process.events}

    if len(states) != len(process.states):
        problems.append("a state is listed twice")
    if process.initial not in states:
        problems.append(f"initial state {process.initial!r} is not a state")
    if not process.finals:
        problems.append("there is no final state")
    problems += [f"final state {s!r} is not a state" for s in sorted(process.finals - states)]
    problems += [
        f"overdue state {s!r} is not a live state"
        for s in sorted(process.overdue_states - (states - process.finals))
    ]
    if process.escalation_role not in process.roles:
        problems.append(f"escalation role {process.escalation_role!r} is not a role")
    problems += [
        f"convener role {r!r} is not a role"
        for r in process.convener_roles
        if r not in process.roles
    ]

    for tr in process.transitions:
        if tr.event not in event_names:
            problems.append(f"transition uses unknown event {tr.event!r}")
        for s in tr.source:
            if s not in states:
                problems.append(f"event {tr.event!r} leaves unknown state {s!r}")
            if s in process.finals:
                problems.append(f"final state {s!r} has an exit ({tr.event!r})")
        if tr.dest is not None and tr.dest not in states:
            problems.append(f"event {tr.event!r} enters unknown state {tr.dest!r}")

    used = {tr.event for tr in process.transitions}
    problems += [f"event {e!r} has no transition" for e in sorted(event_names - used)]
    for e in process.events:
        unknown = e.roles - set(process.roles)
        if unknown:
            problems.append(f"event {e.name!r} names unknown roles {sorted(unknown)}")

    problems += [
        f"state {s!r} has no Danish title"
        for s in process.states
        if not process.state_titles.get(s)
    ]
    problems += [
        f"a title names unknown state {s!r}" for s in sorted(set(process.state_titles) - states)
    ]
    problems += [
        f"event {e.name!r} has no Danish title"
        for e in process.events
        if not e.is_timer and not e.title
    ]
    seen: set[type[BaseModel]] = set()
    seen_choices: set[type[BaseModel]] = set()
    for model in (process.case_file, *(e.input for e in process.events)):
        problems += [f"field {f} has no Danish title" for f in _untitled_fields(model, seen)]
        problems += [
            f"choice {c} has no Danish name" for c in _unnamed_choices(model, seen_choices)
        ]
        problems += _unnamed_setting_values(model, process.settings)

    armed = set()
    for timer in process.timers:
        armed.add(timer.event)
        ev = process.event(timer.event)
        if ev is None:
            problems.append(f"timer in {timer.state!r} fires unknown event {timer.event!r}")
            continue
        if not ev.is_timer:
            problems.append(f"timer event {timer.event!r} may also be fired by people")
        if timer.state not in states or timer.state in process.finals:
            problems.append(f"timer {timer.event!r} is bound to {timer.state!r}, not a live state")
        elif not any(tr.event == timer.event for tr in process.transitions_from(timer.state)):
            problems.append(f"timer {timer.event!r} has no transition from {timer.state!r}")
    for e in process.events:
        if e.is_timer and e.name not in armed:
            problems.append(f"timer event {e.name!r} is never armed by a timer")

    if process.initial in states:
        edges = _edges(process)
        reachable = _closure({process.initial}, edges)
        problems += [f"state {s!r} is unreachable" for s in process.states if s not in reachable]
        reverse: dict[str, set[str]] = {}
        for src, dests in edges.items():
            for d in dests:
                reverse.setdefault(d, set()).add(src)
        can_finish = _closure(set(process.finals), reverse)
        problems += [
            f"state {s!r} is a trap: no final state can be reached from it"
            for s in process.states
            if s not in can_finish
        ]

    if problems:
        raise DefinitionError(f"process {process.name!r}: " + "; ".join(problems))


def _untitled_fields(model: type[BaseModel], seen: set[type[BaseModel]]) -> list[str]:
    """Fields (also of nested models) without a ``title``: the desk renders forms from them."""
    return [where for where, info in _fields_deep(model, seen) if not info.title]


def _unnamed_choices(model: type[BaseModel], seen: set[type[BaseModel]]) -> list[str]:
    """Choice values (also of nested models) without a Danish name: the desk offers them."""
    return [
        f"{where}={value!r}"
        for where, info in _fields_deep(model, seen)
        for value in unnamed_choices(info.annotation, tuple(info.metadata))
    ]


def _unnamed_setting_values(model: type[BaseModel], settings: Mapping[str, Any]) -> list[str]:
    """A field offering a setting's values: the setting exists, and each value has a name."""
    problems = []
    for where, info in _fields_deep(model, set()):
        for choices in setting_choices(info.annotation, info.metadata):
            if choices.setting not in settings:
                problems.append(f"{where} offers unknown setting {choices.setting!r}")
                continue
            problems += [
                f"setting {choices.setting!r} value {value!r} ({where}) has no Danish name"
                for value in settings[choices.setting]
                if not choices.names.get(str(value))
            ]
    return problems


def _fields_deep(
    model: type[BaseModel], seen: set[type[BaseModel]]
) -> Iterator[tuple[str, FieldInfo]]:
    """("Model.field", its info) of a model and of the models nested in it, each once."""
    if model in seen:
        return
    seen.add(model)
    for name, info in model.model_fields.items():
        yield f"{model.__name__}.{name}", info
        for nested in _models_in(info.annotation):
            yield from _fields_deep(nested, seen)


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in get_args(annotation):
        yield from _models_in(arg)


def _edges(process: Process) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for tr in process.transitions:
        for s in tr.source:
            edges.setdefault(s, set()).add(tr.dest or s)
    return edges


def _closure(start: set[str], edges: Mapping[str, set[str]]) -> set[str]:
    seen, queue = set(start), deque(start)
    while queue:
        for nxt in edges.get(queue.popleft(), ()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def mermaid(process: Process, current: str | None = None) -> str:
    """A mermaid ``stateDiagram-v2`` of the process; ``current`` is drawn highlighted.

    Timer events are marked with ⏱. Several events between the same two states share
    one arrow, so the diagram stays readable.
    """
    labels: dict[tuple[str, str], list[str]] = {}
    for tr in process.transitions:
        ev = process.event(tr.event)
        label = f"⏱ {tr.event}" if ev is not None and ev.is_timer else tr.event
        for s in tr.source:
            arrow = labels.setdefault((s, tr.dest or s), [])
            if label not in arrow:
                arrow.append(label)
    lines = ["stateDiagram-v2", f"  [*] --> {process.initial}"]
    lines += [f"  {s} --> {d}: {', '.join(ls)}" for (s, d), ls in labels.items()]
    lines += [f"  {s} --> [*]" for s in process.states if s in process.finals]
    if current is not None:
        lines.append("  classDef current fill:#ffd966,stroke:#b45f06,stroke-width:3px")
        lines.append(f"  class {current} current")
    return "\n".join(lines) + "\n"
