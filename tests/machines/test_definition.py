"""Structural validation: every shipped process passes; each kind of broken table is caught."""

from __future__ import annotations

import dataclasses

import pytest

from machines import PROCESSES, DefinitionError, Process, Timer, check_definition, mermaid
from machines.definition import t
from machines.samraad import SAMRAAD


@pytest.mark.parametrize("name", sorted(PROCESSES))
def test_every_process_is_structurally_valid(name: str) -> None:
    check_definition(PROCESSES[name])


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
