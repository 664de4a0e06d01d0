"""The read rule the desk and the CLI share (machines/access.py)."""

from __future__ import annotations

import json

from machines import OPERATOR, Reader, case_view, form_for, may_read
from persistence import CaseStore
from tests.conftest import LEADER, SAMRAAD_CASE, at, drive_to, open_samraad
from tests.test_handover_rules import MOTHER, PEDAGOGUE, SECRET, drive, open_handover
from tests.test_learning_group_rules import PEDAGOGUE as GROUP_PEDAGOGUE
from tests.test_learning_group_rules import note, running


def test_only_participants_and_the_operator_may_read_a_case(store: CaseStore) -> None:
    case = store.snapshot(open_samraad(store))
    assert may_read(case, Reader(LEADER))
    assert may_read(case, Reader(LEADER.upper()))  # addresses compare case-insensitively
    assert may_read(case, OPERATOR)
    assert not may_read(case, Reader("fremmed@example.dk"))


def test_the_operator_view_holds_nothing_personal(store: CaseStore) -> None:
    case_id = open_samraad(store)
    drive_to(store, case_id, "closed")
    snapshot = store.snapshot(case_id)
    shown = store.show(case_id)
    seen = json.dumps(case_view(snapshot, shown, OPERATOR), ensure_ascii=False)
    for p in SAMRAAD_CASE["participants"]:
        assert p["name"] not in seen and p["email"] not in seen
    for personal in ("note from", "morning agreement", "call home", SAMRAAD_CASE["title"]):
        assert personal not in seen
    assert '"state": "closed"' in seen and "school_leader:leder" in seen
    # A participant sees the notes: they are written to the case's participants.
    mine = json.dumps(case_view(snapshot, shown, Reader(LEADER)), ensure_ascii=False)
    assert "note from elev" in mine and "morning agreement" in mine


def test_the_form_only_by_the_consent_rules(store: CaseStore) -> None:
    case_id = open_handover(store)
    drive(store, case_id, "startup_scheduled")
    snapshot = store.snapshot(case_id)
    assert form_for(snapshot, Reader(PEDAGOGUE)) is None
    assert form_for(snapshot, Reader(MOTHER)) == {"health": SECRET, "wishes": "Ro"}
    assert form_for(snapshot, OPERATOR) is None
    # The general view never carries the form, whoever reads it.
    assert SECRET not in json.dumps(case_view(snapshot, store.show(case_id), Reader(MOTHER)))
    drive(store, case_id, "handed_over")
    assert form_for(store.snapshot(case_id), Reader(PEDAGOGUE)) == {
        "health": SECRET,
        "wishes": "Ro",
    }


def test_a_learning_groups_notes_are_read_through_its_form_only(store: CaseStore) -> None:
    case_id = running(store)
    store.fire(
        case_id,
        "write_note",
        GROUP_PEDAGOGUE,
        note("2027-01-11T10:00:00+01:00", "barn-b2", motorik="klatrer sikkert"),
        at("2027-01-11 11:00"),
    )
    snapshot = store.snapshot(case_id)
    general = json.dumps(case_view(snapshot, store.show(case_id), Reader(GROUP_PEDAGOGUE)))
    assert "klatrer sikkert" not in general
    assert form_for(snapshot, Reader(GROUP_PEDAGOGUE)) == {
        "2027-01-11T10:00:00+01:00": "barn-b2 – motorik: klatrer sikkert"
    }
    assert form_for(snapshot, Reader("fremmed@example.dk")) is None
