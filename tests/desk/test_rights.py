"""Who may use the desk's absence import and capacity pages (``desk.rights``), on
SQLite and PostgreSQL, without a browser."""

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
    assert rights_of(engine, SETTINGS, LEADER) == Rights(absence_import=True)
    assert rights_of(engine, SETTINGS, LEADER.upper()) == Rights(absence_import=True)
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
    assert rights_of(engine, SETTINGS, other) == Rights(absence_import=True)
