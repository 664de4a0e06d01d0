"""Random event sequences on the three kinds of consultation case (a daycare's monthly
meetings, a dialogue meeting about one child, a parent's booking) against the real store.

After every step: the generic invariants (history a chain, version counts changes, no
refusal changes anything) and the process's own rules:
- a monthly meeting's record holds counts within bounds and topics from the fixed list,
  nothing else, and only for a meeting of its series that has begun;
- a dialogue meeting is scheduled only after the parents' consent, and withdrawing the
  consent leaves no meeting scheduled;
- a booking's meeting is one of the proposed slots, within the deadline in working days;
- a case that has ended has no pending timer, a live booking at most its deadline timer.
"""

from __future__ import annotations

import itertools
import tempfile
from datetime import datetime, time, timedelta
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

from machines import COPENHAGEN, ForloebError, WorkingCalendar, get_process
from machines.consultation import TOPICS, booking_deadline, kind_of
from machines.recurring import stored_occurrences
from persistence import CaseStore, ensure_schema, make_engine

from .conftest import at
from .stateful_steps import fire_drawn, history_holds, run_on
from .test_consultation_rules import (
    BOOKING,
    DIALOGUE,
    LEADER,
    MONTHLY,
    PARENT,
    PPR,
    STAFF,
    WORKER,
)

PROCESS = get_process("consultation")
SUBSTITUTE = "sam@familie.example.dk"
ACTORS = [WORKER, LEADER, STAFF, PARENT, PPR, SUBSTITUTE, "stranger@example.com"]
SCOPES = ["deltagelse", "ppr", "deling_af_oplysninger"]
CALENDAR = WorkingCalendar()
DEADLINE_DAYS = PROCESS.settings["booking_deadline_working_days"]
RECORD_KEYS = {"children", "families", "topics"}
#: The events each kind of case lives by (close aside: drawn only now and then).
KIND_EVENTS = {
    "monthly": {
        "plan_monthly",
        "move_meeting",
        "cover_meeting",
        "cancel_meeting",
        "record_meeting",
        "add_meeting",
        "record_notification",
    },
    "dialogue": {
        "give_consent",
        "schedule_dialogue",
        "withdraw_consent",
        "hold_meeting",
        "record_notification",
    },
    "booking": {"propose_slots", "report_no_slot", "pick_slot", "hold_meeting"},
}


def machine_for(url: str) -> type[RuleBasedStateMachine]:
    engine = make_engine(url)
    ensure_schema(engine)
    store = CaseStore(engine)
    run_ids = itertools.count()

    class Consultations(RuleBasedStateMachine):
        cases = Bundle("cases")

        def __init__(self) -> None:
            super().__init__()
            # Monday 1 March 2027, when the booking's parent asked (its requested_at).
            self.now = at("2027-03-01 09:00")
            self.changes: dict[int, int] = {}
            self.run = next(run_ids)

        @initialize(target=cases)
        def open_monthly(self) -> int:
            return self._open({**MONTHLY, "daycare": f"dt-{self.run}"})

        @rule(target=cases, kind=st.sampled_from(["dialogue", "booking"]))
        def open_another(self, kind: str) -> int:
            try:
                # A parent asks now: the booking's deadline runs from this moment.
                booking = {**BOOKING, "requested_at": self.now.isoformat()}
                return self._open(DIALOGUE if kind == "dialogue" else booking)
            except ForloebError:
                event(f"open {kind} refused")
                return next(iter(self.changes))

        def _open(self, case_file: dict[str, Any]) -> int:
            case_id = store.open_case("consultation", case_file, self.now)
            self.changes[case_id] = 1
            return case_id

        @rule(case_id=cases, data=st.data(), minutes=st.integers(0, 2 * 24 * 60))
        def fire(self, case_id: int, data: Any, minutes: int) -> None:
            self.now += timedelta(minutes=minutes)
            case = store.snapshot(case_id)
            # What this kind of case lives by (closing only now and then).
            mine = KIND_EVENTS[kind_of(case)]
            forward = [e for e in PROCESS.allowed_events(case.state) if e in mine]
            if fire_drawn(
                store, PROCESS, case_id, data.draw, self.now, ACTORS, forward, self._payload
            ):
                self.changes[case_id] += 1

        def _payload(self, draw: Any, name: str, case: Any) -> dict[str, Any]:
            occurrences = stored_occurrences(case)
            past = [o.recurrence_id.isoformat() for o in occurrences if o.start <= self.now]
            ahead = [o.recurrence_id.isoformat() for o in occurrences if o.start > self.now]
            wanted = past if name == "record_meeting" else ahead
            anytime = (self.now + timedelta(days=draw(st.integers(-20, 40)))).isoformat()
            session = draw(st.sampled_from(wanted)) if wanted and draw(st.booleans()) else anytime
            day = self.now.astimezone(COPENHAGEN).date()
            later_day = CALENDAR.add_working_days(day, draw(st.integers(1, 3)))
            hour, minute = draw(st.integers(9, 14)), draw(st.sampled_from([0, 30]))
            later = datetime.combine(later_day, time(hour, minute), COPENHAGEN).isoformat()
            match name:
                case "plan_monthly":
                    first = CALENDAR.add_working_days(day, draw(st.integers(1, 30)))
                    return {
                        "first": datetime.combine(first, time(9), COPENHAGEN).isoformat(),
                        "until": (first + timedelta(days=draw(st.integers(-5, 150)))).isoformat(),
                        "closure_days": [
                            (first + timedelta(days=d)).isoformat()
                            for d in draw(st.lists(st.integers(0, 120), max_size=3))
                        ],
                    }
                case "move_meeting" | "add_meeting" | "schedule_dialogue":
                    return (
                        {"session": session, "start": later}
                        if name == "move_meeting"
                        else {"start": later}
                    )
                case "cover_meeting":
                    return {
                        "session": session,
                        "start": draw(st.sampled_from([session, later])),
                        "worker": {"name": "Sam Substitut", "email": SUBSTITUTE},
                    }
                case "cancel_meeting":
                    return {"session": session, "reason": "Personalemøde"}
                case "record_meeting":
                    return {
                        "session": session,
                        "children": draw(st.integers(-1, 52)),
                        "families": draw(st.integers(0, 3)),
                        "topics": draw(st.lists(st.sampled_from([*TOPICS, "Emil"]), max_size=3)),
                    }
                case "give_consent":
                    return {"scope": draw(st.lists(st.sampled_from(SCOPES), max_size=3))}
                case "propose_slots":
                    return {"slots": [later, *([anytime] if draw(st.booleans()) else [])]}
                case "pick_slot":
                    proposed = list(case.data.get("proposed", []))
                    return {"start": draw(st.sampled_from(proposed)) if proposed else later}
                case "record_notification":
                    hours = draw(st.integers(-2, 48))
                    return {"sent_at": (self.now - timedelta(hours=hours)).isoformat()}
                case "close":
                    return {"reason": "Forløbet er slut"}
            return {}

        @rule(days=st.integers(0, 5))
        def sweep(self, days: int) -> None:
            self.now += timedelta(days=days)
            store.sweep(self.now)

        @invariant()
        def each_case_keeps_its_rules(self) -> None:
            for case_id, changes in self.changes.items():
                shown = store.show(case_id)
                case = store.snapshot(case_id)
                pending = history_holds(shown, changes)
                kind = kind_of(case)
                if case.state in PROCESS.finals:
                    assert pending == []
                scheduled = [m for m in shown["meetings"] if m["status"] == "scheduled"]
                if kind == "monthly":
                    self._records_are_anonymous(case)
                elif kind == "dialogue":
                    if "consent" not in case.data or case.state == "withdrawn":
                        assert scheduled == [], case.state
                else:
                    assert {t["event"] for t in pending} <= {"booking_overdue"}
                    assert len(pending) <= 1
                    if case.state in ("booked", "closed") and shown["meetings"]:
                        self._booked_in_time(case, shown["meetings"][0]["start"])
                event(f"reached {kind} {case.state}")

        def _records_are_anonymous(self, case: Any) -> None:
            begun = {o.recurrence_id.isoformat() for o in stored_occurrences(case)
                     if o.start <= self.now}  # fmt: skip
            for session, record in case.data.get("records", {}).items():
                assert session in begun
                assert set(record) == RECORD_KEYS
                assert 0 <= record["children"] <= 50 and 0 <= record["families"] <= 50
                assert set(record["topics"]) <= set(TOPICS)

        def _booked_in_time(self, case: Any, start: str) -> None:
            begins = datetime.fromisoformat(start)
            assert begins <= booking_deadline(case, CALENDAR, DEADLINE_DAYS)
            assert begins.astimezone(COPENHAGEN).isoformat() in case.data["proposed"]

    return Consultations


def test_random_sequences_on_sqlite() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run_on(machine_for(f"sqlite:///{tmp}/c.db"))


def test_random_sequences_on_postgresql(postgres_url: str) -> None:
    run_on(machine_for(postgres_url))


pytestmark = pytest.mark.xdist_group("stateful")
