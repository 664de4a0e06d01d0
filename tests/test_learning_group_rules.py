"""learning_group (issue 14): 3–4 children and one fixed pedagogue, a child in one group at
a time, weekly sessions as one calendar series, sessions moved and cancelled on their own,
a recorded change of pedagogue, notes in the development wheel with a reminder two
working days after a session, notes for the staff only. On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from machines import (
    GuardRejected,
    InvalidInput,
    NotPermitted,
    Series,
    TransitionNotAllowed,
    get_process,
)
from machines.learning_group import read_notes
from machines.recurring import stored_occurrences as stored_sessions
from persistence import CaseStore

from .cli_helpers import dump
from .conftest import at

PEDAGOGUE = "pia@boernehuset.example.dk"
LEADER = "leder@boernehuset.example.dk"
STAFF = "ole@boernehuset.example.dk"
NEW_PEDAGOGUE = "nina@boernehuset.example.dk"

GROUP: dict[str, Any] = {
    "title": "Børnehuset Søstjernen",
    "location": "Børnehuset Søstjernen, stue 2",
    "room": "Stue 2",
    "children": ["barn-a1", "barn-b2", "barn-c3"],
    "participants": [
        {"key": "paed", "role": "pedagogue", "name": "Pia Pædagog", "email": PEDAGOGUE},
        {"key": "leder", "role": "leader", "name": "Lone Leder", "email": LEADER},
        {"key": "ole", "role": "staff", "name": "Ole Olsen", "email": STAFF},
    ],
}
# Mondays 10:00 for 12 weeks from 11 January 2027: 15 February is a closure day and
# 29 March (2. påskedag) a public holiday, so 10 sessions; the last ones in summer time.
PLAN = {"first": "2027-01-11T10:00:00+01:00", "weeks": 12, "closure_days": ["2027-02-15"]}
OPENED = at("2027-01-04 09:00")


def open_group(store: CaseStore, **changes: Any) -> int:
    return store.open_case("learning_group", {**GROUP, **changes}, OPENED)


def running(store: CaseStore, **changes: Any) -> int:
    case_id = open_group(store, **changes)
    store.fire(case_id, "plan_sessions", PEDAGOGUE, PLAN, at("2027-01-04 10:00"))
    return case_id


def note(session: str, child: str = "barn-a1", **wheel: str) -> dict[str, Any]:
    return {"session": session, "child": child, "wheel": wheel or {"sprog": "tal om billeder"}}


def sessions(store: CaseStore, case_id: int) -> list[str]:
    return [o.start.isoformat() for o in stored_sessions(store.snapshot(case_id))]


def pending_timers(store: CaseStore, case_id: int) -> list[dict[str, Any]]:
    return [t for t in store.show(case_id)["timers"] if t["status"] == "pending"]


def test_the_definition_is_valid_and_titled_in_danish() -> None:
    process = get_process("learning_group")
    assert process.title == "Lille læringsgruppe"
    assert process.state_title("running") == "Gruppen mødes"


TABLE: list[tuple[str, str, dict[str, Any], str | type[Exception]]] = [
    ("plan_sessions", PEDAGOGUE, PLAN, "running"),
    ("plan_sessions", STAFF, PLAN, NotPermitted),
    ("plan_sessions", PEDAGOGUE, {"first": "2027-01-11T10:00:00+01:00"}, InvalidInput),
    ("write_note", PEDAGOGUE, note("2027-01-11T10:00:00+01:00"), TransitionNotAllowed),
    ("end_group", LEADER, {"reason": "x"}, TransitionNotAllowed),
    ("dissolve", LEADER, {"reason": "for få børn"}, "dissolved"),
    ("add_child", LEADER, {"child": "barn-d4"}, "forming"),
    ("note_check", "system", {}, TransitionNotAllowed),
]


@pytest.mark.parametrize(("event", "actor", "payload", "expected"), TABLE)
def test_transition_table_from_forming(
    store: CaseStore,
    event: str,
    actor: str,
    payload: dict[str, Any],
    expected: str | type[Exception],
) -> None:
    case_id = open_group(store)
    now = at("2027-01-04 10:00")
    if isinstance(expected, str):
        assert store.fire(case_id, event, actor, payload, now).dest == expected
    else:
        with pytest.raises(expected):
            store.fire(case_id, event, actor, payload, now)


# ------------------------------------------------------------------ rule 1: the group


def test_rule_1_three_or_four_children_and_one_pedagogue(store: CaseStore, db_url: str) -> None:
    five = ["barn-a1", "barn-b2", "barn-c3", "barn-d4", "barn-e5"]
    with pytest.raises(InvalidInput, match="3–4 children, 5 given; start another group"):
        open_group(store, children=five)
    with pytest.raises(InvalidInput, match="3–4 children, 2 given"):
        open_group(store, children=five[:2])
    with pytest.raises(InvalidInput, match="CPR"):
        open_group(store, children=["010203-1234", "barn-b2", "barn-c3"])
    without = [p for p in GROUP["participants"] if p["role"] != "pedagogue"]
    with pytest.raises(InvalidInput, match="one fixed pedagogue, 0 given"):
        open_group(store, participants=without)
    assert dump(db_url)["cases"] == []

    case_id = open_group(store, children=five[:4])
    before = dump(db_url)
    with pytest.raises(InvalidInput, match="3–4 children, 5 given"):
        store.fire(case_id, "add_child", LEADER, {"child": "barn-e5"}, at("2027-01-04 10:00"))
    with pytest.raises(InvalidInput, match="the child given is not in this group"):
        store.fire(
            case_id,
            "remove_child",
            LEADER,
            {"child": "barn-x9", "reason": "flyttet"},
            at("2027-01-04 10:00"),
        )
    assert dump(db_url) == before


def test_rule_1_a_child_is_in_one_group_at_a_time(store: CaseStore, db_url: str) -> None:
    first = running(store)
    before = dump(db_url)
    with pytest.raises(InvalidInput, match=rf"a child given is already in case {first}"):
        open_group(store, children=["barn-b2", "barn-x1", "barn-x2"])
    assert dump(db_url) == before  # nothing of the second group was written

    second = open_group(store, children=["barn-x1", "barn-x2", "barn-x3"])
    before = dump(db_url)
    with pytest.raises(InvalidInput, match=rf"a child given is already in case {first}"):
        store.fire(second, "add_child", LEADER, {"child": "barn-a1"}, at("2027-01-04 11:00"))
    assert dump(db_url) == before

    # A child leaves the first group, or the first group ends: then it may join another.
    store.fire(first, "add_child", LEADER, {"child": "barn-d4"}, at("2027-01-04 11:00"))
    store.fire(
        first,
        "remove_child",
        LEADER,
        {"child": "barn-a1", "reason": "skifter stue"},
        at("2027-01-04 11:00"),
    )
    store.fire(second, "add_child", LEADER, {"child": "barn-a1"}, at("2027-01-04 11:30"))
    store.fire(first, "end_group", LEADER, {"reason": "perioden er slut"}, at("2027-01-04 12:00"))
    third = open_group(store, children=["barn-b2", "barn-c3", "barn-d4"])
    assert store.snapshot(third).state == "forming"


# ------------------------------------------------------------------ rule 2: the series


def test_rule_2_weekly_sessions_are_one_series_without_the_closed_days(store: CaseStore) -> None:
    case_id = running(store)
    shown = store.show(case_id)
    (meeting,) = shown["meetings"]
    assert meeting["participants"] == ["paed"]
    assert meeting["start"] == "2027-01-11T10:00:00+01:00"
    starts = sessions(store, case_id)
    assert len(starts) == 10
    assert "2027-02-15T10:00:00+01:00" not in starts  # the closure day given
    assert "2027-03-29T10:00:00+02:00" not in starts  # 2. påskedag
    assert starts[-1] == "2027-03-22T10:00:00+01:00"
    assert [o["template"] for o in shown["outbox"]] == ["invitation"]
    assert shown["history"][-1]["details"] == {"sessions": 10}


def test_rule_2_one_session_moved_or_cancelled_on_its_own(store: CaseStore, db_url: str) -> None:
    case_id = running(store)
    store.fire(
        case_id,
        "move_session",
        PEDAGOGUE,
        {"session": "2027-02-01T10:00:00+01:00", "start": "2027-02-02T13:00:00+01:00"},
        at("2027-01-25 09:00"),
    )
    store.fire(
        case_id,
        "cancel_session",
        LEADER,
        {"session": "2027-03-08T10:00:00+01:00", "reason": "personalemøde"},
        at("2027-01-25 09:30"),
    )
    starts = sessions(store, case_id)
    assert "2027-02-02T13:00:00+01:00" in starts
    assert "2027-02-01T10:00:00+01:00" not in starts
    assert "2027-03-08T10:00:00+01:00" not in starts
    assert len(starts) == 9
    shown = store.show(case_id)
    assert [o["template"] for o in shown["outbox"]] == ["invitation", "update", "cancellation"]
    (meeting,) = shown["meetings"]
    assert meeting["sequence"] == 0  # the series itself did not change: only two occurrences
    series = Series.from_json(store.snapshot(case_id).meetings[0].series or {})
    assert [o.sequence for o in series.overrides.values()] == [1, 1]

    before = dump(db_url)
    with pytest.raises(InvalidInput, match="nothing is planned at 2027-02-03"):
        store.fire(
            case_id,
            "move_session",
            PEDAGOGUE,
            {"session": "2027-02-03T10:00:00+01:00", "start": "2027-02-04T10:00:00+01:00"},
            at("2027-01-25 10:00"),
        )
    with pytest.raises(GuardRejected, match="has begun"):
        store.fire(
            case_id,
            "cancel_session",
            PEDAGOGUE,
            {"session": "2027-01-18T10:00:00+01:00", "reason": "syg"},
            at("2027-01-25 10:00"),
        )
    with pytest.raises(GuardRejected, match="closed"):
        store.fire(
            case_id,
            "move_session",
            PEDAGOGUE,
            {"session": "2027-02-08T10:00:00+01:00", "start": "2027-02-13T10:00:00+01:00"},
            at("2027-01-25 10:00"),
        )
    assert dump(db_url) == before


# ------------------------------------------------------------------ rule 3: the pedagogue


def test_rule_3_changing_the_pedagogue_is_recorded_and_moves_the_rest_of_the_series(
    store: CaseStore,
) -> None:
    case_id = running(store)
    change = {"name": "Nina Ny", "email": NEW_PEDAGOGUE, "reason": "Pia har fået ny stue"}
    with pytest.raises(NotPermitted):
        store.fire(case_id, "change_pedagogue", PEDAGOGUE, change, at("2027-02-03 09:00"))
    store.fire(case_id, "change_pedagogue", LEADER, change, at("2027-02-03 09:00"))

    shown = store.show(case_id)
    assert shown["history"][-1]["details"] == {
        "from": "paed",
        "to": "pedagogue-2",
        "reason": "Pia har fået ny stue",
    }
    roles = {p["key"]: p["role"] for p in shown["participants"]}
    assert roles["paed"] == "former_pedagogue"
    assert roles["pedagogue-2"] == "pedagogue"
    old, new = shown["meetings"]
    assert old["sequence"] == 1 and old["participants"] == ["paed"]
    assert new["participants"] == ["pedagogue-2"] and new["start"] == "2027-02-08T10:00:00+01:00"
    # The whole plan is unchanged: the sessions before the change, then the new series.
    assert len(sessions(store, case_id)) == 10
    assert [(o["template"], o["to"]) for o in shown["outbox"][1:]] == [
        ("update", PEDAGOGUE),
        ("invitation", NEW_PEDAGOGUE),
    ]
    with pytest.raises(NotPermitted):
        store.fire(
            case_id,
            "write_note",
            PEDAGOGUE,
            note("2027-01-11T10:00:00+01:00"),
            at("2027-02-03 10:00"),
        )
    store.fire(
        case_id,
        "write_note",
        NEW_PEDAGOGUE,
        note("2027-01-11T10:00:00+01:00"),
        at("2027-02-03 10:00"),
    )


def test_rule_3_a_change_after_the_last_session_that_takes_place_sends_no_new_series(
    store: CaseStore,
) -> None:
    """Found by the stateful test: what is left of the plan is 22 March (cancelled here)
    and 29 March (2. påskedag, excluded). No session takes place, so the new pedagogue
    gets no series of nothing, and the change is still recorded."""
    case_id = running(store)
    cancel = {"session": "2027-03-22T10:00:00+01:00", "reason": "Personalemøde"}
    store.fire(case_id, "cancel_session", PEDAGOGUE, cancel, at("2027-03-19 09:00"))
    meetings_before = store.show(case_id)["meetings"]
    change = {"name": "Nina Ny", "email": NEW_PEDAGOGUE, "reason": "Pia har fået ny stue"}
    store.fire(case_id, "change_pedagogue", LEADER, change, at("2027-03-20 09:00"))

    shown = store.show(case_id)
    roles = {p["key"]: p["role"] for p in shown["participants"]}
    assert roles == {
        "paed": "former_pedagogue",
        "leder": "leader",
        "ole": "staff",
        "pedagogue-2": "pedagogue",
    }
    # The old series is left as it was (nothing of it takes place any more); only its
    # tally changed, since Pia is no longer a required participant.
    tally = {"tally": None, "required_invited": None}
    assert [{**m, **tally} for m in shown["meetings"]] == [{**m, **tally} for m in meetings_before]
    assert shown["meetings"][0]["required_invited"] == meetings_before[0]["required_invited"] - 1
    assert NEW_PEDAGOGUE not in {o["to"] for o in shown["outbox"]}


# ------------------------------------------------------------------ rule 4: notes and reminder


def test_rule_4_a_note_is_for_a_child_in_the_group_and_a_session_that_happened(
    store: CaseStore, db_url: str
) -> None:
    case_id = running(store)
    now = at("2027-01-19 09:00")
    before = dump(db_url)
    with pytest.raises(InvalidInput, match="the child given is not in this group"):
        store.fire(
            case_id, "write_note", PEDAGOGUE, note("2027-01-18T10:00:00+01:00", "barn-z9"), now
        )
    with pytest.raises(InvalidInput, match="not an area of the development wheel") as refused:
        store.fire(
            case_id,
            "write_note",
            PEDAGOGUE,
            note("2027-01-18T10:00:00+01:00", matematik="tæl"),
            now,
        )
    assert "matematik" not in str(refused.value)  # a typed key is never repeated
    with pytest.raises(InvalidInput, match="nothing is planned at 2027-01-19"):
        store.fire(case_id, "write_note", PEDAGOGUE, note("2027-01-19T10:00:00+01:00"), now)
    with pytest.raises(GuardRejected, match="has not happened yet"):
        store.fire(case_id, "write_note", PEDAGOGUE, note("2027-01-25T10:00:00+01:00"), now)
    assert dump(db_url) == before

    store.fire(
        case_id,
        "write_note",
        PEDAGOGUE,
        note("2027-01-18T10:00:00+01:00", sprog="fortæller selv", trivsel="glad"),
        now,
    )
    notes = store.show(case_id)["data"]["notes"]
    assert notes == {
        "2027-01-18T10:00:00+01:00": {"barn-a1": {"sprog": "fortæller selv", "trivsel": "glad"}}
    }
    # The history says which child and areas, never the words noted.
    assert store.show(case_id)["history"][-1]["details"] == {
        "session": "2027-01-18T10:00:00+01:00",
        "child": "barn-a1",
        "areas": ["sprog", "trivsel"],
    }


def test_rule_4_missing_notes_two_working_days_later_remind_the_pedagogue(
    store: CaseStore,
) -> None:
    case_id = running(store)
    # One pending timer per group, whatever the number of sessions ahead.
    (timer,) = pending_timers(store, case_id)
    assert timer["event"] == "note_check" and timer["due"] == "2027-01-13T10:00:00+01:00"

    for child in ("barn-a1", "barn-b2", "barn-c3"):
        store.fire(
            case_id,
            "write_note",
            PEDAGOGUE,
            note("2027-01-11T10:00:00+01:00", child),
            at("2027-01-11 11:00"),
        )
    assert store.sweep(at("2027-01-13 10:00")).fired == {"learning_group/note_check": 1}
    assert [o["template"] for o in store.show(case_id)["outbox"]] == ["invitation"]  # all noted
    (timer,) = pending_timers(store, case_id)
    assert timer["due"] == "2027-01-20T10:00:00+01:00"

    # Session 18 January: one child's note only. Nothing before the due time ...
    store.fire(
        case_id, "write_note", PEDAGOGUE, note("2027-01-18T10:00:00+01:00"), at("2027-01-18 11:00")
    )
    assert store.sweep(at("2027-01-20 09:59")).total == 0
    # ... then a reminder to the pedagogue alone, about the session, not the children.
    assert store.sweep(at("2027-01-20 10:00")).fired == {"learning_group/note_check": 1}
    shown = store.show(case_id)
    assert [(o["template"], o["to"]) for o in shown["outbox"]][-1] == ("reminder", PEDAGOGUE)
    assert shown["history"][-1]["details"] == {
        "sessions_without_notes": ["2027-01-18T10:00:00+01:00"]
    }
    (timer,) = pending_timers(store, case_id)
    assert timer["due"] == "2027-01-27T10:00:00+01:00"


def test_rule_4_a_late_sweep_reminds_once_for_all_sessions_due(store: CaseStore) -> None:
    case_id = running(store)
    # Nobody swept for three weeks: sessions 11, 18 and 25 January are all due.
    assert store.sweep(at("2027-01-28 12:00")).fired == {"learning_group/note_check": 1}
    shown = store.show(case_id)
    assert [o["template"] for o in shown["outbox"]].count("reminder") == 1
    assert shown["history"][-1]["details"]["sessions_without_notes"] == [
        "2027-01-11T10:00:00+01:00",
        "2027-01-18T10:00:00+01:00",
        "2027-01-25T10:00:00+01:00",
    ]
    (timer,) = pending_timers(store, case_id)
    assert timer["due"] == "2027-02-03T10:00:00+01:00"


def test_rule_4_a_moved_session_moves_its_note_deadline(store: CaseStore) -> None:
    case_id = running(store)
    store.fire(
        case_id,
        "move_session",
        PEDAGOGUE,
        {"session": "2027-01-11T10:00:00+01:00", "start": "2027-01-12T14:00:00+01:00"},
        at("2027-01-05 09:00"),
    )
    (timer,) = pending_timers(store, case_id)
    assert timer["due"] == "2027-01-14T14:00:00+01:00"
    # Cancelling a session: the next one's deadline.
    store.fire(
        case_id,
        "cancel_session",
        PEDAGOGUE,
        {"session": "2027-01-11T10:00:00+01:00", "reason": "lukket"},
        at("2027-01-05 09:30"),
    )
    (timer,) = pending_timers(store, case_id)
    assert timer["due"] == "2027-01-20T10:00:00+01:00"


def test_the_end_of_the_group_takes_the_rest_out_of_the_calendar(store: CaseStore) -> None:
    case_id = running(store)
    store.fire(case_id, "end_group", LEADER, {"reason": "perioden er slut"}, at("2027-02-02 12:00"))
    shown = store.show(case_id)
    assert shown["state"] == "ended"
    assert pending_timers(store, case_id) == []
    assert shown["meetings"][0]["sequence"] == 1
    assert sessions(store, case_id)[-1] == "2027-02-01T10:00:00+01:00"
    assert shown["outbox"][-1]["template"] == "update"


# ------------------------------------------------------------------ rule 5: who reads the notes


def test_rule_5_the_notes_are_for_the_staff_on_the_group(store: CaseStore) -> None:
    case_id = running(store)
    store.fire(
        case_id,
        "write_note",
        PEDAGOGUE,
        note("2027-01-11T10:00:00+01:00", "barn-b2", motorik="klatrer sikkert"),
        at("2027-01-11 11:00"),
    )
    snapshot = store.snapshot(case_id)
    for reader in (PEDAGOGUE, LEADER, STAFF):
        assert read_notes(snapshot, reader) == {
            "2027-01-11T10:00:00+01:00": "barn-b2 – motorik: klatrer sikkert"
        }
    with pytest.raises(NotPermitted):
        read_notes(snapshot, "forælder@example.dk")


def test_the_reminder_mail_names_no_child_and_no_note(store: CaseStore) -> None:
    from notifications import Notification, Organizer, compose
    from notifications.messages import RenderCache

    case_id = running(store)
    store.fire(
        case_id,
        "write_note",
        PEDAGOGUE,
        note("2027-01-11T10:00:00+01:00", "barn-b2", motorik="klatrer sikkert"),
        at("2027-01-11 11:00"),
    )
    store.sweep(at("2027-01-13 10:00"))
    snapshot = store.snapshot(case_id)
    pedagogue = snapshot.participant("paed")
    assert pedagogue is not None
    composed = compose(
        Notification(1, "reminder", "session_note", snapshot, pedagogue, at("2027-01-13 10:00")),
        Organizer.from_env({}),
        at("2027-01-13 10:00"),
        RenderCache(),
    )
    text = composed.data.decode("ascii", "replace")
    assert "opfølgning" in composed.subject.lower()
    for secret in ("barn-a1", "barn-b2", "barn-c3", "klatrer"):
        assert secret not in composed.subject and secret not in text
    assert composed.calendar is None


def test_two_groups_opened_at_once_cannot_both_take_a_child(db_url: str) -> None:
    """Whatever the interleaving, one group gets the child and the other is refused as bad
    input (by the check, or by the memberships' unique key if both checked first)."""
    import threading

    from persistence import make_engine

    engines = [make_engine(db_url) for _ in range(2)]
    stores = [CaseStore(e) for e in engines]
    start = threading.Barrier(2)
    outcomes: list[object] = [None, None]

    def open_one(n: int) -> None:
        start.wait()
        try:
            outcomes[n] = open_group(stores[n], children=["barn-a1", f"barn-{n}x", f"barn-{n}y"])
        except InvalidInput as exc:
            outcomes[n] = exc

    threads = [threading.Thread(target=open_one, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for engine in engines:
        engine.dispose()
    opened = [o for o in outcomes if isinstance(o, int)]
    refused = [o for o in outcomes if isinstance(o, InvalidInput)]
    assert len(opened) == 1 and len(refused) == 1, outcomes
    assert "is already in case" in str(refused[0]) or "at the same moment" in str(refused[0])
    assert len(dump(db_url)["cases"]) == 1
