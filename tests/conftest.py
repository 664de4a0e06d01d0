"""Shared fixtures: a case store on SQLite and, when FORLOEB_TEST_POSTGRES_URL is set, on
PostgreSQL. CI sets it, so there every database test runs twice and none is skipped."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, text

from machines import COPENHAGEN
from persistence import CaseStore, ensure_schema, make_engine, schema_metadata

from . import prefect_harness

PG_URL = os.environ.get("FORLOEB_TEST_POSTGRES_URL")

# The tests drive cases on a simulated clock (FORLOEB_NOW), which forloeb honours only when
# asked to on purpose; the subprocesses they start inherit this.
os.environ["FORLOEB_SIMULATED_CLOCK"] = "1"


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the controller; workers inherit its env
        prefect_harness.configure_session()


def pytest_unconfigure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):
        prefect_harness.finish_session()


@pytest.fixture(scope="session")
def prefect_api() -> str:
    """A real Prefect server for this test session (started on first use)."""
    return prefect_harness.ensure()


LEADER = "leder@skole.example.dk"
PPR = "ppr-i@ppr.example.dk"
COORDINATOR = "tovholder@kommune.example.dk"

SAMRAAD_CASE: dict[str, Any] = {
    "title": "Skolen ved Søerne",
    "location": "Skolen ved Søerne, lokale 2",
    "participants": [
        {"key": "elev", "role": "pupil", "name": "Ida Æblegaard", "email": "ida@example.dk"},
        {"key": "mor", "role": "parent", "name": "Åse Æblegaard", "email": "aase@example.dk"},
        {"key": "leder", "role": "school_leader", "name": "Birgitte Holm", "email": LEADER},
        {
            "key": "laerer",
            "role": "teacher",
            "name": "Jens Øster",
            "email": "jens@skole.example.dk",
        },
        {"key": "ppr-i", "role": "ppr_interviewer", "name": "Mads Krogh", "email": PPR},
        {
            "key": "ppr-r",
            "role": "ppr_referent",
            "name": "Signe Friis",
            "email": "signe@ppr.example.dk",
        },
        {
            "key": "soc",
            "role": "school_social_worker",
            "name": "Aylin Demir",
            "email": "aylin@skole.example.dk",
        },
        {"key": "tov", "role": "coordinator", "name": "Karen Lund", "email": COORDINATOR},
    ],
}
PRESENT = ["elev", "mor", "leder", "laerer", "ppr-i", "ppr-r", "soc"]


def at(text_: str) -> datetime:
    """A Copenhagen wall-clock time, e.g. at("2026-12-21 09:00")."""
    return datetime.fromisoformat(text_).replace(tzinfo=COPENHAGEN)


def notes(keys: list[str] = PRESENT) -> dict[str, str]:
    return {k: f"note from {k}" for k in keys}


def _postgres_database(worker: str) -> str:
    assert PG_URL is not None
    name = f"forloeb_test_{worker}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return PG_URL.rsplit("/", 1)[0] + f"/{name}"


def _drop_postgres_database(url: str) -> None:
    assert PG_URL is not None
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_url(worker_id: str) -> Iterator[str]:
    if not PG_URL:
        pytest.skip("FORLOEB_TEST_POSTGRES_URL is not set (CI sets it)")
    url = _postgres_database(worker_id)
    engine = make_engine(url)
    ensure_schema(engine)
    engine.dispose()
    yield url
    _drop_postgres_database(url)


def _truncate(engine: Engine) -> None:
    tables = ", ".join(t.name for t in schema_metadata().sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """A fresh, migrated database URL on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'forloeb.db'}"
        engine = make_engine(url)
        ensure_schema(engine)
        engine.dispose()
        yield url
        return
    url = request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    _truncate(engine)
    engine.dispose()
    yield url


@pytest.fixture
def store(db_url: str) -> Iterator[CaseStore]:
    engine = make_engine(db_url)
    yield CaseStore(engine)
    engine.dispose()


def open_samraad(store: CaseStore, now: datetime | None = None, **changes: Any) -> int:
    case_file = {**SAMRAAD_CASE, **changes}
    return store.open_case("samraad", case_file, now or at("2026-12-21 08:00"))


def drive_to(store: CaseStore, case_id: int, target: str) -> None:
    """Walk a samråd case along the happy path until it is in ``target``."""
    steps: list[tuple[str, str, str, dict[str, Any]]] = [
        ("convened", "convene", LEADER, {}),
        ("scheduled", "schedule", LEADER, {"start": "2027-01-04T09:00:00+01:00"}),
        ("round_1", "start_meeting", PPR, {}),
        ("round_2", "next_round", PPR, {"notes": notes()}),
        ("round_3", "next_round", PPR, {"notes": notes()}),
        (
            "concluded",
            "conclude",
            LEADER,
            {
                "notes": notes(),
                "decisions": ["morning agreement"],
                "follow_up": {"start": "2027-02-01T09:00:00+01:00"},
            },
        ),
        (
            "follow_up_pending",
            "send_action_plan",
            LEADER,
            {"items": [{"owner": "laerer", "action": "call home", "due": "2027-01-08"}]},
        ),
        ("closed", "hold_follow_up", LEADER, {"outcome": "close"}),
    ]
    times = {
        "convene": "2026-12-21 09:00",
        "schedule": "2026-12-22 10:00",
        "start_meeting": "2027-01-04 09:00",
        "next_round": "2027-01-04 09:30",
        "conclude": "2027-01-04 10:20",
        "send_action_plan": "2027-01-05 12:00",
        "hold_follow_up": "2027-02-01 10:00",
    }
    for state, event, actor, payload in steps:
        if store.snapshot(case_id).state == target:
            return
        store.fire(case_id, event, actor, payload, at(times[event]))
        if state == target:
            return
