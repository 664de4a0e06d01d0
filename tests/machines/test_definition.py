"""Structural validation: every shipped process passes; each kind of broken table is caught."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, Field

from machines import (
    PROCESSES,
    Choices,
    DefinitionError,
    Event,
    Process,
    SettingChoices,
    Timer,
    Transition,
    check_definition,
    mermaid,
)

SAMRAAD = PROCESSES["samraad"]


def t(event: str, source: str, dest: str) -> Transition:
    return Transition(event, (source,), dest)


@pytest.mark.parametrize("name", sorted(PROCESSES))
def test_every_process_is_structurally_valid(name: str) -> None:
    check_definition(PROCESSES[name])


@pytest.mark.parametrize("name", sorted(PROCESSES))
def test_every_state_and_event_has_a_danish_title(name: str) -> None:
    process = PROCESSES[name]
    for state in process.states:
        assert process.state_title(state) != state.replace("_", " "), state
    for event in process.events:
        if not event.is_timer:
            assert process.event_title(event.name) != event.name.replace("_", " "), event.name
    for model in (process.case_file, *(e.input for e in process.events)):
        for field_name, info in model.model_fields.items():
            assert info.title, f"{model.__name__}.{field_name}"


class _UntitledIn(BaseModel):
    start: str


class _UnnamedChoiceIn(BaseModel):
    way: Literal["phone", "letter"] = Field(title="Vej")


class _AreasIn(BaseModel):
    # A setting's values (configuration): one name missing, and a setting that is not there.
    notes: dict[Annotated[str, SettingChoices("areas", {"sprog": "Sprog"})], str] = Field(
        title="Noter"
    )
    topics: list[Annotated[str, SettingChoices("topics", {})]] = Field(title="Emner")


class _PartlyNamedIn(BaseModel):
    ways: list[Annotated[Literal["phone", "letter"], Choices({"phone": "Telefon"})]] = Field(
        title="Veje"
    )
    nested: _UnnamedChoiceIn | None = Field(None, title="Indlejret")


def _with_event(event: Event) -> tuple[Event, ...]:
    return tuple(event if e.name == event.name else e for e in SAMRAAD.events)


def _broken(**changes: object) -> Process:
    return dataclasses.replace(SAMRAAD, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"initial": "nowhere"}, "initial state 'nowhere' is not a state"),
        (
            {"transitions": (*SAMRAAD.transitions, t("cancel", "closed", "cancelled"))},
            "final state 'closed' has an exit",
        ),
        (
            {"states": (*SAMRAAD.states, "limbo")},
            "state 'limbo' is unreachable",
        ),
        (
            {
                "states": (*SAMRAAD.states, "limbo"),
                "transitions": (*SAMRAAD.transitions, t("dismiss", "overdue", "limbo")),
            },
            "state 'limbo' is a trap",
        ),
        (
            {"timers": (*SAMRAAD.timers, Timer("convened", "no_such_event", lambda ctx: None))},
            "fires unknown event 'no_such_event'",
        ),
        (
            {"timers": (*SAMRAAD.timers, Timer("convened", "schedule", lambda ctx: None))},
            "may also be fired by people",
        ),
        (
            {"timers": tuple(x for x in SAMRAAD.timers if x.event != "deadline_passed")},
            "timer event 'deadline_passed' is never armed",
        ),
        (
            {"transitions": (*SAMRAAD.transitions, t("vanish", "concern", "closed"))},
            "unknown event 'vanish'",
        ),
        (
            {"state_titles": {**SAMRAAD.state_titles, "round_2": ""}},
            "state 'round_2' has no Danish title",
        ),
        (
            {"events": _with_event(Event("dismiss", frozenset({"school_leader"})))},
            "event 'dismiss' has no Danish title",
        ),
        (
            {"events": _with_event(Event("dismiss", frozenset({"school_leader"}), _UntitledIn))},
            "field _UntitledIn.start has no Danish title",
        ),
        (
            {
                "events": _with_event(
                    Event("dismiss", frozenset({"school_leader"}), _UnnamedChoiceIn)
                )
            },
            "choice _UnnamedChoiceIn.way='phone' has no Danish name; "
            "choice _UnnamedChoiceIn.way='letter' has no Danish name",
        ),
        (
            {"events": _with_event(Event("dismiss", frozenset({"school_leader"}), _PartlyNamedIn))},
            "choice _PartlyNamedIn.ways='letter' has no Danish name; "
            "choice _UnnamedChoiceIn.way='phone' has no Danish name",
        ),
        (
            {
                "events": _with_event(Event("dismiss", frozenset({"school_leader"}), _AreasIn)),
                "settings": {**SAMRAAD.settings, "areas": ("sprog", "leg")},
            },
            "setting 'areas' value 'leg' \\(_AreasIn.notes\\) has no Danish name; "
            "_AreasIn.topics offers unknown setting 'topics'",
        ),
        ({"overdue_states": frozenset({"closed"})}, "overdue state 'closed' is not a live state"),
        ({"escalation_role": "janitor"}, "escalation role 'janitor' is not a role"),
        ({"convener_roles": ("janitor",)}, "convener role 'janitor' is not a role"),
    ],
)
def test_broken_definitions_are_refused_when_loaded(
    change: dict[str, object], problem: str
) -> None:
    with pytest.raises(DefinitionError, match=problem):
        check_definition(_broken(**change))


def test_mermaid_marks_the_current_state_and_ends_in_finals() -> None:
    diagram = mermaid(SAMRAAD, current="round_2")
    assert diagram.startswith("stateDiagram-v2\n  [*] --> concern\n")
    assert "  class round_2 current" in diagram
    assert "  round_1 --> round_2: next_round" in diagram
    assert "  convened --> overdue: ⏱ deadline_passed" in diagram
    for final in SAMRAAD.finals:
        assert f"  {final} --> [*]" in diagram
    assert "class " not in mermaid(SAMRAAD)


def test_citizens_and_conveners_are_declared_per_process() -> None:
    from machines import get_process

    assert get_process("samraad").citizen_roles() == {"pupil", "parent"}
    assert get_process("handover").citizen_roles() == {"parent"}
    assert get_process("coaching").citizen_roles() == {"youth"}
    assert get_process("samraad").convener_roles == ("school_leader",)
    assert get_process("handover").convener_roles == ("health_nurse", "daycare_leader")
    assert get_process("coaching").convener_roles == ("coach",)
