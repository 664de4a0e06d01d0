"""room_meetings (issue 14 §4): the room's staff meet every 14 days as one series, without
the closed days; one meeting moved or cancelled on its own; ending takes the rest out.
On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from machines import GuardRejected, InvalidInput, NotPermitted
from machines.recurring import stored_occurrences
from persistence import CaseStore

from .cli_helpers import dump
from .conftest import at

STAFF = "ole@boernehuset.example.dk"
STAFF_2 = "mia@boernehuset.example.dk"
LEADER = "leder@boernehuset.example.dk"

ROOM: dict[str, Any] = {
    "title": "Børnehuset Søstjernen",
    "location": "Børnehuset Søstjernen, personalerummet",
    "room": "Stue 2",
    "participants": [
        {"key": "ole", "role": "staff", "name": "Ole Olsen", "email": STAFF},
        {"key": "mia", "role": "staff", "name": "Mia Madsen", "email": STAFF_2},
        {"key": "leder", "role": "leader", "name": "Lone Leder", "email": LEADER},
    ],
}
# Wednesdays 14:00 from 6 January 2027 until 30 June: every 14 days (the last 23 June);
# 12 May is the closure day given.
PLAN = {
    "first": "2027-01-06T14:00:00+01:00",
    "until": "2027-06-30",
    "minutes": 60,
    "closure_days": ["2027-05-12"],
}


def planned(store: CaseStore) -> int:
    case_id = store.open_case("room_meetings", ROOM, at("2027-01-04 09:00"))
    store.fire(case_id, "plan_meetings", LEADER, PLAN, at("2027-01-04 10:00"))
    return case_id


def starts(store: CaseStore, case_id: int) -> list[str]:
    return [o.start.isoformat() for o in stored_occurrences(store.snapshot(case_id))]


def test_rule_1_every_fourteen_days_for_the_rooms_staff(store: CaseStore) -> None:
    case_id = planned(store)
    found = starts(store, case_id)
    assert found[:3] == [
        "2027-01-06T14:00:00+01:00",
        "2027-01-20T14:00:00+01:00",
        "2027-02-03T14:00:00+01:00",
    ]
    assert "2027-05-12T14:00:00+02:00" not in found  # the closure day
    assert found[-1] == "2027-06-23T14:00:00+02:00"  # 30 June is a Wednesday off the rhythm
    assert len(found) == 12  # 13 Wednesdays a fortnight apart, one closed
    shown = store.show(case_id)
    (meeting,) = shown["meetings"]
    assert sorted(meeting["participants"]) == ["leder", "mia", "ole"]
    assert sorted(o["to"] for o in shown["outbox"]) == sorted([STAFF, STAFF_2, LEADER])
    assert {o["template"] for o in shown["outbox"]} == {"invitation"}


def test_rule_2_one_meeting_moved_or_cancelled(store: CaseStore, db_url: str) -> None:
    case_id = planned(store)
    store.fire(
        case_id,
        "move_meeting",
        STAFF,
        {"session": "2027-03-31T14:00:00+02:00", "start": "2027-04-01T15:00:00+02:00"},
        at("2027-03-01 09:00"),
    )
    store.fire(
        case_id,
        "cancel_meeting",
        STAFF_2,
        {"session": "2027-04-14T14:00:00+02:00", "reason": "temadag"},
        at("2027-03-01 09:00"),
    )
    found = starts(store, case_id)
    assert "2027-04-01T15:00:00+02:00" in found
    assert "2027-04-14T14:00:00+02:00" not in found and len(found) == 11
    templates = [o["template"] for o in store.show(case_id)["outbox"]]
    assert templates.count("update") == 3 and templates.count("cancellation") == 3
    before = dump(db_url)
    with pytest.raises(InvalidInput, match="nothing is planned at 2027-04-07"):
        store.fire(
            case_id,
            "cancel_meeting",
            STAFF,
            {"session": "2027-04-07T14:00:00+02:00", "reason": "x"},
            at("2027-03-01 09:00"),
        )
    with pytest.raises(GuardRejected, match="closed"):
        store.fire(
            case_id,
            "move_meeting",
            STAFF,
            {"session": "2027-04-28T14:00:00+02:00", "start": "2027-05-06T14:00:00+02:00"},
            at("2027-03-01 09:00"),
        )  # Kristi himmelfartsdag
    with pytest.raises(NotPermitted):
        store.fire(
            case_id, "end_meetings", "x@example.com", {"reason": "x"}, at("2027-03-01 10:00")
        )
    assert dump(db_url) == before


def test_rule_3_ending_takes_the_rest_out_with_an_update(store: CaseStore) -> None:
    case_id = planned(store)
    store.fire(case_id, "end_meetings", LEADER, {"reason": "stuen lukker"}, at("2027-03-10 09:00"))
    shown = store.show(case_id)
    assert shown["state"] == "ended"
    assert shown["meetings"][0]["sequence"] == 1
    assert starts(store, case_id)[-1] == "2027-03-03T14:00:00+01:00"
    assert [o["template"] for o in shown["outbox"]][-3:] == ["update"] * 3
