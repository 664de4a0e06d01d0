"""Definitions change while cases run: a release that renames a state or a timer event must
not strand an open case. ``forloeb process check`` and ``db upgrade`` refuse such a
definition; ``forloeb process migrate`` moves the cases, one history row each — also when a
sweep ran first and set the renamed timer aside. On SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select, update

from persistence import CaseStore, HistoryRow, TimerRow
from persistence.definitions import migrate, stranded
from tests.cli_helpers import dump, run
from tests.conftest import LEADER, at, open_samraad

CONVENED_AT = at("2026-12-21 09:00")
#: The name a renamed timer event had in an earlier release.
OLD = "deadline_warning_v1"


def _convened_with_an_old_timer(store: CaseStore) -> int:
    """A convened samråd whose deadline warning still has the earlier release's name."""
    case_id = open_samraad(store)
    store.fire(case_id, "convene", LEADER, {}, CONVENED_AT)
    with store.engine.begin() as conn:
        conn.execute(
            update(TimerRow)
            .where(TimerRow.case_id == case_id, TimerRow.event == "deadline_warning")
            .values(event=OLD)
        )
    return case_id


def _timers(store: CaseStore, case_id: int) -> dict[str, str]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(TimerRow.event, TimerRow.status).where(TimerRow.case_id == case_id)
        )
        return {event: status for event, status in rows}


def test_check_and_upgrade_refuse_a_definition_that_strands_an_open_case(
    store: CaseStore, db_url: str
) -> None:
    case_id = _convened_with_an_old_timer(store)
    [found] = stranded(store.engine, "samraad")
    assert (found.kind, found.name, found.cases) == ("timer event", OLD, 1)
    before = dump(db_url)
    for command in (["process", "check"], ["db", "upgrade"]):
        refused = run(db_url, *command)
        assert refused.code == 2, (command, refused)
        assert f"forloeb process migrate samraad --map {OLD}=NEW" in refused.out + refused.err
    assert dump(db_url) == before
    assert _timers(store, case_id)[OLD] == "pending"


def test_migrate_dry_run_changes_nothing_and_migrate_moves_each_case_once(
    store: CaseStore, db_url: str
) -> None:
    case_id = _convened_with_an_old_timer(store)
    before = dump(db_url)
    dry = run(db_url, "process", "migrate", "samraad", "--map", f"{OLD}=deadline_warning",
              "--dry-run")  # fmt: skip
    assert dry.code == 0 and f"case {case_id}: timer {OLD} → deadline_warning" in dry.out
    assert dump(db_url) == before

    done = run(db_url, "process", "migrate", "samraad", "--map", f"{OLD}=deadline_warning")
    assert done.code == 0, done
    assert _timers(store, case_id)["deadline_warning"] == "pending"
    with store.engine.connect() as conn:
        last = conn.execute(
            select(HistoryRow.__table__)
            .where(HistoryRow.case_id == case_id)
            .order_by(HistoryRow.seq.desc())
        ).first()
    assert last is not None and last.event == "migrate"
    assert last.details == {"map": {"definition_version": last.details["map"]["definition_version"],
                                    "timers": {OLD: "deadline_warning"}}}  # fmt: skip
    assert last.context is not None and "os_user" in last.context
    assert stranded(store.engine, "samraad") == []
    again = run(db_url, "process", "migrate", "samraad", "--map", f"{OLD}=deadline_warning")
    assert again.code == 0 and "0 case(s) moved" in again.out  # nothing left to move


def test_a_sweep_before_the_migration_does_not_lose_the_deadline(store: CaseStore) -> None:
    case_id = _convened_with_an_old_timer(store)
    report = store.sweep(at("2027-01-04 09:00"))  # the warning is due, the deadline not yet
    assert [timer[1] for timer in report.failed] == [case_id]
    assert _timers(store, case_id)[OLD] == "failed"
    # Still seen as stranded, and the migration gives it back to the sweep.
    assert [s.name for s in stranded(store.engine, "samraad")] == [OLD]
    moved = migrate(store.engine, "samraad", {OLD: "deadline_warning"}, CONVENED_AT, "cli")
    assert [m.case_id for m in moved] == [case_id]
    assert _timers(store, case_id)["deadline_warning"] == "pending"
    fired = store.sweep(at("2027-01-04 09:05"))
    assert fired.fired == {"samraad/deadline_warning": 1} and not fired.failed
