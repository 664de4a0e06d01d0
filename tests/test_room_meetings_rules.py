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


# ---------------------------------------------------------------- dialogic reading

NURSERY = {**ROOM, "children": ["barn-a1", "barn-b2", "barn-c3"]}


def reading_room(store: CaseStore, **changes: Any) -> int:
    # Monday 4 January 2027: the first weekly check is Friday 8 January at 14:00.
    return store.open_case("room_meetings", {**NURSERY, **changes}, at("2027-01-04 09:00"))


def read(store: CaseStore, case_id: int, day: str, *children: str, when: str) -> None:
    given = {"children": list(children), "day": day}
    store.fire(case_id, "register_reading", STAFF, given, at(when))


def pending_timers(store: CaseStore, case_id: int) -> list[dict[str, Any]]:
    return [t for t in store.show(case_id)["timers"] if t["status"] == "pending"]


def test_rule_4_a_child_without_a_reading_this_week_is_named_to_the_rooms_staff(
    store: CaseStore,
) -> None:
    from notifications import Notification, Organizer, compose
    from notifications.messages import RenderCache

    case_id = reading_room(store)
    (timer,) = pending_timers(store, case_id)  # one timer per room
    assert timer["event"] == "reading_check" and timer["due"] == "2027-01-08T14:00:00+01:00"
    read(store, case_id, "2027-01-05", "barn-a1", "barn-b2", when="2027-01-05 10:00")
    read(store, case_id, "2026-12-30", "barn-c3", when="2027-01-05 10:05")  # last week

    assert store.sweep(at("2027-01-08 13:59")).total == 0
    assert store.sweep(at("2027-01-08 14:00")).fired == {"room_meetings/reading_check": 1}
    shown = store.show(case_id)
    reminders = [(o["template"], o["to"]) for o in shown["outbox"] if o["template"] == "reminder"]
    assert sorted(reminders) == [("reminder", STAFF_2), ("reminder", STAFF)]  # not the leader
    assert shown["history"][-1]["details"] == {"children_without_reading": ["barn-c3"]}
    (timer,) = pending_timers(store, case_id)
    assert timer["due"] == "2027-01-15T14:00:00+01:00"  # re-armed for next week

    snapshot = store.snapshot(case_id)
    staff = snapshot.participant("ole")
    assert staff is not None
    composed = compose(
        Notification(1, "reminder", "dialogic_reading", snapshot, staff, at("2027-01-08 14:00")),
        Organizer.from_env({}),
        at("2027-01-08 14:00"),
        RenderCache(),
    )
    text = composed.message.get_body(("plain",))
    assert text is not None
    body = text.get_content()
    assert "barn-c3" in body and "dialogisk læsning" in body
    assert "barn-a1" not in body and "barn-b2" not in body
    assert "dialogisk læsning" in composed.subject and "barn" not in composed.subject
    assert composed.calendar is None


def test_rule_4_a_week_where_every_child_was_read_with_sends_nothing(store: CaseStore) -> None:
    case_id = reading_room(store)
    read(store, case_id, "2027-01-06", "barn-a1", "barn-b2", "barn-c3", when="2027-01-06 10:00")
    assert store.sweep(at("2027-01-08 14:00")).fired == {"room_meetings/reading_check": 1}
    assert [o["template"] for o in store.show(case_id)["outbox"]] == []
    (timer,) = pending_timers(store, case_id)
    assert timer["due"] == "2027-01-15T14:00:00+01:00"
    # Next week nobody is read with: all three are named.
    assert store.sweep(at("2027-01-15 14:05")).fired == {"room_meetings/reading_check": 1}
    assert store.show(case_id)["history"][-1]["details"] == {
        "children_without_reading": ["barn-a1", "barn-b2", "barn-c3"]
    }


def test_rule_4_the_check_is_on_a_working_day_and_a_late_sweep_checks_its_own_week(
    store: CaseStore,
) -> None:
    # Easter 2027: Thursday 25 and Friday 26 March are holidays; the check is Wednesday.
    case_id = store.open_case("room_meetings", NURSERY, at("2027-03-22 09:00"))
    (timer,) = pending_timers(store, case_id)
    assert timer["due"] == "2027-03-24T14:00:00+01:00"
    read(store, case_id, "2027-03-23", "barn-a1", "barn-b2", "barn-c3", when="2027-03-23 10:00")
    # Nobody swept until the next Monday: the week checked is still the Easter week.
    assert store.sweep(at("2027-03-29 08:00")).fired == {"room_meetings/reading_check": 1}
    assert [o["template"] for o in store.show(case_id)["outbox"]] == []
    (timer,) = pending_timers(store, case_id)
    assert timer["due"] == "2027-04-02T14:00:00+02:00"


def test_rule_4_children_join_and_leave_a_room_and_the_check_follows(store: CaseStore) -> None:
    case_id = store.open_case("room_meetings", ROOM, at("2027-01-04 09:00"))
    assert pending_timers(store, case_id) == []  # no children, no check
    store.fire(case_id, "add_child", LEADER, {"child": "barn-d4"}, at("2027-01-04 10:00"))
    (timer,) = pending_timers(store, case_id)
    assert timer["due"] == "2027-01-08T14:00:00+01:00"
    store.fire(case_id, "add_child", LEADER, {"child": "barn-e5"}, at("2027-01-04 10:05"))
    store.fire(case_id, "remove_child", LEADER, {"child": "barn-d4"}, at("2027-01-04 10:10"))
    assert store.sweep(at("2027-01-08 14:00")).fired == {"room_meetings/reading_check": 1}
    assert store.show(case_id)["history"][-1]["details"] == {
        "children_without_reading": ["barn-e5"]
    }
    # Planning the room meetings keeps one reading check.
    later = {**PLAN, "first": "2027-01-20T14:00:00+01:00"}
    store.fire(case_id, "plan_meetings", LEADER, later, at("2027-01-08 15:00"))
    (timer,) = pending_timers(store, case_id)
    assert timer["event"] == "reading_check" and timer["due"] == "2027-01-15T14:00:00+01:00"


def test_rule_4_a_reading_for_a_child_not_in_the_room_is_refused_and_writes_nothing(
    store: CaseStore, db_url: str
) -> None:
    case_id = reading_room(store)
    before = dump(db_url)
    with pytest.raises(InvalidInput, match="1 of the children given is not a child of this room"):
        read(store, case_id, "2027-01-05", "barn-a1", "barn-z9", when="2027-01-05 10:00")
    with pytest.raises(GuardRejected, match="lies ahead"):
        read(store, case_id, "2027-01-06", "barn-a1", when="2027-01-05 10:00")
    with pytest.raises(InvalidInput, match="already a child of this room"):
        store.fire(case_id, "add_child", LEADER, {"child": "barn-a1"}, at("2027-01-05 10:00"))
    with pytest.raises(InvalidInput):
        store.open_case("room_meetings", {**ROOM, "children": ["0101901234"]}, at("2027-01-04"))
    assert dump(db_url) == before
