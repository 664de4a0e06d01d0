"""Fixtures for the absence tests: an engine on each backend (the shared ``db_url``
fixture gives SQLite always and PostgreSQL when FORLOEB_TEST_POSTGRES_URL is set), and
small helpers to write the CSV files a school would send."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from datetime import date, datetime

import pytest
from sqlalchemy import Engine

from flows import absence_csv
from machines import COPENHAGEN
from persistence import absence as repo
from persistence import make_engine

LEADER = "leder@vest.example.dk"
TEACHER = "laerer8@vest.example.dk"
COORDINATOR = "tovholder@kommune.example.dk"

DIRECTORY = (
    "school,name,leader_name,leader_email,coordinator_email,grade,teacher_name,teacher_email\n"
    f"vest,Vestskolen,Birgitte Holm,{LEADER},{COORDINATOR},8,Jens Øster,{TEACHER}\n"
    f"vest,Vestskolen,Birgitte Holm,{LEADER},{COORDINATOR},3,Ida Krogh,\n"
    f"oest,Østskolen,Karen Lund,leder@oest.example.dk,{COORDINATOR},,,\n"
)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def csv_text(
    rows: Iterable[tuple[object, ...]], header: str = ",".join(absence_csv.REGISTRATION_COLUMNS)
) -> str:
    return header + "\n" + "".join(",".join(str(v) for v in row) + "\n" for row in rows)


def registrations(
    pupil: str,
    days: Iterable[date],
    code: str = "S",
    period: str = "morning",
    grade: int = 8,
    school: str = "vest",
) -> list[tuple[object, ...]]:
    return [(pupil, school, grade, d.isoformat(), period, code) for d in days]


def import_text(
    engine: Engine, text: str, name: str = "test.csv", school: str | None = None
) -> repo.ImportReport:
    """A registrations file as the command imports it: read and checked, then written."""
    rows = absence_csv.read_registrations(io.StringIO(text), name=name, school=school)
    return repo.import_registrations(engine, rows)


def load(engine: Engine, rows: Iterable[tuple[object, ...]]) -> repo.ImportReport:
    return import_text(engine, csv_text(rows))


def directory(engine: Engine) -> None:
    schools = absence_csv.read_schools(io.StringIO(DIRECTORY), name="schools.csv")
    repo.import_schools(engine, schools, now=at("2026-01-05"))


def at(day: str, hour: int = 18) -> datetime:
    """Evening of a day in Copenhagen: the day's registrations are in."""
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=COPENHAGEN)
