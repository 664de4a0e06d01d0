"""Who may grant: only a coordinator gives someone the powers of a leader of the case
(``coordinator`` or ``school_leader``), when convening or adding a person."""

from __future__ import annotations

from typing import Any

import pytest

from machines import GuardRejected
from persistence import CaseStore

from .conftest import COORDINATOR, LEADER, at, open_samraad

NEWCOMER = "ny@example.dk"


def _person(role: str) -> dict[str, Any]:
    return {"key": "ny", "role": role, "name": "Ny Person", "email": NEWCOMER}


@pytest.mark.parametrize("role", ["coordinator", "school_leader"])
def test_a_school_leader_may_not_make_someone_a_leader_of_the_case(
    store: CaseStore, role: str
) -> None:
    case_id = open_samraad(store)
    version = store.snapshot(case_id).version
    with pytest.raises(
        GuardRejected, match=f"only the coordinator may give someone the role {role}"
    ):
        store.fire(case_id, "add_participant", LEADER, _person(role), at("2026-12-21 09:00"))
    with pytest.raises(GuardRejected, match="only the coordinator"):
        convened = {"participants": [_person("teacher") | {"key": "t2"}, _person(role)]}
        store.fire(case_id, "convene", LEADER, convened, at("2026-12-21 09:00"))
    assert store.snapshot(case_id).version == version, "a refusal writes nothing"
    assert NEWCOMER not in {p.email for p in store.snapshot(case_id).participants}


@pytest.mark.parametrize("role", ["coordinator", "school_leader"])
def test_the_coordinator_may_grant_and_the_person_then_has_the_powers(
    store: CaseStore, role: str
) -> None:
    case_id = open_samraad(store)
    store.fire(case_id, "add_participant", COORDINATOR, _person(role), at("2026-12-21 09:00"))
    assert store.fire(case_id, "convene", NEWCOMER, {}, at("2026-12-21 09:05")).dest == "convened"


def test_a_school_leader_still_adds_people_without_powers(store: CaseStore) -> None:
    case_id = open_samraad(store)
    store.fire(case_id, "add_participant", LEADER, _person("teacher"), at("2026-12-21 09:00"))
    convened = {"participants": [_person("uu_counselor") | {"key": "uu"}]}
    assert store.fire(case_id, "convene", LEADER, convened, at("2026-12-21 09:05")).dest == (
        "convened"
    )
