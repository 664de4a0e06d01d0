"""Compile a process table into one shared ``transitions`` machine and fire events on it.

``Engine.fire`` is pure: snapshot in, ``Decision`` out. The order of checks is the order
in which a coordinator would want to hear the answer: does the event exist, is it
allowed in this state, may this person fire it, is the input well-formed, do the rules
(guards) hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar, cast

from pydantic import BaseModel, ValidationError
from transitions import EventData, Machine, MachineError

from .case import CaseSnapshot
from .definition import SYSTEM, Branch, Guard, Process, Transition, check_definition
from .effects import ClearTimer, Effect, SetTimer
from .errors import GuardRejected, InvalidInput, NotPermitted, TransitionNotAllowed
from .inputs import error_location
from .workdays import WorkingCalendar

InputT = TypeVar("InputT")


@dataclass
class Context(Generic[InputT]):
    """Everything a guard or action may look at, and the things an action may change.

    ``Context[ScheduleIn]`` is what a rule of an event whose input is ``ScheduleIn`` sees.
    """

    case: CaseSnapshot
    event: str
    input: InputT  # the event's validated pydantic model
    actor: str
    actor_roles: frozenset[str]
    now: datetime
    calendar: WorkingCalendar
    settings: Mapping[str, Any]
    data: dict[str, Any]  # the case data after the event; actions update it
    effects: list[Effect] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)  # recorded in the history row


@dataclass(frozen=True)
class Decision:
    case_id: int
    event: str
    source: str
    dest: str
    actor: str
    at: datetime
    effects: tuple[Effect, ...]
    data: Mapping[str, Any]
    details: Mapping[str, Any]


class _Run:
    """The model one ``fire`` runs on the shared machine.

    It is never added to the machine (``add_model`` binds a method per trigger, which
    cost more than the rules): ``Event.trigger`` only reads and sets ``state``, and every
    callback in our tables is a callable, never a name looked up on the model.
    """

    def __init__(self, ctx: Context[Any], state: str) -> None:
        self.state = state
        self.ctx = ctx
        self.refusal: str | None = None
        self.fired: Transition | None = None


def _guard_condition(guard: Guard) -> Any:
    def condition(event: EventData) -> bool:
        run = cast(_Run, event.model)
        reason = guard(run.ctx)
        if reason is not None:
            run.refusal = reason
            return False
        return True

    condition.__name__ = guard.__name__
    return condition


def _branch_condition(branch: Branch) -> Any:
    def condition(event: EventData) -> bool:
        return branch(cast(_Run, event.model).ctx)

    return condition


def _after(tr: Transition) -> Any:
    def after(event: EventData) -> None:
        run = cast(_Run, event.model)
        run.fired = tr
        for action in tr.actions:
            action(run.ctx)

    return after


def _input_error(event: str, model: type[BaseModel], exc: ValidationError) -> InvalidInput:
    first = exc.errors()[0]
    where = error_location(first["loc"], model) or "input"
    message = str(first["msg"]).removeprefix("Value error, ")
    return InvalidInput(f"input for '{event}': {where}: {message}")


class Engine:
    """One per process; shared by every case of that process."""

    def __init__(self, process: Process, calendar: WorkingCalendar | None = None) -> None:
        check_definition(process)
        self.process = process
        self.calendar = calendar or WorkingCalendar()
        self._machine = Machine(
            model=None,
            states=list(process.states),
            initial=process.initial,
            auto_transitions=False,
            send_event=True,
            ignore_invalid_triggers=False,
        )
        for tr in process.transitions:
            conditions = ([_branch_condition(tr.branch)] if tr.branch else []) + [
                _guard_condition(g) for g in tr.guards
            ]
            self._machine.add_transition(
                trigger=tr.event,
                source=list(tr.source),
                dest=tr.dest,
                conditions=conditions,
                after=[_after(tr)],
            )

    def validate_input(self, event: str, raw: Mapping[str, Any] | BaseModel) -> BaseModel:
        spec = self.process.event(event)
        if spec is None:
            raise InvalidInput(
                f"'{event}' is not an event of {self.process.name}; "
                f"its events are: {', '.join(e.name for e in self.process.events)}"
            )
        if isinstance(raw, spec.input):
            return raw
        try:
            return spec.input.model_validate(raw if isinstance(raw, Mapping) else raw.model_dump())
        except ValidationError as exc:
            raise _input_error(event, spec.input, exc) from None

    def fire(
        self,
        case: CaseSnapshot,
        event: str,
        actor: str,
        raw_input: Mapping[str, Any] | BaseModel,
        now: datetime,
    ) -> Decision:
        if now.tzinfo is None:
            raise InvalidInput("the time 'now' has no UTC offset; give e.g. 2026-12-21T09:00+01:00")
        spec = self.process.event(event)
        if spec is None:
            self.validate_input(event, raw_input)  # raises the "not an event" message
            raise AssertionError("unreachable")
        if not any(case.state in tr.source for tr in self.process.transitions if tr.event == event):
            raise TransitionNotAllowed(event, case.state, self.process.allowed_events(case.state))

        roles = frozenset() if actor == SYSTEM else case.roles_of(actor)
        if spec.is_timer:
            if actor != SYSTEM:
                raise NotPermitted(event, actor, ["the sweep (it is a timer event)"])
        elif not roles & spec.roles:
            raise NotPermitted(event, actor, spec.roles)

        validated = self.validate_input(event, raw_input)
        for check in spec.input_checks:
            reason = check(case, validated)
            if reason is not None:
                raise InvalidInput(reason)
        ctx = Context[BaseModel](
            case=case,
            event=event,
            input=validated,
            actor=actor,
            actor_roles=roles,
            now=now,
            calendar=self.calendar,
            settings=self.process.settings,
            data=_deep_copy(case.data),
        )
        run = _Run(ctx, case.state)
        try:
            moved = self._machine.events[event].trigger(run)
        except MachineError:  # belt and braces: the table check above should catch it
            raise TransitionNotAllowed(
                event, case.state, self.process.allowed_events(case.state)
            ) from None
        if not moved or run.fired is None:
            raise GuardRejected(event, run.refusal or "no rule of this process applies")

        dest = run.fired.dest or case.state
        if run.fired.dest is not None:
            ctx.effects.extend(self._timer_effects(ctx, case.state, dest))
        return Decision(
            case_id=case.id,
            event=event,
            source=case.state,
            dest=dest,
            actor=actor,
            at=now,
            effects=tuple(ctx.effects),
            data=ctx.data,
            details=ctx.details,
        )

    def initial_effects(self, case: CaseSnapshot, now: datetime) -> tuple[Effect, ...]:
        """A new case enters the initial state without an event: arm its timers."""
        ctx = Context[None](
            case=case,
            event="open",
            input=None,
            actor=SYSTEM,
            actor_roles=frozenset(),
            now=now,
            calendar=self.calendar,
            settings=self.process.settings,
            data=_deep_copy(case.data),
        )
        for action in self.process.open_actions:
            action(ctx)
        return (
            *ctx.effects,
            *(
                SetTimer(tm.event, due)
                for tm in self.process.timers
                if tm.state == self.process.initial and (due := tm.due(ctx)) is not None
            ),
        )

    def _timer_effects(self, ctx: Context[Any], source: str, dest: str) -> list[Effect]:
        """Leaving a state clears its timers; entering one arms its timers afresh."""
        effects: list[Effect] = [
            ClearTimer(tm.event) for tm in self.process.timers if tm.state == source
        ]
        for tm in self.process.timers:
            if tm.state == dest:
                due = tm.due(ctx)
                if due is not None:
                    effects.append(SetTimer(tm.event, due))
        return effects


def _deep_copy(value: Any) -> Any:
    # Case data is JSON: dicts, lists and scalars. A hand-rolled copy is 10x faster than deepcopy.
    if isinstance(value, Mapping):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value
