"""Coordinator actions: the typed parameters a flow run gets, and the work it does.

Prefect sees ids, not people (DESIGN principle 6). A flow's parameters are a case id, an
event name, a time and the id of input staged in our database (``persistence.staging``);
who acts and what they wrote travel through that row, never through Prefect. What the
functions here return (``ActionOutcome``, ``OpenOutcome``) holds ids, state names, counts
and times only: it is what the flow puts in its artifact, event and tags.

No Prefect in this module: the same bodies run under a flow or on their own (the bench's
baseline).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, WithJsonSchema

from machines import COPENHAGEN, PROCESSES, InvalidInput, Notify, get_process
from persistence import CaseStore, StoredDecision, staging

from . import capacity
from .clock import happened_at

#: The events a person fires (timer events belong to the sweep), for the UI's drop-down.
COORDINATOR_EVENTS = sorted(
    {event.name for p in PROCESSES.values() for event in p.events if not event.is_timer}
)


#: A time as text: a bad one gets our one-line message rather than Prefect's parameter
#: error; the schema still gives the UI a date-time picker.
Moment = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]


class CaseAction(BaseModel):
    """One action on one case (the parameters of the ``case-event`` flow)."""

    model_config = ConfigDict(extra="forbid")

    case_id: int = Field(gt=0, description="The case's id (forloeb case list).")
    event: str = Field(
        description="What happens (the events a case allows now: forloeb case show).",
        json_schema_extra={"enum": list[JsonValue](COORDINATOR_EVENTS)},
    )
    at: Moment | None = Field(
        default=None, description="When it happened, with its UTC offset; empty means now."
    )
    input_id: int | None = Field(
        default=None,
        gt=0,
        description="Staged input (forloeb case stage prints its id); it says who acts.",
    )
    participant_id: int | None = Field(
        default=None,
        gt=0,
        description="Who acts, for an event without input: their participant id on the case "
        "(forloeb case show --json).",
    )


class OpenCase(BaseModel):
    """Open a case from a staged case file (the parameters of the ``open-case`` flow)."""

    model_config = ConfigDict(extra="forbid")

    process: str = Field(
        description="Which process.", json_schema_extra={"enum": list[JsonValue](sorted(PROCESSES))}
    )
    input_id: int = Field(gt=0, description="The staged case file (forloeb case stage).")
    at: Moment | None = Field(
        default=None, description="When it was opened, with its UTC offset; empty means now."
    )


@dataclass(frozen=True)
class ActionOutcome:
    """What one action did. Ids, names of states and events, counts, times: Prefect-safe."""

    case_id: int
    process: str
    event: str
    source: str
    dest: str
    version: int
    pending_messages: int
    next_timer: dict[str, Any] | None  # {"event", "due"} of the earliest pending timer
    escalations: list[str] = field(default_factory=list)  # topics

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class OpenOutcome:
    case_id: int
    process: str
    state: str
    capacity_warnings: list[dict[str, Any]]  # role, participant key and counts: no names

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def when(at: str | None, now: datetime) -> datetime:
    """An as-of time (a sweep's, a delivery's; e.g. typed into the Prefect UI): ``at``, at
    most an hour ahead, or now. A sweep as of a later time would fire deadlines early and
    let retention purge cases before their time; a past one only catches up."""
    return happened_at(at, now)


def apply_action(store: CaseStore, action: CaseAction, now: datetime) -> ActionOutcome:
    """Fire one coordinator event: one decision, one transaction, and what it did.

    A staged input is used up by the event, or discarded when the event is refused.
    """
    try:
        at = happened_at(action.at, now)
    except InvalidInput:
        if action.input_id is not None:
            staging.discard(store.engine, action.input_id)  # nothing of a refusal remains
        raise
    if action.input_id is not None:
        stored = store.fire_staged(action.case_id, action.event, action.input_id, at)
    elif action.participant_id is not None:
        actor = store.participant_email(action.case_id, action.participant_id)
        stored = store.fire(action.case_id, action.event, actor, {}, at)
    else:
        raise InvalidInput("say who acts: give input_id (staged input) or participant_id")
    return outcome(stored)


def outcome(stored: StoredDecision) -> ActionOutcome:
    return ActionOutcome(
        case_id=stored.case_id,
        process=stored.process,
        event=stored.event,
        source=stored.source,
        dest=stored.dest,
        version=stored.version,
        pending_messages=stored.messages_waiting,
        next_timer=(
            {
                "event": stored.next_timer[0],
                "due": stored.next_timer[1].astimezone(COPENHAGEN).isoformat(),
            }
            if stored.next_timer
            else None
        ),
        escalations=[
            effect.topic or stored.event
            for effect in stored.effects
            if isinstance(effect, Notify) and effect.template == "escalation"
        ],
    )


def open_case(store: CaseStore, request: OpenCase, now: datetime) -> OpenOutcome:
    """Open a case from its staged case file; the staged row goes with the opening."""
    try:
        at = happened_at(request.at, now)
        get_process(request.process)
        staged = staging.load(store.engine, request.input_id, staging.OPEN, request.process, None)
        return open_with(
            store,
            request.process,
            staged.payload,
            at,
            actor=staged.actor,
            staged=request.input_id,
            context=staged.context,  # who really typed it
        )
    except BaseException:
        staging.discard(store.engine, request.input_id)
        raise


def open_with(
    store: CaseStore,
    process: str,
    case_file: Mapping[str, Any],
    at: datetime,
    *,
    actor: str,
    staged: int | None = None,
    context: Mapping[str, Any] | None = None,
) -> OpenOutcome:
    """Open a case from its case file in one transaction; capacity warnings (roles, keys
    and counts) go into its first history row. ``staged``: the staged row it came from."""
    warnings = capacity.warnings_for(store, process, case_file, at)
    case_id = store.open_case(
        process,
        case_file,
        at,
        actor=actor,
        details={"capacity_warnings": warnings} if warnings else None,
        staged=staged,
        context=context,
    )
    return OpenOutcome(case_id, process, get_process(process).initial, warnings)


_EMAIL = re.compile(r"[^\s<>()\"',;:]+@[^\s<>()\"',;:]+")


def id_only(message: str) -> str:
    """Belt and braces for text bound for Prefect: no e-mail address gets through."""
    return _EMAIL.sub("<address>", message)
