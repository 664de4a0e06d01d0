"""The case store: one transaction per event, optimistic locking, the migration."""

from __future__ import annotations

import subprocess
import threading
import time
from typing import Any

import psycopg
import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from machines import Conflict, Engine
from persistence import HEAD, CaseStore, make_engine, schema_metadata
from persistence.database import MIGRATIONS

from ..cli_helpers import FORLOEB, dump
from ..conftest import LEADER, at, open_samraad


def test_the_head_constant_is_alembics_head() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD


def test_the_migration_creates_exactly_the_models_tables(db_url: str) -> None:
    engine = make_engine(db_url)
    tables = set(inspect(engine).get_table_names()) - {"alembic_version"}
    engine.dispose()
    assert tables == set(schema_metadata().tables)


def test_concurrent_fires_one_wins_the_other_conflicts(
    store: CaseStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    case_id = open_samraad(store)
    store.fire(case_id, "convene", LEADER, {}, at("2026-12-21 09:00"))
    # Both threads must have loaded the case before either stores: the barrier sits
    # between the machine's decision and the write.
    barrier = threading.Barrier(2, timeout=30)
    original = Engine.fire

    def fire_then_wait(self: Engine, *args: Any, **kwargs: Any) -> Any:
        decision = original(self, *args, **kwargs)
        barrier.wait()
        return decision

    monkeypatch.setattr(Engine, "fire", fire_then_wait)
    outcomes: list[str] = []

    def reschedule(start: str) -> None:
        try:
            store.fire(case_id, "schedule", LEADER, {"start": start}, at("2026-12-21 10:00"))
            outcomes.append("won")
        except Conflict:
            outcomes.append("conflict")

    threads = [
        threading.Thread(target=reschedule, args=(f"2027-01-0{d}T09:00:00+01:00",)) for d in (4, 5)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict", "won"]
    shown = store.show(case_id)
    assert shown["version"] == 3
    assert [h["event"] for h in shown["history"]] == ["open", "convene", "schedule"]
    assert len(shown["meetings"]) == 1
    assert len([o for o in shown["outbox"] if o["template"] == "invitation"]) == 7


def _waiting_backends(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()"
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_two_cli_processes_race_one_exits_4_and_history_has_no_gap(
    postgres_url: str, tmp_path: Any, prefect_api: str
) -> None:
    engine = make_engine(postgres_url)
    store = CaseStore(engine)
    case_id = open_samraad(store)
    store.fire(case_id, "convene", LEADER, {}, at("2026-12-21 09:00"))
    # Hold the case row: both processes load it, then both block on their UPDATE.
    blocker = psycopg.connect(postgres_url.replace("postgresql+psycopg", "postgresql"))
    blocker.execute("SELECT id FROM cases WHERE id = %s FOR UPDATE", (case_id,))
    env = {"FORLOEB_DATABASE_URL": postgres_url, "FORLOEB_NOW": "2026-12-21T10:00:00+01:00"}
    import os

    processes = [
        subprocess.Popen(
            [
                FORLOEB,
                "case",
                "fire",
                str(case_id),
                "schedule",
                "--by",
                LEADER,
                "--set",
                f"start=2027-01-0{d}T09:00:00+01:00",
            ],
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for d in (4, 5)
    ]
    deadline = time.monotonic() + 60
    while _waiting_backends(postgres_url) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    blocker.rollback()
    blocker.close()
    results = [(p.wait(timeout=60), p.stderr.read() if p.stderr else "") for p in processes]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 4], results
    loser = next(err for code, err in results if code == 4)
    assert loser.startswith(f"error: case {case_id} was changed by someone else")
    history = store.show(case_id)["history"]
    assert [h["event"] for h in history] == ["open", "convene", "schedule"]
    engine.dispose()


def test_a_refused_event_leaves_every_table_unchanged(db_url: str, store: CaseStore) -> None:
    case_id = open_samraad(store)
    before = dump(db_url)
    with pytest.raises(Exception, match="not allowed"):
        store.fire(case_id, "conclude", LEADER, {}, at("2026-12-21 09:00"))
    assert dump(db_url) == before


def test_times_round_trip_with_their_offset(store: CaseStore) -> None:
    case_id = open_samraad(store)
    store.fire(case_id, "convene", LEADER, {}, at("2026-12-21 09:00"))
    # Stored as UTC, read back as Copenhagen local time with its offset.
    store.fire(
        case_id, "schedule", LEADER, {"start": "2026-12-23T09:00:00+01:00"}, at("2026-12-21 10:00")
    )
    meeting = store.show(case_id)["meetings"][0]
    assert meeting["start"] == "2026-12-23T09:00:00+01:00"
    snap = store.snapshot(case_id)
    assert snap.meetings[0].start.utcoffset() is not None


def test_the_sweep_touches_only_due_timers(store: CaseStore) -> None:
    ids = [open_samraad(store, at("2026-12-14 08:00")) for _ in range(5)]
    for n, case_id in enumerate(ids):
        store.fire(case_id, "convene", LEADER, {}, at(f"2026-12-{14 + n} 09:00"))
    # Convened 14, 15, 16 Dec → warnings on 21, 22, 23 Dec at 08:00; 17 and 18 Dec →
    # warnings on 28 and 29 Dec. Deadlines: 23 Dec (end of day), 28 Dec, ...
    assert store.sweep(at("2026-12-23 08:30")).fired == {"samraad/deadline_warning": 3}
    assert store.sweep(at("2026-12-23 08:30")).total == 0  # nothing fires twice
    assert store.sweep(at("2026-12-24 00:00")).fired == {"samraad/deadline_passed": 1}
    assert [store.snapshot(i).state for i in ids] == ["overdue"] + ["convened"] * 4
