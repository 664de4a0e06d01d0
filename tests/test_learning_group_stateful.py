"""Random event sequences on learning groups against the real store, two groups at once
competing for children. After every step: the generic invariants of tests/test_stateful.py
(history a chain, version counts changes, one pending timer per event) and the group's own:
3–4 children, each child in at most one live group and the memberships table saying so,
notes only for its children and for sessions that have happened, no session on a closed
day, and while it runs exactly one pending timer (the next note check), none when ended."""

from __future__ import annotations

import itertools
import tempfile
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)
from sqlalchemy import select

from machines import ForloebError, WorkingCalendar, get_process
from machines.learning_group import children_of
from machines.recurring import stored_occurrences as stored_sessions
from persistence import CaseStore, ensure_schema, make_engine
from persistence.models import MembershipRow

from .conftest import at
from .stateful_steps import fire_drawn, history_holds, run_on
from .test_learning_group_rules import GROUP, LEADER, NEW_PEDAGOGUE, PEDAGOGUE, STAFF

PROCESS = get_process("learning_group")
ACTORS = [PEDAGOGUE, LEADER, STAFF, NEW_PEDAGOGUE, "stranger@example.com"]
CHILDREN = [f"barn-{n}" for n in range(1, 9)]
AREAS = list(PROCESS.settings["wheel_areas"])
CALENDAR = WorkingCalendar()


def machine_for(url: str) -> type[RuleBasedStateMachine]:
    engine = make_engine(url)
    ensure_schema(engine)
    store = CaseStore(engine)
    run_ids = itertools.count()

    class Groups(RuleBasedStateMachine):
        cases = Bundle("cases")

        def __init__(self) -> None:
            super().__init__()
            self.now = at("2027-01-04 08:00")
            self.changes: dict[int, int] = {}
            # Children are unique per example: the database outlives one example.
            self.prefix = f"r{next(run_ids)}"

        def child(self, n: int) -> str:
            return f"{self.prefix}-{CHILDREN[n]}"

        @initialize(target=cases)
        def open_first(self) -> int:
            return self._open([0, 1, 2])

        @rule(target=cases, picks=st.lists(st.integers(0, 7), min_size=2, max_size=5))
        def open_another(self, picks: list[int]) -> int:
            try:
                return self._open(picks)
            except ForloebError:
                event("open refused")
                return next(iter(self.changes))

        def _open(self, picks: list[int]) -> int:
            children = [self.child(n) for n in picks]
            case_id = store.open_case("learning_group", {**GROUP, "children": children}, self.now)
            self.changes[case_id] = 1
            return case_id

        @rule(case_id=cases, data=st.data(), minutes=st.integers(0, 4 * 24 * 60))
        def fire(self, case_id: int, data: Any, minutes: int) -> None:
            self.now += timedelta(minutes=minutes)
            state = store.snapshot(case_id).state
            # Ending and dissolving only now and then: groups should run and get notes.
            forward = [
                e for e in PROCESS.allowed_events(state) if e not in ("end_group", "dissolve")
            ]
            if fire_drawn(
                store, PROCESS, case_id, data.draw, self.now, ACTORS, forward, self._payload
            ):
                self.changes[case_id] += 1

        def _payload(self, draw: Any, name: str, case: Any) -> dict[str, Any]:
            occurrences = stored_sessions(case)
            past = [o.recurrence_id.isoformat() for o in occurrences if o.start <= self.now]
            ahead = [o.recurrence_id.isoformat() for o in occurrences if o.start > self.now]
            # Mostly a real session (past for notes, ahead for changes); sometimes any time.
            wanted = past if name == "write_note" else ahead
            anytime = (self.now + timedelta(days=draw(st.integers(-20, 20)))).isoformat()
            real = bool(wanted) and draw(st.integers(0, 3)) > 0
            session = draw(st.sampled_from(wanted)) if real else anytime
            members = children_of(case)
            some_child = st.one_of(st.sampled_from(members), st.integers(0, 7).map(self.child))
            later = (self.now + timedelta(hours=draw(st.integers(-24, 24 * 30)))).isoformat()
            match name:
                case "plan_sessions":
                    plan: dict[str, Any] = {"first": later, "minutes": 45}
                    if draw(st.booleans()):
                        plan["weeks"] = draw(st.integers(1, 20))
                    else:
                        plan["until"] = (self.now.date() + timedelta(weeks=10)).isoformat()
                    plan["closure_days"] = [
                        (self.now.date() + timedelta(days=d)).isoformat()
                        for d in draw(st.lists(st.integers(0, 70), max_size=3))
                    ]
                    return plan
                case "move_session":
                    return {"session": session, "start": later}
                case "cancel_session":
                    return {"session": session, "reason": "a reason"}
                case "write_note":
                    child = draw(some_child)
                    areas = draw(
                        st.lists(st.sampled_from([*AREAS, *AREAS, "matematik"]), max_size=2)
                    )
                    return {"session": session, "child": child, "wheel": {a: "x" for a in areas}}
                case "add_child":
                    return {"child": self.child(draw(st.integers(0, 7)))}
                case "remove_child":
                    return {"child": draw(some_child), "reason": "a reason"}
                case "change_pedagogue":
                    return {
                        "name": "Nina Ny",
                        "email": draw(st.sampled_from([NEW_PEDAGOGUE, PEDAGOGUE])),
                        "reason": "a reason",
                    }
                case "end_group" | "dissolve":
                    return {"reason": "a reason"}
            return {}

        @rule(days=st.integers(0, 10))
        def sweep(self, days: int) -> None:
            self.now += timedelta(days=days)
            store.sweep(self.now)

        @invariant()
        def each_group_keeps_its_rules(self) -> None:
            live_members: dict[str, int] = {}
            for case_id, changes in self.changes.items():
                shown = store.show(case_id)
                case = store.snapshot(case_id)
                history = shown["history"]
                pending = history_holds(shown, changes)

                children = children_of(case)
                removed = {h["details"]["child"] for h in history if h["event"] == "remove_child"}
                assert 3 <= len(children) <= 4
                if case.state in PROCESS.finals:
                    assert pending == []
                    continue
                for child in children:
                    assert child not in live_members  # one live group per child
                    live_members[child] = case_id
                assert len(pending) <= 1 and all(t["event"] == "note_check" for t in pending)
                sessions = stored_sessions(case)
                for s in sessions:
                    assert CALENDAR.is_working_day(s.start.date()), s.start
                happened = {s.recurrence_id.isoformat() for s in sessions if s.start <= self.now}
                for session, by_child in case.data.get("notes", {}).items():
                    assert session in happened
                    assert set(by_child) <= set(children) | removed
                event(f"reached {case.state}")
            with engine.connect() as conn:
                rows = conn.execute(
                    select(MembershipRow.member, MembershipRow.case_id).where(
                        MembershipRow.case_id.in_(list(self.changes))
                    )
                ).all()
            assert dict(rows) == live_members

    return Groups


def test_random_sequences_on_sqlite() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run_on(machine_for(f"sqlite:///{tmp}/h.db"))


def test_random_sequences_on_postgresql(postgres_url: str) -> None:
    run_on(machine_for(postgres_url))


pytestmark = pytest.mark.xdist_group("stateful")
