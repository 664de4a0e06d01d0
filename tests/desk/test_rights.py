"""Who may use the desk's absence import (for which schools) and capacity pages
(``desk.rights``), on SQLite and PostgreSQL, without a browser."""

from __future__ import annotations

from desk.rights import Rights, rights_of
from desk.settings import DeskSettings
from persistence import CaseStore
from persistence.absence import SchoolEntry, import_schools
from tests.conftest import LEADER, PPR, SAMRAAD_CASE, at
from tests.test_coaching_rules import COACH, COACHING_CASE, COORDINATOR

SETTINGS = DeskSettings(secret="x" * 32, admins=frozenset({"drift@kommune.example.dk"}))
NOW = at("2026-12-21 08:00")


def test_rights_by_role_by_directory_and_for_admins(store: CaseStore) -> None:
    engine = store.engine
    assert rights_of(engine, SETTINGS, LEADER) == Rights()
    store.open_case("samraad", SAMRAAD_CASE, NOW)
    store.open_case("coaching", COACHING_CASE, NOW)
    # School leader on a samråd says nothing of which school's absence they may hand in.
    assert rights_of(engine, SETTINGS, LEADER) == Rights()
    assert rights_of(engine, SETTINGS, PPR) == Rights()
    assert rights_of(engine, SETTINGS, COACH) == Rights()
    # The coordinator is on both cases; only coaching's coordinator role counts here.
    assert rights_of(engine, SETTINGS, COORDINATOR) == Rights(capacity=True)
    assert rights_of(engine, SETTINGS, "drift@kommune.example.dk") == Rights(True, True)
    assert rights_of(engine, SETTINGS, None) == Rights()

    # A leader in the school directory, on no case yet.
    other = "leder@bakkeskolen.example.dk"
    assert rights_of(engine, SETTINGS, other) == Rights()
    entry = SchoolEntry(
        code="bakkeskolen",
        name="Bakkeskolen",
        leader_name="Lis Bak",
        leader_email=other,
        coordinator_name="Tovholder",
        coordinator_email=COORDINATOR,
    )
    import_schools(engine, [entry], now=NOW)
    mine = Rights(absence_import=True, schools=("bakkeskolen",))
    assert rights_of(engine, SETTINGS, other) == mine
    assert rights_of(engine, SETTINGS, other.upper()) == mine
