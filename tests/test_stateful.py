"""Random event sequences against the real store; the invariants hold after every step:
history is a chain, the state is a defined state, at most one pending timer per event,
and the version rises by exactly one per change (so version == number of history rows)."""

from __future__ import annotations

import itertools
import os
import tempfile
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from machines import ForloebError
from machines.samraad import SAMRAAD
from persistence import CaseStore, TimerRow, ensure_schema, make_engine

from .conftest import COORDINATOR, LEADER, PPR, PRESENT, at, open_samraad

ACTORS = [LEADER, PPR, COORDINATOR, "jens@skole.example.dk", "stranger@example.com"]
USER_EVENTS = [e.name for e in SAMRAAD.events if not e.is_timer]


ROLES_OF = {
    LEADER: {"school_leader"},
    PPR: {"ppr_interviewer"},
    COORDINATOR: {"coordinator"},
    "jens@skole.example.dk": {"teacher"},
    "stranger@example.com": set(),
}


def _payload(draw: Any, event: str, now: Any, present: list[str]) -> dict[str, Any]:
    def start() -> str:
        return (now + timedelta(hours=draw(st.integers(-24, 24 * 14)))).isoformat()

    def some_notes() -> dict[str, str]:
        # Mostly everyone present heard; sometimes someone missing or someone extra.
        keys = draw(st.one_of(st.just(present), st.lists(st.sampled_from(PRESENT), unique=True)))
        return {k: "note" for k in keys}

    match event:
        case "schedule" | "reschedule":
            payload: dict[str, Any] = {"start": start()}
            if draw(st.booleans()):
                payload["reason"] = "late for a reason"
            return payload
        case "cancel" | "dismiss":
            return {"reason": "a reason"}
        case "start_meeting":
            return {} if draw(st.booleans()) else {"present": PRESENT[:4]}
        case "next_round":
            return {"notes": some_notes()}
        case "conclude":
            return {
                "notes": some_notes(),
                "decisions": draw(st.lists(st.just("a decision"), max_size=2)),
                "follow_up": {"start": start()},
            }
        case "send_action_plan":
            return {"items": [{"owner": "laerer", "action": "call", "due": "2027-06-01"}]}
        case "hold_follow_up":
            outcome = draw(st.sampled_from(["close", "continue", "reconvene"]))
            return {"outcome": outcome, "next_follow_up": {"start": start()}}
        case "add_participant":
            return {"role": "uu_counselor", "name": "UU", "email": None}
    return {}


def machine_for(url: str) -> type[RuleBasedStateMachine]:
    engine = make_engine(url)
    ensure_schema(engine)
    store = CaseStore(engine)

    class SamraadSequences(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.now = at("2026-12-21 08:00")
            self.case_id = open_samraad(store, self.now)
            self.changes = 1

        @rule(data=st.data(), minutes=st.integers(0, 2 * 24 * 60))
        def fire(self, data: Any, minutes: int) -> None:
            self.now += timedelta(minutes=minutes)
            before = store.snapshot(self.case_id)
            # Half the draws follow the process (allowed event, permitted actor), half
            # are anything at all, so both progress and refusals are exercised.
            forward = [
                e for e in SAMRAAD.allowed_events(before.state) if e not in ("dismiss", "cancel")
            ]
            allowed = forward or USER_EVENTS
            event = data.draw(st.one_of(st.sampled_from(allowed), st.sampled_from(USER_EVENTS)))
            spec = SAMRAAD.event(event)
            assert spec is not None
            permitted = [a for a, roles in ROLES_OF.items() if roles & spec.roles] or ACTORS
            actor = data.draw(st.one_of(st.sampled_from(permitted), st.sampled_from(ACTORS)))
            present = list(before.data.get("present", PRESENT))
            payload = _payload(data.draw, event, self.now, present)
            try:
                store.fire(self.case_id, event, actor, payload, self.now)
                self.changes += 1
            except ForloebError:
                assert store.snapshot(self.case_id) == before

        @rule(days=st.integers(0, 10))
        def sweep(self, days: int) -> None:
            self.now += timedelta(days=days)
            store.sweep(self.now)  # may fire other examples' timers too: counted per case below

        @invariant()
        def history_is_a_chain_and_versions_count_changes(self) -> None:
            shown = store.show(self.case_id)
            history = shown["history"]
            assert history[0]["source"] is None
            for earlier, later in itertools.pairwise(history):
                assert later["source"] == earlier["dest"]
            assert history[-1]["dest"] == shown["state"]
            assert shown["state"] in SAMRAAD.states
            event(f"reached {shown['state']}")
            fired = sum(1 for t in shown["timers"] if t["status"] == "fired")
            assert shown["version"] == len(history) == self.changes + fired

        @invariant()
        def at_most_one_pending_timer_per_event(self) -> None:
            with store.transaction() as session:
                counts = session.execute(
                    select(TimerRow.event, func.count())
                    .where(TimerRow.case_id == self.case_id, TimerRow.status == "pending")
                    .group_by(TimerRow.event)
                ).all()
            assert all(n == 1 for _, n in counts)
            if store.snapshot(self.case_id).state in SAMRAAD.finals:
                assert counts == []

    return SamraadSequences


SETTINGS = settings(
    max_examples=int(os.environ.get("FORLOEB_HYPOTHESIS_EXAMPLES", "20")),
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def test_random_sequences_on_sqlite() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run_state_machine_as_test(machine_for(f"sqlite:///{tmp}/h.db"), settings=SETTINGS)


def test_random_sequences_on_postgresql(postgres_url: str) -> None:
    run_state_machine_as_test(machine_for(postgres_url), settings=SETTINGS)


pytestmark = pytest.mark.xdist_group("stateful")
