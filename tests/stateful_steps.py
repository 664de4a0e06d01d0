"""What the processes' Hypothesis state machines share: one drawn event fired as a person
would, and the invariants every case keeps whatever its process."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, run_state_machine_as_test

from machines import CaseSnapshot, ForloebError, Process
from persistence import CaseStore

#: Draws the input of an event: (draw, event name, the case before) -> the input.
Payload = Callable[[Any, str, CaseSnapshot], dict[str, Any]]


def fire_drawn(
    store: CaseStore,
    process: Process,
    case_id: int,
    draw: Any,
    now: datetime,
    actors: Sequence[str],
    forward: Sequence[str],
    payload: Payload,
) -> bool:
    """Fire one drawn event; True if it was stored.

    Mostly one of ``forward`` (so cases move on), sometimes any event a person may fire
    (so refusals are exercised); half the time an actor who may fire it, else anyone. A
    refusal must leave the case exactly as it was.
    """
    anyone = [e.name for e in process.events if not e.is_timer]
    anything = draw(st.integers(0, 4)) == 0
    name = draw(st.sampled_from(anyone if anything or not forward else list(forward)))
    spec = process.event(name)
    assert spec is not None
    before = store.snapshot(case_id)
    permitted = [a for a in actors if before.roles_of(a) & spec.roles]
    actor = draw(st.one_of(st.sampled_from(permitted or list(actors)), st.sampled_from(actors)))
    given = payload(draw, name, before)
    try:
        store.fire(case_id, name, actor, given, now)
    except ForloebError as exc:
        event(f"refused {name}: {type(exc).__name__}")
        assert store.snapshot(case_id) == before
        return False
    event(f"fired {name}")
    return True


def history_holds(shown: dict[str, Any], changes: int) -> list[dict[str, Any]]:
    """The history is a chain of states, and the version counts every change (ours and
    the fired timers'); returns the pending timers."""
    history = shown["history"]
    for earlier, later in itertools.pairwise(history):
        assert later["source"] == earlier["dest"]
    fired = sum(1 for t in shown["timers"] if t["status"] == "fired")
    assert shown["version"] == len(history) == changes + fired
    return [t for t in shown["timers"] if t["status"] == "pending"]


#: FORLOEB_HYPOTHESIS_EXAMPLES raises the examples for a longer hunt.
SETTINGS = settings(
    max_examples=int(os.environ.get("FORLOEB_HYPOTHESIS_EXAMPLES", "15")),
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def run_on(machine: type[RuleBasedStateMachine]) -> None:
    run_state_machine_as_test(machine, settings=SETTINGS)
