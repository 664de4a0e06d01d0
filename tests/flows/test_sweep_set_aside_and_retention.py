"""The sweep flow and retention against the session's real Prefect server: a bad timer row
is set aside and reported (sweep summary, one event with ids only) while the others fire; a
purge removes the case's flow runs from Prefect, and only that case's; the sweep runs
retention once a day."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter
from sqlalchemy import insert, select

from flows.server import database_tag
from persistence import CaseRow, CaseStore, TimerRow, ensure_schema, make_engine
from persistence.retention import NEUTRAL, RetentionRunRow
from tests.cli_helpers import run, write_json
from tests.conftest import LEADER, at, open_samraad
from tests.test_handover_rules import HANDOVER_CASE, MOTHER, NURSE


async def _events_named(name: str, since: datetime) -> list[Any]:
    occurred = EventOccurredFilter(since=since, until=datetime.now(UTC) + timedelta(minutes=1))
    async with get_client() as client:
        page = await client.read_events(
            filter=EventFilter(occurred=occurred, event=EventNameFilter(name=[name])), limit=50
        )
    return list(page.events)


def wait_for_events(name: str, since: datetime, timeout: float = 60.0) -> list[Any]:
    """Events reach Prefect's database in batches (about every 5 s)."""
    deadline = time.monotonic() + timeout
    while True:
        events = asyncio.run(_events_named(name, since))
        if events or time.monotonic() > deadline:
            return events
        time.sleep(1)


async def _flow_runs_tagged(*tags: str) -> list[Any]:
    async with get_client() as client:
        return await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=list(tags)))
        )


def flow_runs_tagged(*tags: str) -> list[Any]:
    return asyncio.run(_flow_runs_tagged(*tags))


def test_a_sweep_sets_a_bad_timer_aside_reports_it_and_fires_the_rest(
    db_url: str, prefect_api: str
) -> None:
    engine = make_engine(db_url)
    store = CaseStore(engine)
    good = [open_samraad(store, at("2026-12-14 08:00")) for _ in range(2)]
    for case_id in good:
        store.fire(case_id, "convene", LEADER, {}, at("2026-12-14 09:00"))
    with engine.begin() as conn:
        bogus = conn.execute(
            insert(TimerRow.__table__).returning(TimerRow.id),  # type: ignore[arg-type]
            {"case_id": good[0], "event": "bogus_event", "due": at("2020-01-01 00:00"),
             "status": "pending"},
        ).scalar_one()  # fmt: skip

    since = datetime.now(UTC)  # the server is shared: only this sweep's events count
    result = run(db_url, "sweep", "--json", now="2026-12-23T08:30:00+01:00")

    assert result.code == 0, result.err
    swept = result.json()
    assert swept["fired"] == {"samraad/deadline_warning": 2}
    assert swept["failed"] == [
        {"timer": bogus, "case": good[0], "process": "samraad",
         "reason": "the process definition has no event 'bogus_event'"}
    ]  # fmt: skip
    with engine.connect() as conn:
        assert conn.execute(select(TimerRow.status).where(TimerRow.id == bogus)).scalar() == (
            "failed"
        )
    engine.dispose()
    # The text form says so too, in one line per timer; the next sweep does not retry it.
    again = run(db_url, "sweep", now="2026-12-23T08:35:00+01:00")
    assert again.code == 0 and "set aside" not in again.out

    events = [
        e for e in wait_for_events("forloeb.timers.failed", since)
        if bogus in e.payload.get("timer_ids", [])
    ]  # fmt: skip
    assert len(events) == 1
    assert events[0].payload == {"failed": 1, "timer_ids": [bogus], "case_ids": [good[0]]}


def test_a_purge_removes_the_cases_flow_runs_from_prefect_and_only_its(
    tmp_path: Path, prefect_api: str
) -> None:
    db_url = f"sqlite:///{tmp_path / 'forloeb.db'}"
    case_file = write_json(tmp_path, "case.json", HANDOVER_CASE)

    def ok(*args: str, now: str) -> str:
        result = run(db_url, *args, now=now)
        assert result.code == 0, (args, result.err)
        return result.out

    declined = ok("case", "open", "handover", "--file", case_file, "--by", NURSE,
                  now="2027-01-15T09:00:00+01:00").strip()  # fmt: skip
    ok("case", "fire", declined, "offer", "--by", NURSE, now="2027-01-20T09:00:00+01:00")
    ok("case", "fire", declined, "decline", "--by", MOTHER, now="2027-01-21T09:00:00+01:00")
    kept = ok("case", "open", "handover", "--file", case_file, "--by", NURSE,
              now="2027-01-15T09:05:00+01:00").strip()  # fmt: skip
    # Another database on the same Prefect server has a case with the same id.
    other_db = f"sqlite:///{tmp_path / 'other.db'}"
    other = run(other_db, "case", "open", "handover", "--file", case_file, "--by", NURSE,
                now="2027-01-15T09:00:00+01:00")  # fmt: skip
    assert other.code == 0 and other.out.strip() == declined, other.err
    ours, theirs = database_tag(db_url), database_tag(other_db)
    assert len(flow_runs_tagged(f"case:{declined}", ours)) == 3
    assert len(flow_runs_tagged(f"case:{kept}", ours)) == 1

    result = run(
        db_url, "retention", "run", "--json", now="2032-01-22T03:00:00+01:00",
        FORLOEB_RETENTION_MODE="purge",
    )  # fmt: skip

    assert result.code == 0, result.err
    report = result.json()
    assert report["cases"]["handover"] == 1
    assert report["prefect"] == {"flow_runs_deleted": 3, "cases_not_removed": []}
    assert flow_runs_tagged(f"case:{declined}", ours) == []
    assert len(flow_runs_tagged(f"case:{kept}", ours)) == 1
    assert len(flow_runs_tagged(f"case:{declined}", theirs)) == 1  # not this database's
    engine = make_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(select(RetentionRunRow.prefect)).scalar_one() == report["prefect"]
    engine.dispose()


def test_without_a_prefect_server_a_purge_still_purges_and_says_what_it_left(
    tmp_path: Path,
) -> None:
    db_url = f"sqlite:///{tmp_path / 'forloeb.db'}"
    engine = make_engine(db_url)
    ensure_schema(engine)
    store = CaseStore(engine)
    case_id = open_samraad(store)
    store.fire(case_id, "dismiss", LEADER, {"reason": "flyttet"}, at("2026-12-21 09:00"))
    engine.dispose()

    result = run(
        db_url, "retention", "run", now="2032-01-22T03:00:00+01:00",
        FORLOEB_RETENTION_MODE="purge", PREFECT_API_URL="",
        FORLOEB_HOME=str(tmp_path / "no-server"),
    )  # fmt: skip

    assert result.code == 0, result.err
    assert "samraad: 1 closed case(s) purged" in result.out
    assert "not removed (no Prefect server configured or running)" in result.out


def test_the_sweep_runs_retention_once_a_day(db_url: str, prefect_api: str) -> None:
    engine = make_engine(db_url)
    store = CaseStore(engine)
    case_id = open_samraad(store)
    store.fire(case_id, "dismiss", LEADER, {"reason": "flyttet"}, at("2026-12-21 09:00"))

    first = run(db_url, "sweep", "--json", now="2031-12-22T03:00:00+01:00")
    second = run(db_url, "sweep", "--json", now="2031-12-22T03:05:00+01:00")

    assert first.code == 0 and second.code == 0, (first.err, second.err)
    assert first.json()["retention"]["cases"]["samraad"] == 1
    assert second.json()["retention"] is None  # claimed once a day
    with engine.connect() as conn:
        assert len(conn.execute(select(RetentionRunRow.id)).all()) == 1
        assert conn.execute(select(CaseRow.title).where(CaseRow.id == case_id)).scalar() == (
            NEUTRAL
        )
    engine.dispose()
