"""Random event sequences against the real store; the invariants hold after every step:
history is a chain, the state is a defined state, at most one pending timer per event,
and the version rises by exactly one per change (so version == number of history rows)."""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
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

from machines import ForloebError, get_process
from persistence import CaseStore, TimerRow, ensure_schema, make_engine

from .conftest import COORDINATOR, LEADER, PPR, PRESENT, SAMRAAD_CASE, at
from .test_coaching_rules import COACHING_CASE
from .test_handover_rules import HANDOVER_CASE


def _samraad_payload(draw: Any, event: str, now: Any, data: Any) -> dict[str, Any]:
    present = list(data.get("present", PRESENT))

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


def _start(draw: Any, now: Any) -> str:
    return str((now + timedelta(hours=draw(st.integers(-24, 24 * 60)))).isoformat())


def _handover_payload(draw: Any, event: str, now: Any, data: Any) -> dict[str, Any]:
    sections = ["family", "development", "health", "adbb", "wishes"]
    match event:
        case "accept":
            chosen = draw(st.lists(st.sampled_from(sections), min_size=1, unique=True))
            return {"sections": chosen, "nurse_at_startup": draw(st.booleans())}
        case "schedule_home_visit" | "reschedule" | "schedule_startup":
            payload: dict[str, Any] = {"start": _start(draw, now)}
            if draw(st.booleans()):
                payload["reason"] = "a reason"
            return payload
        case "cancel":
            return {"reason": "a reason"}
        case "complete_form":
            consented = data.get("consent", {}).get("sections", ["health"])
            keys = draw(st.one_of(st.just(consented), st.lists(st.sampled_from(sections))))
            return {"sections": {k: "text" for k in keys}}
    return {}


def _coaching_payload(draw: Any, event: str, now: Any, data: Any) -> dict[str, Any]:
    match event:
        case "schedule_intro" | "reschedule" | "schedule_session" | "schedule_follow_up":
            return {"start": _start(draw, now)}
        case "complete_session":
            return {
                "homework": draw(st.sampled_from(["", "a task"])),
                "expectations": draw(st.sampled_from([None, "goals"])),
            }
        case "replan":
            return {"planned_sessions": draw(st.integers(1, 10))}
        case "finish":
            return {"outcome": "education"}
        case "drop_out":
            return {"reason": "a reason"}
    return {}


@dataclass(frozen=True)
class Scenario:
    process: str
    case_file: dict[str, Any]
    actors: dict[str, set[str]]  # e-mail -> roles on the case
    payload: Callable[[Any, str, Any, Any], dict[str, Any]]
    endings: tuple[str, ...]  # events that end a case early: drawn only by the random half


SCENARIOS = {
    "samraad": Scenario(
        "samraad",
        SAMRAAD_CASE,
        {
            LEADER: {"school_leader"},
            PPR: {"ppr_interviewer"},
            COORDINATOR: {"coordinator"},
            "jens@skole.example.dk": {"teacher"},
            "stranger@example.com": set(),
        },
        _samraad_payload,
        ("dismiss", "cancel"),
    ),
    "handover": Scenario(
        "handover",
        HANDOVER_CASE,
        {
            "sundhedsplejerske@kommune.example.dk": {"health_nurse"},
            "mor@example.dk": {"parent"},
            "leder@boernehuset.example.dk": {"daycare_leader"},
            "stranger@example.com": set(),
        },
        _handover_payload,
        ("decline", "withdraw"),
    ),
    "coaching": Scenario(
        "coaching",
        COACHING_CASE,
        {
            "coach@ungecenter.example.dk": {"coach"},
            "sagsbehandler@kommune.example.dk": {"caseworker"},
            "ung@example.dk": {"youth"},
            "stranger@example.com": set(),
        },
        _coaching_payload,
        ("decline", "drop_out", "close"),
    ),
}


def _own(address: str, run: int) -> str:
    """``address`` made this example's own: coach@x.dk -> coach.r7@x.dk."""
    local, domain = address.split("@", 1)
    return f"{local}.r{run}@{domain}"


def machine_for(url: str, scenario: Scenario) -> type[RuleBasedStateMachine]:
    engine = make_engine(url)
    ensure_schema(engine)
    store = CaseStore(engine)
    process = get_process(scenario.process)
    user_events = [e.name for e in process.events if not e.is_timer]
    run_ids = itertools.count()

    class Sequences(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.now = at("2026-12-21 08:00")
            # The database outlives one example: each example's people get addresses of
            # their own, or an earlier example's sessions would make its coach busy and a
            # replayed example take another path (Hypothesis: FlakyStrategyDefinition).
            run = next(run_ids)
            self.actors = {_own(a, run): roles for a, roles in scenario.actors.items()}
            case_file = {
                **scenario.case_file,
                "participants": [
                    {**p, "email": _own(p["email"], run) if p.get("email") else p.get("email")}
                    for p in scenario.case_file["participants"]
                ],
            }
            self.case_id = store.open_case(scenario.process, case_file, self.now)
            self.changes = 1

        @rule(data=st.data(), minutes=st.integers(0, 2 * 24 * 60))
        def fire(self, data: Any, minutes: int) -> None:
            self.now += timedelta(minutes=minutes)
            before = store.snapshot(self.case_id)
            # Half the draws follow the process (allowed event, permitted actor), half
            # are anything at all, so both progress and refusals are exercised.
            forward = [e for e in process.allowed_events(before.state) if e not in scenario.endings]
            allowed = forward or user_events
            event = data.draw(st.one_of(st.sampled_from(allowed), st.sampled_from(user_events)))
            spec = process.event(event)
            assert spec is not None
            permitted = [a for a, roles in self.actors.items() if roles & spec.roles]
            actors = list(self.actors)
            actor = data.draw(
                st.one_of(st.sampled_from(permitted or actors), st.sampled_from(actors))
            )
            payload = scenario.payload(data.draw, event, self.now, before.data)
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
            assert shown["state"] in process.states
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
            if store.snapshot(self.case_id).state in process.finals:
                assert counts == []

    return Sequences


SETTINGS = settings(
    max_examples=int(os.environ.get("FORLOEB_HYPOTHESIS_EXAMPLES", "20")),
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.mark.parametrize("process", sorted(SCENARIOS))
def test_random_sequences_on_sqlite(process: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        machine = machine_for(f"sqlite:///{tmp}/h.db", SCENARIOS[process])
        run_state_machine_as_test(machine, settings=SETTINGS)


@pytest.mark.parametrize("process", sorted(SCENARIOS))
def test_random_sequences_on_postgresql(postgres_url: str, process: str) -> None:
    run_state_machine_as_test(machine_for(postgres_url, SCENARIOS[process]), settings=SETTINGS)


pytestmark = pytest.mark.xdist_group("stateful")
