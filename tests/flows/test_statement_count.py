"""One ``forloeb case fire`` is one decision: at most 10 SQL statements, staging included.

Counted with a SQLAlchemy event listener on every engine (not a timer), for the whole
command run in this process: the schema check, staging, the flow's one transaction and
the flow run's name and tags. On SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, event

from flows.cli import cli
from persistence import CaseStore, close_stores

from ..conftest import LEADER, PPR, at, notes, open_samraad

LIMIT = 10


@pytest.fixture
def statements() -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    yield seen
    event.remove(Engine, "before_cursor_execute", count)


def _fire(
    db_url: str,
    case_id: int,
    event_name: str,
    by: str,
    payload: dict[str, Any],
    when: str,
    tmp: Path,
) -> None:
    path = tmp / f"{event_name}.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    close_stores()  # a fresh command: its own engine, its own schema check
    result = CliRunner().invoke(
        cli,
        ["case", "fire", str(case_id), event_name, "--by", by, "--file", str(path), "--at", when],
        env={"FORLOEB_DATABASE_URL": db_url, "FORLOEB_NOW": when, "FORLOEB_RUNNER": "off"},
    )
    assert result.exit_code == 0, result.stderr


@pytest.mark.xdist_group("prefect")
def test_one_case_fire_is_at_most_ten_statements(
    store_: CaseStore, db_url: str, prefect_api: str, statements: list[str], tmp_path: Path
) -> None:
    case_id = open_samraad(store_)
    steps = [
        ("convene", LEADER, {}, "2026-12-21T09:00:00+01:00"),
        ("schedule", LEADER, {"start": "2027-01-04T09:00:00+01:00"}, "2026-12-22T10:00:00+01:00"),
        ("start_meeting", PPR, {}, "2027-01-04T09:00:00+01:00"),
        ("next_round", PPR, {"notes": notes()}, "2027-01-04T09:30:00+01:00"),
    ]
    counts = {}
    for name, by, payload, when in steps:
        statements.clear()
        _fire(db_url, case_id, name, by, payload, when, tmp_path)
        counts[name] = len(statements)
    assert store_.snapshot(case_id).state == "round_2"
    assert all(count <= LIMIT for count in counts.values()), counts


@pytest.fixture
def store_(store: CaseStore) -> CaseStore:
    return store


def test_the_stored_decision_says_what_the_outcome_needs(store_: CaseStore) -> None:
    case_id = open_samraad(store_)
    stored = store_.fire(case_id, "convene", LEADER, {}, at("2026-12-21 09:00"))
    assert (stored.process, stored.version) == ("samraad", 2)
    assert stored.next_timer is not None and stored.next_timer[0] == "deadline_warning"
    scheduled = store_.fire(
        case_id, "schedule", LEADER, {"start": "2027-01-04T09:00:00+01:00"}, at("2026-12-22 10:00")
    )
    shown = store_.show(case_id)
    pending = [t for t in shown["timers"] if t["status"] == "pending"]
    assert scheduled.next_timer is not None
    assert [scheduled.next_timer[0]] == [min(pending, key=lambda t: t["due"])["event"]]
    waiting = sum(1 for o in shown["outbox"] if o["status"] == "pending")
    assert scheduled.messages_waiting == waiting and scheduled.messages_queued > 0
