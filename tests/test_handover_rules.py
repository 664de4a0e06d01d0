"""handover (DOMAIN.md §2): consent as a record, the form only where consented, erasure on
withdrawal, timers relative to the start date. Each rule a test, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from machines import GuardRejected, InvalidInput, NotPermitted, TransitionNotAllowed, get_process
from persistence import CaseStore

from .cli_helpers import dump
from .conftest import at

NURSE = "sundhedsplejerske@kommune.example.dk"
MOTHER = "mor@example.dk"
LEADER = "leder@boernehuset.example.dk"
PEDAGOGUE = "paedagog@boernehuset.example.dk"
COORDINATOR = "tovholder@kommune.example.dk"
SECRET = "Mor har fødselsdepression; barnet sover dårligt"

HANDOVER_CASE: dict[str, Any] = {
    "title": "Børnehuset Mælkebøtten",
    "location": "Børnehuset Mælkebøtten",
    "child_ref": "barn-0042",
    "daycare": "Børnehuset Mælkebøtten",
    "start_date": "2027-04-01",
    "participants": [
        {"key": "mor", "role": "parent", "name": "Åse Ølgaard", "email": MOTHER},
        {"key": "far", "role": "parent", "name": "Bo Ølgaard", "email": None},
        {"key": "sp", "role": "health_nurse", "name": "Hanne Sund", "email": NURSE},
        {"key": "leder", "role": "daycare_leader", "name": "Lis Leder", "email": LEADER},
        {"key": "paed", "role": "pedagogue", "name": "Per Pæd", "email": PEDAGOGUE},
        {"key": "tov", "role": "coordinator", "name": "Karen Lund", "email": COORDINATOR},
    ],
}

STEPS: list[tuple[str, str, str, dict[str, Any], str]] = [
    ("offered", "offer", NURSE, {}, "2027-01-20 09:00"),
    (
        "accepted",
        "accept",
        MOTHER,
        {"sections": ["health", "wishes"], "nurse_at_startup": True},
        "2027-01-25 09:00",
    ),
    (
        "home_visit_scheduled",
        "schedule_home_visit",
        NURSE,
        {"start": "2027-03-01T10:00:00+01:00"},
        "2027-01-26 09:00",
    ),
    (
        "form_completed",
        "complete_form",
        NURSE,
        {"sections": {"health": SECRET, "wishes": "Ro"}},
        "2027-03-01 11:00",
    ),
    (
        "startup_scheduled",
        "schedule_startup",
        LEADER,
        {"start": "2027-04-05T09:00:00+02:00"},
        "2027-03-02 09:00",
    ),
    ("handed_over", "hold_startup", LEADER, {}, "2027-04-05 10:00"),
    ("closed", "close", LEADER, {}, "2027-04-20 10:00"),
]


def open_handover(store: CaseStore, **changes: Any) -> int:
    return store.open_case("handover", {**HANDOVER_CASE, **changes}, at("2027-01-15 09:00"))


def drive(store: CaseStore, case_id: int, target: str, **overrides: dict[str, Any]) -> None:
    """Walk the happy path from wherever the case is until it is in ``target``."""
    order = ["registered", *(step[0] for step in STEPS)]
    current = store.snapshot(case_id).state
    for _state, event, actor, payload, when in STEPS[order.index(current) :]:
        if current == target:
            return
        current = store.fire(case_id, event, actor, overrides.get(event, payload), at(when)).dest
    assert current == target


TABLE: list[tuple[str, str, str, str | type[Exception]]] = [
    ("registered", "offer", NURSE, "offered"),
    ("registered", "offer", MOTHER, NotPermitted),
    ("registered", "accept", MOTHER, TransitionNotAllowed),
    ("offered", "accept", MOTHER, "accepted"),
    ("offered", "accept", NURSE, "accepted"),  # on the parents' behalf
    ("offered", "accept", LEADER, NotPermitted),
    ("offered", "decline", MOTHER, "declined"),
    ("accepted", "schedule_home_visit", NURSE, "home_visit_scheduled"),
    ("accepted", "complete_form", NURSE, TransitionNotAllowed),
    ("home_visit_scheduled", "complete_form", NURSE, "form_completed"),
    ("home_visit_scheduled", "cancel", NURSE, "accepted"),
    ("form_completed", "schedule_startup", LEADER, "startup_scheduled"),
    ("form_completed", "schedule_startup", PEDAGOGUE, NotPermitted),
    ("startup_scheduled", "hold_startup", LEADER, "handed_over"),
    ("handed_over", "close", LEADER, "closed"),
    ("handed_over", "withdraw", MOTHER, TransitionNotAllowed),
    ("closed", "withdraw", MOTHER, TransitionNotAllowed),
]
for live in (
    "registered",
    "offered",
    "accepted",
    "home_visit_scheduled",
    "form_completed",
    "startup_scheduled",
):
    TABLE.append((live, "withdraw", MOTHER, "withdrawn"))

INPUTS = {step[1]: step[3] for step in STEPS} | {"cancel": {"reason": "syg"}}
WHEN = {step[0]: step[4] for step in STEPS} | {"registered": "2027-01-16 09:00"}


@pytest.mark.parametrize(("state", "event", "actor", "expected"), TABLE)
def test_transition_table(
    store: CaseStore, state: str, event: str, actor: str, expected: str | type[Exception]
) -> None:
    case_id = open_handover(store)
    drive(store, case_id, state)
    now = at(WHEN[state])
    if isinstance(expected, str):
        assert store.fire(case_id, event, actor, INPUTS.get(event, {}), now).dest == expected
    else:
        with pytest.raises(expected):
            store.fire(case_id, event, actor, INPUTS.get(event, {}), now)


def test_a_start_date_in_the_past_is_refused_at_open(store: CaseStore) -> None:
    with pytest.raises(InvalidInput, match="start_date 2027-01-10 is not in the future"):
        open_handover(store, start_date="2027-01-10")


def test_a_cpr_number_has_no_place_in_the_case_file(store: CaseStore) -> None:
    with pytest.raises(InvalidInput, match="child_ref"):
        open_handover(store, child_ref="010203-1234")


def test_rule_1_the_nurse_is_reminded_to_offer_eight_weeks_before_start(store: CaseStore) -> None:
    case_id = open_handover(store)
    # start 1 April 2027 − 8 weeks = 4 February 08:00
    assert store.sweep(at("2027-02-04 07:59")).total == 0
    assert store.sweep(at("2027-02-04 08:00")).fired == {"handover/offer_reminder": 1}
    assert [(o["template"], o["to"]) for o in store.show(case_id)["outbox"]] == [
        ("reminder", NURSE)
    ]


def test_rule_1_no_offer_reminder_once_offered(store: CaseStore) -> None:
    case_id = open_handover(store)
    drive(store, case_id, "offered")
    assert store.sweep(at("2027-02-04 08:00")).total == 0
    # …but a reminder when the parents have not answered by start − 6 weeks (18 February).
    assert store.sweep(at("2027-02-18 08:00")).fired == {"handover/answer_reminder": 1}


def test_rule_2_consent_is_a_record_of_who_when_and_what(store: CaseStore) -> None:
    case_id = open_handover(store)
    drive(store, case_id, "accepted")
    consent = store.show(case_id)["data"]["consent"]
    assert consent == {
        "by": MOTHER,
        "at": "2027-01-25T09:00:00+01:00",
        "sections": ["health", "wishes"],
        "nurse_at_startup": True,
    }


def test_rule_2_a_refusal_ends_the_case_with_nothing_shared(store: CaseStore) -> None:
    case_id = open_handover(store)
    drive(store, case_id, "offered")
    store.fire(case_id, "decline", MOTHER, {}, at("2027-01-21 09:00"))
    shown = store.show(case_id)
    assert shown["state"] == "declined"
    assert "form" not in shown["data"] and "consent" not in shown["data"]
    assert shown["meetings"] == []


def test_a_section_typed_as_a_name_is_refused_and_never_repeated(
    store: CaseStore, db_url: str
) -> None:
    case_id = open_handover(store)
    drive(store, case_id, "home_visit_scheduled")
    before = dump(db_url)
    typed = "Ida Æblegaard 010203-1234\x1b[31m"
    with pytest.raises(InvalidInput) as refused:
        store.fire(
            case_id, "complete_form", NURSE, {"sections": {typed: "x"}}, at("2027-03-01 11:00")
        )
    assert "Æblegaard" not in str(refused.value) and "010203" not in str(refused.value)
    assert "\x1b" not in str(refused.value)
    assert dump(db_url) == before


def test_rule_2_complete_form_accepts_only_consented_sections(
    store: CaseStore, db_url: str
) -> None:
    case_id = open_handover(store)
    drive(store, case_id, "home_visit_scheduled")
    before = dump(db_url)
    with pytest.raises(GuardRejected, match="not consented to sharing adbb"):
        store.fire(
            case_id,
            "complete_form",
            NURSE,
            {"sections": {"health": "x", "adbb": "screening"}},
            at("2027-03-01 11:00"),
        )
    assert dump(db_url) == before


def test_rule_2_withdrawal_erases_form_and_scope_from_every_table(
    store: CaseStore, db_url: str
) -> None:
    case_id = open_handover(store)
    drive(store, case_id, "startup_scheduled")
    assert SECRET in repr(dump(db_url))
    store.fire(case_id, "withdraw", MOTHER, {}, at("2027-03-03 09:00"))
    everything = repr(dump(db_url))
    assert SECRET not in everything
    shown = store.show(case_id)
    assert shown["data"]["consent"] == {
        "by": MOTHER,
        "at": "2027-01-25T09:00:00+01:00",
        "withdrawn": True,
    }
    assert shown["history"][-1]["event"] == "withdraw"
    # Every open meeting is cancelled and its attendees get a CANCEL.
    startup = next(m for m in shown["meetings"] if m["key"] == "startup-1")
    assert startup["status"] == "cancelled"
    cancelled_to = sorted(o["to"] for o in shown["outbox"] if o["template"] == "cancellation")
    assert cancelled_to == sorted([MOTHER, NURSE, LEADER, PEDAGOGUE])


def test_rule_3_the_home_visit_lies_6_to_1_weeks_before_start(store: CaseStore) -> None:
    case_id = open_handover(store)
    drive(store, case_id, "accepted")
    early = {"start": "2027-02-10T10:00:00+01:00"}
    with pytest.raises(GuardRejected, match="between 2027-02-18 and 2027-03-25"):
        store.fire(case_id, "schedule_home_visit", NURSE, early, at("2027-01-26 09:00"))
    with_reason = {**early, "reason": "familien rejser i marts"}
    store.fire(case_id, "schedule_home_visit", NURSE, with_reason, at("2027-01-26 09:00"))
    assert store.show(case_id)["history"][-1]["details"] == {
        "outside_window_reason": "familien rejser i marts"
    }


def test_rule_3_a_home_visit_after_the_start_date_is_refused(store: CaseStore) -> None:
    case_id = open_handover(store)
    drive(store, case_id, "accepted")
    late = {"start": "2027-04-02T10:00:00+02:00", "reason": "any"}
    with pytest.raises(GuardRejected, match="must lie before the start date 2027-04-01"):
        store.fire(case_id, "schedule_home_visit", NURSE, late, at("2027-01-26 09:00"))


@pytest.mark.parametrize("nurse_at_startup", [True, False])
def test_rule_4_the_nurse_is_invited_to_the_startup_only_if_the_parents_chose_so(
    store: CaseStore, nurse_at_startup: bool
) -> None:
    case_id = open_handover(store)
    consent = {"sections": ["health", "wishes"], "nurse_at_startup": nurse_at_startup}
    drive(store, case_id, "form_completed", accept=consent)
    before = len(store.show(case_id)["outbox"])
    drive(store, case_id, "startup_scheduled")
    shown = store.show(case_id)
    startup = next(m for m in shown["meetings"] if m["key"] == "startup-1")
    expected = ["mor", "far", "leder", "paed"] + (["sp"] if nurse_at_startup else [])
    assert sorted(startup["participants"]) == sorted(expected)
    # Mail goes to those with an address: the father has none, and the nurse only if chosen.
    sent = sorted(o["to"] for o in shown["outbox"][before:] if o["template"] == "invitation")
    assert sent == sorted([MOTHER, LEADER, PEDAGOGUE] + ([NURSE] if nurse_at_startup else []))


def test_rule_4_startup_within_10_working_days_reminder_then_escalation(store: CaseStore) -> None:
    case_id = open_handover(store)
    drive(store, case_id, "form_completed")
    # Start Thursday 1 April 2027; 10 working days (Easter Monday is 29 March, before) → 15 April.
    assert store.sweep(at("2027-04-13 08:00")).fired == {"handover/startup_warning": 1}
    assert store.sweep(at("2027-04-16 00:00")).fired == {"handover/startup_overdue": 1}
    outbox = [(o["template"], o["to"]) for o in store.show(case_id)["outbox"]]
    assert outbox[-2:] == [("reminder", LEADER), ("escalation", COORDINATOR)]


def test_rule_5_the_daycare_sees_the_form_only_from_the_startup_on(store: CaseStore) -> None:
    readable_form = get_process("handover").form_reader
    assert readable_form is not None
    case_id = open_handover(store)
    drive(store, case_id, "startup_scheduled")
    with pytest.raises(GuardRejected, match="from the start-up conversation on"):
        readable_form(store.snapshot(case_id), PEDAGOGUE)
    assert readable_form(store.snapshot(case_id), MOTHER)["health"] == SECRET
    with pytest.raises(NotPermitted):
        readable_form(store.snapshot(case_id), COORDINATOR)
    drive(store, case_id, "handed_over")
    assert readable_form(store.snapshot(case_id), PEDAGOGUE) == {"health": SECRET, "wishes": "Ro"}
