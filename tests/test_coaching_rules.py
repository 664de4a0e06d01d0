"""coaching (DOMAIN.md §3): homework every session, session 1 frames the course, no-shows,
the coach's calendar, finishing, follow-up, capacity. On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from machines import GuardRejected, InvalidInput, NotPermitted, TransitionNotAllowed
from persistence import CaseStore

from .cli_helpers import dump
from .conftest import at

COACH = "coach@ungecenter.example.dk"
CASEWORKER = "sagsbehandler@kommune.example.dk"
YOUTH = "ung@example.dk"
COORDINATOR = "tovholder@kommune.example.dk"

COACHING_CASE: dict[str, Any] = {
    "title": "Ungecenteret",
    "location": "Ungecenteret, lokale 3",
    "youth_ref": "ung-0007",
    "participants": [
        {"key": "ung", "role": "youth", "name": "Ali Ærø", "email": YOUTH},
        {"key": "coach", "role": "coach", "name": "Connie Coach", "email": COACH},
        {"key": "sb", "role": "caseworker", "name": "Sara Sag", "email": CASEWORKER},
        {"key": "tov", "role": "coordinator", "name": "Karen Lund", "email": COORDINATOR},
    ],
}
FIRST = {"homework": "skriv tre ting ned", "themes": ["persistence"], "expectations": "mål: job"}


def open_coaching(store: CaseStore, **changes: Any) -> int:
    return store.open_case("coaching", {**COACHING_CASE, **changes}, at("2027-01-04 09:00"))


def session(
    store: CaseStore, case_id: int, day: int, payload: dict[str, Any] | None = None
) -> None:
    """Book and hold one session on January ``day`` (10:00)."""
    start = f"2027-01-{day:02d}T10:00:00+01:00"
    store.fire(
        case_id, "schedule_session", COACH, {"start": start}, at(f"2027-01-{day - 1:02d} 09:00")
    )
    held = payload or {"homework": "læs kapitel 2"}
    store.fire(case_id, "complete_session", COACH, held, at(f"2027-01-{day:02d} 11:00"))


def agreed(store: CaseStore, **changes: Any) -> int:
    case_id = open_coaching(store, **changes)
    store.fire(case_id, "accept", CASEWORKER, {}, at("2027-01-04 10:00"))
    return case_id


TABLE: list[tuple[str, str, str, dict[str, Any], str | type[Exception]]] = [
    (
        "referred",
        "schedule_intro",
        CASEWORKER,
        {"start": "2027-01-06T10:00:00+01:00"},
        "intro_scheduled",
    ),
    ("referred", "accept", CASEWORKER, {}, "agreed"),
    ("referred", "accept", YOUTH, {}, NotPermitted),
    (
        "referred",
        "schedule_session",
        COACH,
        {"start": "2027-01-06T10:00:00+01:00"},
        TransitionNotAllowed,
    ),
    ("referred", "decline", CASEWORKER, {}, TransitionNotAllowed),
    ("referred", "drop_out", CASEWORKER, {"reason": "flyttet"}, "dropped_out"),
]


@pytest.mark.parametrize(("state", "event", "actor", "payload", "expected"), TABLE)
def test_transition_table(
    store: CaseStore,
    state: str,
    event: str,
    actor: str,
    payload: dict[str, Any],
    expected: str | type[Exception],
) -> None:
    case_id = open_coaching(store)
    now = at("2027-01-05 09:00")
    if isinstance(expected, str):
        assert store.fire(case_id, event, actor, payload, now).dest == expected
    else:
        with pytest.raises(expected):
            store.fire(case_id, event, actor, payload, now)


def test_rule_1_the_intro_meeting_then_accept_or_decline(store: CaseStore) -> None:
    case_id = open_coaching(store)
    store.fire(
        case_id,
        "schedule_intro",
        CASEWORKER,
        {"start": "2027-01-06T10:00:00+01:00"},
        at("2027-01-04 10:00"),
    )
    intro = store.show(case_id)["meetings"][0]
    assert sorted(intro["participants"]) == ["coach", "sb", "ung"]
    assert store.fire(case_id, "decline", COACH, {}, at("2027-01-06 11:00")).dest == "declined"


def test_rule_2_sessions_default_to_six_of_sixty_minutes_and_can_be_replanned(
    store: CaseStore,
) -> None:
    case_id = agreed(store)
    session(store, case_id, 6, FIRST)
    meeting = store.show(case_id)["meetings"][0]
    assert (meeting["start"], meeting["end"]) == (
        "2027-01-06T10:00:00+01:00",
        "2027-01-06T11:00:00+01:00",
    )
    store.fire(case_id, "replan", COACH, {"planned_sessions": 8}, at("2027-01-07 09:00"))
    assert store.show(case_id)["data"]["planned_sessions"] == 8
    assert store.show(case_id)["history"][-1]["details"] == {
        "planned_sessions": {"from": 6, "to": 8}
    }


def test_rule_3_session_1_needs_expectations(store: CaseStore, db_url: str) -> None:
    case_id = agreed(store)
    store.fire(
        case_id,
        "schedule_session",
        COACH,
        {"start": "2027-01-06T10:00:00+01:00"},
        at("2027-01-05 09:00"),
    )
    before = dump(db_url)
    with pytest.raises(GuardRejected, match="session 1 frames the course"):
        store.fire(case_id, "complete_session", COACH, {"homework": "x"}, at("2027-01-06 11:00"))
    assert dump(db_url) == before


def test_rule_4_no_homework_no_session(store: CaseStore) -> None:
    case_id = agreed(store)
    session(store, case_id, 6, FIRST)
    store.fire(
        case_id,
        "schedule_session",
        COACH,
        {"start": "2027-01-13T10:00:00+01:00"},
        at("2027-01-12 09:00"),
    )
    with pytest.raises(GuardRejected, match="always leaves with a task"):
        store.fire(case_id, "complete_session", COACH, {"homework": "  "}, at("2027-01-13 11:00"))
    store.fire(
        case_id, "complete_session", COACH, {"homework": "ring til VUC"}, at("2027-01-13 11:00")
    )
    assert [s["homework"] for s in store.show(case_id)["data"]["sessions"]] == [
        "skriv tre ting ned",
        "ring til VUC",
    ]


def test_a_coach_cannot_hold_two_sessions_at_once(store: CaseStore) -> None:
    first, second = agreed(store), agreed(store, youth_ref="ung-0008")
    store.fire(
        first,
        "schedule_session",
        COACH,
        {"start": "2027-01-06T10:00:00+01:00"},
        at("2027-01-05 09:00"),
    )
    with pytest.raises(
        GuardRejected, match="the coach has another session from 2027-01-06 10:00 to 11:00"
    ):
        store.fire(
            second,
            "schedule_session",
            COACH,
            {"start": "2027-01-06T10:30:00+01:00"},
            at("2027-01-05 09:00"),
        )
    back_to_back = {"start": "2027-01-06T11:00:00+01:00"}
    assert (
        store.fire(second, "schedule_session", COACH, back_to_back, at("2027-01-05 09:00")).dest
        == "session_scheduled"
    )


def test_another_coach_at_the_same_time_is_no_conflict(store: CaseStore) -> None:
    """Only the same coach's sessions count: the busy check once read every coach's."""
    other_coach = "coach2@ungecenter.example.dk"
    people = [
        {**p, "email": other_coach, "name": "Carl Coach"} if p["key"] == "coach" else p
        for p in COACHING_CASE["participants"]
    ]
    first = agreed(store)
    second = agreed(store, youth_ref="ung-0008", participants=people)
    store.fire(
        first,
        "schedule_session",
        COACH,
        {"start": "2027-01-06T10:00:00+01:00"},
        at("2027-01-05 09:00"),
    )
    same_time = {"start": "2027-01-06T10:00:00+01:00"}
    assert (
        store.fire(second, "schedule_session", other_coach, same_time, at("2027-01-05 09:00")).dest
        == "session_scheduled"
    )


def test_two_no_shows_tell_the_caseworker(store: CaseStore) -> None:
    case_id = agreed(store)
    for day in (6, 13):
        store.fire(
            case_id,
            "schedule_session",
            COACH,
            {"start": f"2027-01-{day:02d}T10:00:00+01:00"},
            at(f"2027-01-{day - 1:02d} 09:00"),
        )
        store.fire(case_id, "no_show", COACH, {}, at(f"2027-01-{day:02d} 11:00"))
    shown = store.show(case_id)
    assert shown["data"]["no_shows"] == 2
    assert [(o["template"], o["to"]) for o in shown["outbox"] if o["template"] == "escalation"] == [
        ("escalation", CASEWORKER)
    ]


def test_finish_needs_a_session_held(store: CaseStore) -> None:
    case_id = agreed(store)
    store.fire(
        case_id,
        "schedule_session",
        COACH,
        {"start": "2027-01-06T10:00:00+01:00"},
        at("2027-01-05 09:00"),
    )
    store.fire(case_id, "no_show", COACH, {}, at("2027-01-06 11:00"))
    with pytest.raises(GuardRejected, match="no session has been held"):
        store.fire(case_id, "finish", COACH, {"outcome": "unknown"}, at("2027-01-07 09:00"))


def test_finishing_early_reminds_the_caseworker_of_the_remaining_sessions(store: CaseStore) -> None:
    case_id = agreed(store)
    session(store, case_id, 6, FIRST)
    store.fire(case_id, "finish", COACH, {"outcome": "education"}, at("2027-01-07 09:00"))
    shown = store.show(case_id)
    assert shown["history"][-1]["details"] == {"outcome": "education", "sessions_remaining": 5}
    assert ("reminder", CASEWORKER) in [(o["template"], o["to"]) for o in shown["outbox"]]


def test_the_coach_is_reminded_when_nothing_is_scheduled_for_three_weeks(store: CaseStore) -> None:
    case_id = agreed(store)
    session(store, case_id, 6, FIRST)  # held 6 January 11:00
    assert store.sweep(at("2027-01-27 07:59")).total == 0
    assert store.sweep(at("2027-01-27 08:00")).fired == {"coaching/idle_reminder": 1}


def test_rule_5_follow_up_six_weeks_after_the_end_then_close(store: CaseStore) -> None:
    case_id = agreed(store)
    session(store, case_id, 6, FIRST)
    store.fire(case_id, "finish", COACH, {"outcome": "employment"}, at("2027-01-07 09:00"))
    assert store.sweep(at("2027-02-18 08:00")).fired == {"coaching/follow_up_reminder": 1}
    store.fire(
        case_id,
        "schedule_follow_up",
        COACH,
        {"start": "2027-02-22T10:00:00+01:00"},
        at("2027-02-18 09:00"),
    )
    assert store.fire(case_id, "hold_follow_up", COACH, {}, at("2027-02-22 11:00")).dest == "closed"


def test_drop_out_cancels_open_meetings(store: CaseStore) -> None:
    case_id = agreed(store)
    store.fire(
        case_id,
        "schedule_session",
        COACH,
        {"start": "2027-01-06T10:00:00+01:00"},
        at("2027-01-05 09:00"),
    )
    store.fire(case_id, "drop_out", CASEWORKER, {"reason": "fik job"}, at("2027-01-05 12:00"))
    shown = store.show(case_id)
    assert shown["meetings"][0]["status"] == "cancelled"
    assert sorted(o["to"] for o in shown["outbox"] if o["template"] == "cancellation") == [
        COACH,
        YOUTH,
    ]


def test_the_youth_reference_is_pseudonymous(store: CaseStore) -> None:
    with pytest.raises(InvalidInput, match="CPR"):
        open_coaching(store, youth_ref="0102031234")
