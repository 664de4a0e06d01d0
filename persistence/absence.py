"""Absence registrations, school calendars, the school directory, episodes and tasks.

The registrations table is the big one (a municipality has millions of rows a year), so
it is built for bulk work: integer columns only, the day as a date ordinal
(``date.toordinal()``), a clustered primary key on SQLite (``WITHOUT ROWID``), imports
by ``executemany`` upserts (SQLite) or ``COPY`` into a temporary table (PostgreSQL), and
a scan that aggregates in SQL and counts per pupil in ``machines.absence.Detector``.
No ORM object is ever made per registration.

Episodes and tasks are what a scan found; they make a re-scan idempotent.
"""

from __future__ import annotations

import csv
import io
import json
import queue
import re
import threading
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TextIO, TypeVar, cast

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import (
    JSON,
    Connection,
    Date,
    Dialect,
    Engine,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    UniqueConstraint,
    and_,
    bindparam,
    delete,
    insert,
    or_,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from machines.absence import (
    ABSENT_CODES,
    END_OF_DAY,
    HALF_DAY_GRADES,
    KIND_ABSENT,
    KIND_COMES_GOES,
    KIND_END_U,
    KIND_U,
    KINDS,
    MORNING,
    TASK_TITLES,
    AbsenceRules,
    CalendarLayer,
    Detector,
    EpisodeHit,
    HolidayPeriod,
    SchoolCalendar,
    national_tasks,
    parse_period,
    quarter_bounds,
    quarter_of,
)
from machines.errors import InvalidInput
from machines.inputs import Email, OneLine
from machines.workdays import WorkingCalendar

from .models import Base, CaseRow, Id

_T = TypeVar("_T")

# ---------------------------------------------------------------- tables


class DayNumber(TypeDecorator[date]):
    """A date stored as its proleptic ordinal (``date.toordinal()``): 4 bytes, integer
    comparisons and arithmetic on both backends, no text dates in a 10-million-row table."""

    impl = Integer
    cache_ok = True

    def process_bind_param(self, value: date | None, dialect: Dialect) -> int | None:
        return None if value is None else value.toordinal()

    def process_result_value(self, value: int | None, dialect: Dialect) -> date | None:
        return None if value is None else date.fromordinal(value)


class SchoolRow(Base):
    """The school directory. A school first seen in a registration file gets a row with
    its code as name and no people, until ``forloeb schools import`` fills it in."""

    __tablename__ = "absence_schools"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    leader_name: Mapped[str | None] = mapped_column(String(200))
    leader_email: Mapped[str | None] = mapped_column(String(320))
    coordinator_name: Mapped[str | None] = mapped_column(String(200))
    coordinator_email: Mapped[str | None] = mapped_column(String(320))
    updated_at: Mapped[datetime | None]


class TeacherRow(Base):
    """The teacher a samråd about a pupil of this grade invites (one per school and grade)."""

    __tablename__ = "absence_teachers"

    school_id: Mapped[int] = mapped_column(
        ForeignKey("absence_schools.id", ondelete="CASCADE"), primary_key=True
    )
    grade: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))


class PupilRow(Base):
    """A pupil by pseudonymous reference; school and grade are those of the latest day."""

    __tablename__ = "absence_pupils"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pupil_ref: Mapped[str] = mapped_column(String(40), unique=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("absence_schools.id"))
    grade: Mapped[int] = mapped_column(SmallInteger)
    last_day: Mapped[date] = mapped_column(DayNumber)

    __table_args__ = (Index("ix_absence_pupils_school", "school_id"),)


class RegistrationRow(Base):
    """One registration slot: pupil, day, period (0 morning, 1–20 lesson, 100 end of day)."""

    __tablename__ = "absence_registrations"

    pupil_id: Mapped[int] = mapped_column(
        ForeignKey("absence_pupils.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(DayNumber, primary_key=True)
    period: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(1))
    grade: Mapped[int] = mapped_column(SmallInteger)

    # Clustered by pupil on SQLite: the scan reads each pupil's rows together.
    __table_args__ = ({"sqlite_with_rowid": False},)


class HolidayPeriodRow(Base):
    """A school's (or, with school ``*``, every school's) holiday period."""

    __tablename__ = "absence_holiday_periods"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    school: Mapped[str] = mapped_column(String(40))
    first_day: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date] = mapped_column(Date)
    name: Mapped[str] = mapped_column(String(200))

    __table_args__ = (UniqueConstraint("school", "first_day", name="uq_absence_holiday_start"),)


class EpisodeRow(Base):
    """A run of school days on which a threshold was met. At most one samråd per episode.

    status: ``new`` (no case yet), ``opening`` (a scan is opening its case),
    ``case_opened`` (``case_id`` is the case it opened), ``joined`` (the pupil had an
    open case already; ``case_id`` is that case).
    """

    __tablename__ = "absence_episodes"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    pupil_id: Mapped[int] = mapped_column(ForeignKey("absence_pupils.id", ondelete="CASCADE"))
    first_day: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date] = mapped_column(Date)
    rules: Mapped[dict[str, Any]] = mapped_column(JSON)  # rule → first hit, dates
    rule_names: Mapped[str] = mapped_column(String(60))  # the keys of rules, sorted
    status: Mapped[str] = mapped_column(String(20))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("pupil_id", "first_day", name="uq_absence_episode_start"),
        Index("ix_absence_episodes_pupil_last", "pupil_id", "last_day"),
        Index(
            "ix_absence_episodes_new",
            "id",
            sqlite_where=text("status = 'new'"),
            postgresql_where=text("status = 'new'"),
        ),
    )


class TaskRow(Base):
    """A national-rule task for the school leader, once per pupil, quarter and kind."""

    __tablename__ = "absence_tasks"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    pupil_id: Mapped[int] = mapped_column(ForeignKey("absence_pupils.id", ondelete="CASCADE"))
    school_id: Mapped[int] = mapped_column(ForeignKey("absence_schools.id"))
    quarter: Mapped[str] = mapped_column(String(6))  # e.g. 2026Q1
    kind: Mapped[str] = mapped_column(String(30))
    u_halves: Mapped[int] = mapped_column(Integer)  # U in half days when the task arose
    school_days: Mapped[int] = mapped_column(Integer)  # school days in the quarter
    created_at: Mapped[datetime]
    mailed_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("pupil_id", "quarter", "kind", name="uq_absence_task"),
        Index(
            "ix_absence_tasks_unmailed",
            "id",
            sqlite_where=text("mailed_at IS NULL"),
            postgresql_where=text("mailed_at IS NULL"),
        ),
    )


# Typed handles for Core statements (``Model.__table__`` is typed as a bare FromClause).
SCHOOLS = cast(Table, SchoolRow.__table__)
TEACHERS = cast(Table, TeacherRow.__table__)
PUPILS = cast(Table, PupilRow.__table__)
REGISTRATIONS = cast(Table, RegistrationRow.__table__)
HOLIDAY_PERIODS = cast(Table, HolidayPeriodRow.__table__)
EPISODES = cast(Table, EpisodeRow.__table__)
TASKS = cast(Table, TaskRow.__table__)
TABLES = (SCHOOLS, TEACHERS, PUPILS, REGISTRATIONS, HOLIDAY_PERIODS, EPISODES, TASKS)

# ---------------------------------------------------------------- CSV reading

#: How many bad rows an error message lists before "and N more".
ERROR_LIMIT = 20
_CHUNK = 50_000
_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
# As strict as the case file's Pseudonym: ten digits anywhere may be a CPR number.
_CPR = re.compile(r"\d{6}-?\d{4}")
_SCHOOL = re.compile(r"^[A-Za-z0-9æøåÆØÅ][A-Za-z0-9æøåÆØÅ_.-]{0,39}$")
_GRADES = {str(g): g for g in range(0, 11)}


class _Errors:
    def __init__(self, name: str) -> None:
        self.name = name
        self.lines: list[str] = []
        self.count = 0

    def add(self, line: int, reason: str) -> None:
        self.count += 1
        if len(self.lines) < ERROR_LIMIT:
            self.lines.append(f"line {line}: {reason}")

    def raise_if_any(self) -> None:
        if not self.count:
            return
        more = self.count - len(self.lines)
        listed = "; ".join(self.lines) + (f"; and {more} more" if more else "")
        rows = "1 bad row" if self.count == 1 else f"{self.count} bad rows"
        raise InvalidInput(
            f"{self.name}: {rows}, nothing imported — {listed}; "
            "correct the file and import it again"
        )


class _Counted:
    """Feeds lines to ``csv.reader`` and counts the characters read, for a progress bar."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.chars = 0

    def __iter__(self) -> Iterator[str]:
        for line in self.stream:
            self.chars += len(line)
            yield line


def _open_csv(
    stream: TextIO, name: str, required: Sequence[str], optional: Sequence[str] = ()
) -> tuple[Iterator[list[str]], Any, dict[str, int], _Counted]:
    """Read the header (``;`` or ``,`` separated, whichever the header uses) and return a
    reader over the rest, the column positions, and the character counter."""
    try:
        header = stream.readline()
    except UnicodeDecodeError:
        raise InvalidInput(
            f"{name} is not UTF-8 text; save it as CSV UTF-8 and import again"
        ) from None
    header = header.removeprefix("\ufeff")  # a byte-order mark read as text
    if not header.strip():
        raise InvalidInput(
            f"{name} is empty; the first line must be the header: {','.join(required)}"
        )
    delimiter = ";" if header.count(";") > header.count(",") else ","
    columns = [c.strip().lower() for c in next(csv.reader([header], delimiter=delimiter))]
    missing = [c for c in required if c not in columns]
    if missing:
        raise InvalidInput(
            f"{name}: the header lacks {', '.join(missing)}; the first line must name the "
            f"columns {','.join(required)}"
            + (f" (optional: {','.join(optional)})" if optional else "")
        )
    positions = {c: columns.index(c) for c in (*required, *optional) if c in columns}
    counted = _Counted(stream)
    counted.chars = len(header)
    reader = csv.reader(counted, delimiter=delimiter, strict=True)
    return reader, reader, positions, counted


def _rows(reader: Iterator[list[str]], state: Any, name: str) -> Iterator[tuple[int, list[str]]]:
    """(file line number, fields) for every non-blank row; decoding problems are one error."""
    try:
        for fields in reader:
            if fields and any(f.strip() for f in fields):
                yield state.line_num + 1, fields  # + 1: the header was read separately
    except UnicodeDecodeError:
        raise InvalidInput(
            f"{name} is not UTF-8 text (near line {state.line_num + 2}); "
            "save it as CSV UTF-8 and import again"
        ) from None
    except csv.Error as exc:
        raise InvalidInput(
            f"{name}: line {state.line_num + 1}: {exc}; correct the file and import it again"
        ) from None


def _parse_day(text_: str) -> date:
    if len(text_) != 10 or text_[4] != "-" or text_[7] != "-":
        raise ValueError
    day = date.fromisoformat(text_)
    if not 2000 <= day.year <= 2100:
        raise ValueError
    return day


def _check_ref(ref: str) -> str | None:
    if _CPR.search(ref):
        # Not a digit of it is repeated: the message goes to a terminal and maybe a log.
        return "pupil_ref looks like a CPR number; use the pseudonymous pupil reference"
    if not _KEY.match(ref):
        return (
            f"pupil_ref {ref!r} is not a reference (lower-case letters, digits, '-' and '_', "
            "at most 40)"
        )
    return None


def _check_school(code: str) -> str | None:
    if not _SCHOOL.match(code):
        return (
            f"school {code!r} is not a school code (letters, digits, '.', '-' and '_', at most 40)"
        )
    return None


# ---------------------------------------------------------------- registrations import


@dataclass
class ImportReport:
    rows: int = 0
    changed: int = 0  # new or different from what was stored
    pupils_new: int = 0
    schools_new: list[str] = field(default_factory=list)
    first_day: date | None = None
    last_day: date | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "changed": self.changed,
            "unchanged": self.rows - self.changed if self.changed <= self.rows else 0,
            "pupils_new": self.pupils_new,
            "schools_new": self.schools_new,
            "first_day": self.first_day.isoformat() if self.first_day else None,
            "last_day": self.last_day.isoformat() if self.last_day else None,
        }


REGISTRATION_COLUMNS = ("pupil_ref", "school", "grade", "date", "period", "code")

_SQLITE_UPSERT = (
    "INSERT INTO absence_registrations (pupil_id, day, period, code, grade) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (pupil_id, day, period) DO UPDATE "
    "SET code = excluded.code, grade = excluded.grade "
    "WHERE absence_registrations.code <> excluded.code "
    "OR absence_registrations.grade <> excluded.grade"
)
_PG_STAGE = (
    "CREATE TEMPORARY TABLE absence_import (pupil_id integer, day integer, period smallint, "
    "code varchar(1), grade smallint, line bigint) ON COMMIT DROP"
)
# A later row for the same slot wins: DISTINCT ON keeps the highest line number within a
# chunk, and a later chunk is upserted after an earlier one.
_PG_UPSERT = (
    "INSERT INTO absence_registrations (pupil_id, day, period, code, grade) "
    "SELECT DISTINCT ON (pupil_id, day, period) pupil_id, day, period, code, grade "
    "FROM absence_import ORDER BY pupil_id, day, period, line DESC "
    "ON CONFLICT (pupil_id, day, period) DO UPDATE "
    "SET code = EXCLUDED.code, grade = EXCLUDED.grade "
    "WHERE absence_registrations.code <> EXCLUDED.code "
    "OR absence_registrations.grade <> EXCLUDED.grade"
)


class _Writer:
    """Resolves pupils and schools to ids and writes registrations, chunk by chunk, inside
    the import's one transaction (so a rejected file leaves nothing behind)."""

    def __init__(self, conn: Connection, report: ImportReport) -> None:
        self.conn = conn
        self.report = report
        self.pg = conn.dialect.name == "postgresql"
        self.schools: dict[str, int] = {
            code: id_ for id_, code in conn.execute(select(SchoolRow.id, SchoolRow.code))
        }
        self.pupils: dict[str, int] = {}
        self.stored: dict[int, tuple[int, int, int]] = {}  # id -> (last_day, school, grade)
        for id_, ref, school_id, grade, last_day in conn.execute(
            select(
                PupilRow.id,
                PupilRow.pupil_ref,
                PupilRow.school_id,
                PupilRow.grade,
                type_coerce(PUPILS.c.last_day, Integer),
            )
        ):
            self.pupils[ref] = id_
            self.stored[id_] = (last_day, school_id, grade)
        self.latest: dict[int, tuple[int, int, int]] = {}
        self.line = 0
        if self.pg:
            conn.exec_driver_sql(_PG_STAGE)

    def _school_ids(self, codes: Iterable[str]) -> None:
        new = sorted(set(codes) - self.schools.keys())
        if not new:
            return
        rows = self.conn.execute(
            insert(SchoolRow).returning(SchoolRow.id, SchoolRow.code),
            [{"code": c, "name": c} for c in new],
        )
        self.schools.update({code: id_ for id_, code in rows})
        self.report.schools_new.extend(new)

    def _pupil_ids(self, chunk: list[tuple[str, str, int, int, int, str]]) -> None:
        first_seen: dict[str, tuple[str, int, int]] = {}
        for ref, school, grade, day, _period, _code in chunk:
            if ref not in self.pupils and ref not in first_seen:
                first_seen[ref] = (school, grade, day)
        if not first_seen:
            return
        rows = self.conn.execute(
            insert(PupilRow).returning(PupilRow.id, PupilRow.pupil_ref),
            [
                {
                    "pupil_ref": ref,
                    "school_id": self.schools[school],
                    "grade": grade,
                    "last_day": date.fromordinal(day),
                }
                for ref, (school, grade, day) in first_seen.items()
            ],
        )
        for id_, ref in rows:
            self.pupils[ref] = id_
            school, grade, day = first_seen[ref]
            self.stored[id_] = (day, self.schools[school], grade)
        self.report.pupils_new += len(first_seen)

    def write(self, chunk: list[tuple[str, str, int, int, int, str]]) -> None:
        self._school_ids(row[1] for row in chunk)
        self._pupil_ids(chunk)
        pupils, schools, latest = self.pupils, self.schools, self.latest
        values = []
        for ref, school, grade, day, period, code in chunk:
            pid = pupils[ref]
            values.append((pid, day, period, code, grade))
            seen = latest.get(pid)
            if seen is None or day >= seen[0]:
                latest[pid] = (day, schools[school], grade)
        if self.pg:
            raw = self.conn.connection.driver_connection
            assert raw is not None
            buffer = io.StringIO()
            line = self.line
            for pid, day, period, code, grade in values:
                line += 1
                buffer.write(f"{pid}\t{day}\t{period}\t{code}\t{grade}\t{line}\n")
            self.line = line
            with (
                raw.cursor() as cursor,
                cursor.copy(
                    "COPY absence_import (pupil_id, day, period, code, grade, line) FROM STDIN"
                ) as copy,
            ):
                copy.write(buffer.getvalue())
            # Upsert chunk by chunk: the server works on one while we parse the next.
            result = self.conn.exec_driver_sql(_PG_UPSERT)
            self.report.changed += max(result.rowcount, 0)
            self.conn.exec_driver_sql("TRUNCATE absence_import")
        else:
            result = self.conn.exec_driver_sql(_SQLITE_UPSERT, values)
            self.report.changed += max(result.rowcount, 0)

    def finish(self) -> None:
        moved = [
            {"pid": pid, "school_id": school, "grade": grade, "day": day}
            for pid, (day, school, grade) in self.latest.items()
            if day >= self.stored[pid][0] and self.stored[pid] != (day, school, grade)
        ]
        if moved:
            table = PUPILS
            self.conn.execute(
                update(table)
                .where(table.c.id == bindparam("pid"))
                .values(
                    school_id=bindparam("school_id"),
                    grade=bindparam("grade"),
                    last_day=bindparam("day", type_=Integer),
                ),
                moved,
            )


def import_registrations(
    engine: Engine,
    stream: TextIO,
    *,
    name: str = "the file",
    school: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import a registrations CSV in one transaction: all rows or, if any row is bad,
    none (the error lists the bad rows). Re-importing changes nothing; a later row for
    the same pupil, day and period replaces the stored one."""
    if school is not None and (problem := _check_school(school)):
        raise InvalidInput(f"--school: {problem}")
    required = [c for c in REGISTRATION_COLUMNS if not (c == "school" and school)]
    reader, state, pos, counted = _open_csv(stream, name, required, ["school"] if school else [])
    i_ref, i_grade, i_date, i_period, i_code = (
        pos["pupil_ref"],
        pos["grade"],
        pos["date"],
        pos["period"],
        pos["code"],
    )
    i_school = pos.get("school")
    width = max(pos.values()) + 1
    errors = _Errors(name)
    report = ImportReport()
    days: dict[str, int] = {}
    periods: dict[str, int] = {"morning": MORNING, "end_of_day": END_OF_DAY}
    refs: set[str] = set()
    codes_ok: set[str] = set()
    chunk: list[tuple[str, str, int, int, int, str]] = []
    span = [0, 0]  # first and last day (ordinals) of the file

    def chunks() -> Iterator[list[tuple[str, str, int, int, int, str]]]:
        nonlocal chunk
        for line, fields in _rows(reader, state, name):
            if len(fields) < width:
                errors.add(line, f"{len(fields)} fields, expected {len(pos)} or more")
                continue
            ref = fields[i_ref].strip()
            if ref not in refs:
                problem = _check_ref(ref)
                if problem:
                    errors.add(line, problem)
                    continue
                refs.add(ref)
            code_of_school = fields[i_school].strip() if i_school is not None else ""
            if school:
                if not code_of_school:
                    code_of_school = school
                elif code_of_school != school:
                    errors.add(line, f"school {code_of_school!r} is not {school!r} (--school)")
                    continue
            if code_of_school not in codes_ok:
                problem = _check_school(code_of_school) if code_of_school else "school is empty"
                if problem:
                    errors.add(line, problem)
                    continue
                codes_ok.add(code_of_school)
            grade = _GRADES.get(fields[i_grade].strip())
            if grade is None:
                errors.add(line, f"grade {fields[i_grade].strip()!r} is not 0–10")
                continue
            raw_day = fields[i_date].strip()
            day = days.get(raw_day)
            if day is None:
                try:
                    day = _parse_day(raw_day).toordinal()
                except ValueError:
                    errors.add(line, f"date {raw_day!r} is not a date (YYYY-MM-DD)")
                    continue
                days[raw_day] = day
            raw_period = fields[i_period].strip()
            period = periods.get(raw_period)
            if period is None:
                try:
                    period = parse_period(raw_period)
                except ValueError as exc:
                    errors.add(line, str(exc))
                    continue
                periods[raw_period] = period
            code = fields[i_code].strip().upper()
            if len(code) != 1 or code not in "SLUFT":
                errors.add(line, f"code {fields[i_code].strip()!r} is not one of S, L, U, F, T")
                continue
            if errors.count:
                continue  # keep reading to report every bad row, but write no more
            chunk.append((ref, code_of_school, grade, day, period, code))
            report.rows += 1
            if not span[0] or day < span[0]:
                span[0] = day
            if day > span[1]:
                span[1] = day
            if len(chunk) >= _CHUNK:
                yield chunk
                chunk = []
                if progress is not None:
                    progress(counted.chars)
        if chunk and not errors.count:
            yield chunk

    with engine.begin() as conn:
        writer = _Writer(conn, report)
        if writer.pg:
            _overlapped(chunks(), writer.write)
        else:
            # sqlite3 holds the GIL while it binds parameters: a thread would not overlap.
            for part in chunks():
                writer.write(part)
        errors.raise_if_any()  # rolls the transaction back: nothing is imported
        writer.finish()
    if progress is not None:
        progress(counted.chars)
    first, last = span
    report.first_day = date.fromordinal(first) if first else None
    report.last_day = date.fromordinal(last) if last else None
    return report


# ---------------------------------------------------------------- calendar import

CALENDAR_COLUMNS = ("school", "first_day", "last_day")
ALL_SCHOOLS = "*"


@dataclass
class CalendarImportReport:
    periods: int = 0
    schools: list[str] = field(default_factory=list)
    replaced: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"periods": self.periods, "schools": self.schools, "replaced": self.replaced}


def import_calendar(
    engine: Engine, stream: TextIO, *, name: str = "the file"
) -> CalendarImportReport:
    """Holiday periods ``school,first_day,last_day[,name]``; school ``*`` for every school.

    For each school in the file, the stored periods overlapping the file's span for that
    school are replaced: importing next school year's calendar keeps this year's, and
    importing a corrected file replaces the wrong one.
    """
    reader, state, pos, _ = _open_csv(stream, name, CALENDAR_COLUMNS, ["name"])
    errors = _Errors(name)
    periods: dict[str, list[HolidayPeriod]] = {}
    width = max(pos.values()) + 1
    for line, fields in _rows(reader, state, name):
        if len(fields) < width:
            errors.add(line, f"{len(fields)} fields, expected {len(pos)}")
            continue
        school = fields[pos["school"]].strip()
        if school != ALL_SCHOOLS and (problem := _check_school(school)):
            errors.add(line, problem)
            continue
        try:
            first = _parse_day(fields[pos["first_day"]].strip())
            last = _parse_day(fields[pos["last_day"]].strip())
        except ValueError:
            errors.add(line, "first_day and last_day must be dates (YYYY-MM-DD)")
            continue
        if last < first:
            errors.add(line, f"last_day {last} is before first_day {first}")
            continue
        if (last - first).days > 366:
            errors.add(line, "a holiday period longer than a year is not a holiday period")
            continue
        label = fields[pos["name"]].strip() if "name" in pos and len(fields) > pos["name"] else ""
        if any(ch in label for ch in "\r\n\x00") or len(label) > 200:
            errors.add(line, "name must be one line of at most 200 characters")
            continue
        periods.setdefault(school, []).append(HolidayPeriod(first, last, label))
    errors.raise_if_any()
    report = CalendarImportReport(schools=sorted(periods))
    table = HOLIDAY_PERIODS
    with engine.begin() as conn:
        for school, items in periods.items():
            lo = min(p.first_day for p in items)
            hi = max(p.last_day for p in items)
            gone = conn.execute(
                delete(table).where(
                    table.c.school == school, table.c.last_day >= lo, table.c.first_day <= hi
                )
            )
            report.replaced += max(gone.rowcount, 0)
            unique = {p.first_day: p for p in items}  # a later row for the same start wins
            conn.execute(
                insert(table),
                [
                    {
                        "school": school,
                        "first_day": p.first_day,
                        "last_day": p.last_day,
                        "name": p.name,
                    }
                    for p in unique.values()
                ],
            )
            report.periods += len(unique)
    return report


def school_calendars(
    conn: Connection, codes: Iterable[str], working: WorkingCalendar
) -> dict[str, SchoolCalendar]:
    """Each school's calendar: its own periods, then the ``*`` periods, then the defaults."""
    by_school: dict[str, list[HolidayPeriod]] = {}
    for school, first, last, label in conn.execute(
        select(
            HolidayPeriodRow.school,
            HolidayPeriodRow.first_day,
            HolidayPeriodRow.last_day,
            HolidayPeriodRow.name,
        )
    ):
        by_school.setdefault(school, []).append(HolidayPeriod(first, last, label))
    municipal = CalendarLayer(tuple(by_school.get(ALL_SCHOOLS, ())))
    result = {}
    for code in codes:
        own = CalendarLayer(tuple(by_school.get(code, ())))
        result[code] = SchoolCalendar(working, (own, municipal))
    return result


# ---------------------------------------------------------------- school directory

SCHOOL_COLUMNS = ("school", "name", "leader_name", "leader_email", "coordinator_email")
SCHOOL_OPTIONAL = ("coordinator_name", "grade", "teacher_name", "teacher_email")
DEFAULT_COORDINATOR_NAME = "Kommunal tovholder"
_EMAIL: TypeAdapter[str] = TypeAdapter(Email)
_LINE: TypeAdapter[str] = TypeAdapter(OneLine)


@dataclass
class SchoolsImportReport:
    schools: int = 0
    teachers: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"schools": self.schools, "teachers": self.teachers}


def _valid(adapter: TypeAdapter[str], value: str, what: str, limit: int = 200) -> str:
    try:
        result = adapter.validate_python(value)
    except ValidationError as exc:
        raise ValueError(
            f"{what}: {str(exc.errors()[0]['msg']).removeprefix('Value error, ')}"
        ) from None
    if not result or len(result) > limit:
        raise ValueError(f"{what} must be 1–{limit} characters")
    return result


def import_schools(
    engine: Engine, stream: TextIO, *, name: str = "the file", now: datetime
) -> SchoolsImportReport:
    """The school directory: ``school,name,leader_name,leader_email,coordinator_email``,
    optionally ``coordinator_name`` and a teacher per grade (``grade,teacher_name,
    teacher_email``; one row per grade, the school's columns repeated). A school in the
    file gets exactly the teachers the file gives it."""
    reader, state, pos, _ = _open_csv(stream, name, SCHOOL_COLUMNS, SCHOOL_OPTIONAL)
    errors = _Errors(name)
    schools: dict[str, dict[str, Any]] = {}
    teachers: dict[str, dict[int, dict[str, Any]]] = {}

    def cell(fields: list[str], column: str) -> str:
        i = pos.get(column)
        return fields[i].strip() if i is not None and i < len(fields) else ""

    for line, fields in _rows(reader, state, name):
        code = cell(fields, "school")
        try:
            if problem := _check_school(code):
                raise ValueError(problem)
            school = {
                "name": _valid(_LINE, cell(fields, "name"), "name"),
                "leader_name": _valid(_LINE, cell(fields, "leader_name"), "leader_name"),
                "leader_email": _valid(_EMAIL, cell(fields, "leader_email"), "leader_email", 320),
                "coordinator_name": _valid(
                    _LINE,
                    cell(fields, "coordinator_name") or DEFAULT_COORDINATOR_NAME,
                    "coordinator_name",
                ),
                "coordinator_email": _valid(
                    _EMAIL, cell(fields, "coordinator_email"), "coordinator_email", 320
                ),
            }
            if code in schools and schools[code] != school:
                raise ValueError(f"school {code!r} is described differently on an earlier line")
            raw_grade = cell(fields, "grade")
            if raw_grade:
                grade = _GRADES.get(raw_grade)
                if grade is None:
                    raise ValueError(f"grade {raw_grade!r} is not 0–10")
                if grade in teachers.get(code, {}):
                    raise ValueError(f"grade {grade} of {code!r} has a teacher on an earlier line")
                teacher_email = cell(fields, "teacher_email")
                teachers.setdefault(code, {})[grade] = {
                    "name": _valid(_LINE, cell(fields, "teacher_name"), "teacher_name"),
                    "email": _valid(_EMAIL, teacher_email, "teacher_email", 320)
                    if teacher_email
                    else None,
                }
            elif cell(fields, "teacher_name") or cell(fields, "teacher_email"):
                raise ValueError("a teacher needs the grade they teach (column grade)")
        except ValueError as exc:
            errors.add(line, str(exc))
            continue
        schools[code] = school
    errors.raise_if_any()
    report = SchoolsImportReport(schools=len(schools))
    with engine.begin() as conn:
        stmt = _dialect_insert(conn)(SCHOOLS)
        rows = [{"code": code, **values, "updated_at": now} for code, values in schools.items()]
        if rows:
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["code"],
                    set_={c: stmt.excluded[c] for c in rows[0] if c != "code"},
                ),
                rows,
            )
        ids = {
            code: id_
            for code, id_ in conn.execute(
                select(SchoolRow.code, SchoolRow.id).where(SchoolRow.code.in_(schools))
            )
        }
        table = TEACHERS
        if ids:
            conn.execute(delete(table).where(table.c.school_id.in_(ids.values())))
        teacher_rows = [
            {"school_id": ids[code], "grade": grade, **values}
            for code, by_grade in teachers.items()
            for grade, values in by_grade.items()
        ]
        if teacher_rows:
            conn.execute(insert(table), teacher_rows)
        report.teachers = len(teacher_rows)
    return report


def _dialect_insert(conn: Connection) -> Any:
    # Both dialects spell ON CONFLICT the same way; the constructs live in each dialect.
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


# ---------------------------------------------------------------- bulk writes


def _bulk_insert(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    constants: Mapping[str, Any],
) -> None:
    """``INSERT … ON CONFLICT DO NOTHING`` of many rows without SQLAlchemy's per-row
    parameter processing: ``executemany`` on SQLite; on PostgreSQL ``COPY`` into a
    temporary table (psycopg formats COPY rows in C) and one ``INSERT … SELECT``.
    ``constants`` are the same for every row and bound once."""
    if not rows:
        return
    dialect = conn.dialect
    names = [*columns, *constants]
    if dialect.name == "postgresql":
        raw = conn.connection.driver_connection
        assert raw is not None
        stage = f"bulk_{table.name}"
        json_columns = {k for k, c in enumerate(columns) if isinstance(table.c[c].type, JSON)}
        conn.exec_driver_sql(
            f"CREATE TEMPORARY TABLE {stage} ON COMMIT DROP AS "
            f"SELECT {', '.join(columns)} FROM {table.name} WITH NO DATA"
        )
        with (
            raw.cursor() as cursor,
            cursor.copy(f"COPY {stage} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in rows:
                if json_columns:
                    row = tuple(
                        json.dumps(v) if k in json_columns else v for k, v in enumerate(row)
                    )
                copy.write_row(row)
        binds = [bindparam(f"k_{n}", v, type_=table.c[n].type) for n, v in constants.items()]
        selected = [*columns, *(f":k_{n}" for n in constants)]
        conn.execute(
            text(
                f"INSERT INTO {table.name} ({', '.join(names)}) "
                f"SELECT {', '.join(selected)} FROM {stage} ON CONFLICT DO NOTHING"
            ).bindparams(*binds)
        )
        conn.exec_driver_sql(f"DROP TABLE {stage}")
        return

    def processor(column: str) -> Callable[[Any], Any] | None:
        type_ = table.c[column].type
        return type_.dialect_impl(dialect).bind_processor(dialect)

    processors = [processor(c) for c in columns]
    fixed = tuple(
        p(v) if (p := processor(name)) is not None else v for name, v in constants.items()
    )
    if any(processors):
        rows = [
            tuple(p(v) if p is not None else v for p, v in zip(processors, row, strict=True))
            for row in rows
        ]
    placeholders = ", ".join("?" * len(names))
    conn.exec_driver_sql(
        f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({placeholders}) "
        "ON CONFLICT DO NOTHING",
        [(*row, *fixed) for row in rows],
    )


# ---------------------------------------------------------------- detection


@dataclass(slots=True)
class NewEpisode:
    pupil_id: int
    first_day: date
    last_day: date
    rules: dict[str, Any]


@dataclass(slots=True)
class NewTask:
    pupil_id: int
    school_id: int
    quarter: str
    kind: str
    u_halves: int
    school_days: int
    pupil_ref: str  # for the coordinator's report; not written with the task
    school: str


@dataclass
class Detection:
    """What one scan found, before anything is written."""

    as_of: date
    since: date
    pupils: int = 0
    new_episodes: list[NewEpisode] = field(default_factory=list)
    continued: list[dict[str, Any]] = field(default_factory=list)  # id, last_day, rules
    unchanged: int = 0
    new_tasks: list[NewTask] = field(default_factory=list)


def scan_range(
    calendars: Mapping[str, SchoolCalendar], as_of: date, rules: AbsenceRules, since: date | None
) -> tuple[date, date, list[str]]:
    """(since, base, quarters): hits are looked for from ``since`` (default: the first day
    of the previous quarter); registrations are read from ``base``, early enough to fill
    the longest window before ``since`` and the whole of ``since``'s quarter."""
    if since is None:
        current = quarter_bounds(quarter_of(as_of))[0]
        since = quarter_bounds(quarter_of(current - timedelta(days=1)))[0]
    since = min(since, as_of)
    base = quarter_bounds(quarter_of(since))[0]
    for calendar in calendars.values():
        before = calendar.school_days(since - timedelta(days=3 * rules.longest_window + 60), since)
        before = [d for d in before if d < since]
        if before:
            base = min(base, before[-min(len(before), rules.longest_window)])
    quarters = []
    q = quarter_of(since)
    while True:
        quarters.append(q)
        last = quarter_bounds(q)[1]
        if last >= as_of:
            break
        q = quarter_of(last + timedelta(days=1))
    return since, base, quarters


def _aggregate_sql(dialect: str, school_filter: bool, pupil_filter: bool = False) -> str:
    """One row per pupil: the registrations that count, each as ``offset * 4 + kind``
    (see ``machines.absence.KIND_*``), comma-separated.

    One aggregate, not one per kind, and no WHERE for the kinds: a row that does not
    count gets a NULL kind, which the aggregate skips. Both choices measured ~15–40 %
    cheaper in SQLite, where this query is the scan's largest single cost. The import
    guarantees the codes, so a morning that is not F or T is S, L or U.
    """
    kind = (
        f"CASE WHEN r.code IN ('F', 'T') THEN {KIND_COMES_GOES} "
        f"WHEN r.period = {MORNING} "
        f"THEN CASE WHEN r.code = 'U' THEN {KIND_U} ELSE {KIND_ABSENT} END "
        f"WHEN r.period = {END_OF_DAY} AND r.code = 'U' AND r.grade >= {HALF_DAY_GRADES.start} "
        f"THEN {KIND_END_U} END"
    )
    value = f"(r.day - :base) * {KINDS} + {kind}"
    if dialect == "postgresql":
        aggregate = f"string_agg(CAST({value} AS text), ',')"
    else:
        aggregate = f"group_concat({value})"
    join = "JOIN absence_pupils p ON p.id = r.pupil_id " if school_filter else ""
    where = "AND p.school_id = :school " if school_filter else ""
    if pupil_filter:
        where += "AND r.pupil_id = :pupil "
    return (
        f"SELECT r.pupil_id, {aggregate} FROM absence_registrations r {join}"
        f"WHERE r.day BETWEEN :lo AND :hi {where}"
        "GROUP BY r.pupil_id"
    )


_BATCH = 500


def _raw_rows(conn: Connection, sql: str) -> list[tuple[Any, ...]]:
    raw = conn.connection.driver_connection
    assert raw is not None
    cursor = raw.cursor()
    try:
        cursor.execute(sql)
        return [tuple(row) for row in cursor.fetchall()]
    finally:
        cursor.close()


def _overlapped(batches: Iterator[_T], work: Callable[[_T], None]) -> None:
    """Fetch batches here and ``work`` on them in a second thread. psycopg releases the
    GIL while it waits for the server, so PostgreSQL's work (aggregating, upserting) and
    ours (parsing, counting) run side by side instead of one after the other."""
    pending: queue.Queue[_T | None] = queue.Queue(maxsize=8)
    failure: list[BaseException] = []

    def worker() -> None:
        while (batch := pending.get()) is not None:
            if not failure:
                try:
                    work(batch)
                except BaseException as exc:  # re-raised in the fetching thread
                    failure.append(exc)

    thread = threading.Thread(target=worker, name="absence-scan", daemon=True)
    thread.start()
    try:
        for batch in batches:
            if failure:
                break
            pending.put(batch)
    finally:
        pending.put(None)
        thread.join()
    if failure:
        raise failure[0]


def _offsets(text_: str | None) -> list[int]:
    # json.loads parses a list of integers in C, about twice as fast as split and int.
    return json.loads(f"[{text_}]") if text_ else []


def detect(
    conn: Connection,
    as_of: date,
    rules: AbsenceRules,
    *,
    since: date | None = None,
    school: str | None = None,
    working: WorkingCalendar | None = None,
) -> Detection:
    """Count every pupil's absence up to ``as_of`` and compare with what earlier scans
    recorded: new episodes, continued episodes, new national tasks. Writes nothing."""
    working = working or WorkingCalendar.from_env()
    school_rows = [(id_, code) for id_, code in conn.execute(select(SchoolRow.id, SchoolRow.code))]
    school_id = None
    if school is not None:
        school_id = next((id_ for id_, code in school_rows if code == school), None)
        if school_id is None:
            raise InvalidInput(
                f"there is no school {school!r}; import its registrations or its directory first"
            )
        school_rows = [(school_id, school)]
    code_of = dict(school_rows)
    calendars = school_calendars(conn, code_of.values(), working)
    since, base, quarters = scan_range(calendars, as_of, rules, since)
    detection = Detection(as_of, since)
    # Schools with the same calendar (the usual case) share one detector.
    by_calendar: dict[SchoolCalendar, Detector] = {}
    detectors: dict[int, Detector] = {}
    for id_, code in code_of.items():
        calendar = calendars[code]
        if calendar not in by_calendar:
            by_calendar[calendar] = Detector(rules, calendar, base, as_of, since, quarters)
        detectors[id_] = by_calendar[calendar]

    pupils: dict[int, tuple[int, str]] = {}
    query = select(PupilRow.id, PupilRow.school_id, PupilRow.pupil_ref)
    if school_id is not None:
        query = query.where(PupilRow.school_id == school_id)
    for pid, sid, ref in conn.execute(query):
        pupils[pid] = (sid, ref)
    detection.pupils = len(pupils)

    stored: dict[int, list[tuple[int, date, date, frozenset[str]]]] = {}
    for eid, pid, first, last, names in conn.execute(
        select(
            EPISODES.c.id,
            EPISODES.c.pupil_id,
            EPISODES.c.first_day,
            EPISODES.c.last_day,
            EPISODES.c.rule_names,
        ).where(EPISODES.c.last_day >= base)
    ):
        stored.setdefault(pid, []).append((eid, first, last, frozenset(names.split(","))))

    # Through the driver's cursor: plain tuples, no SQLAlchemy row per task (a dense
    # first scan leaves hundreds of thousands). Quarters are ours ("2026Q1"), not input.
    existing_tasks = set(
        _raw_rows(
            conn,
            "SELECT pupil_id, quarter, kind FROM absence_tasks WHERE quarter IN ("
            + ", ".join(f"'{q}'" for q in quarters if re.fullmatch(r"\d{4}Q[1-4]", q))
            + ")",
        )
    )

    params: dict[str, Any] = {
        "base": base.toordinal(),
        "lo": base.toordinal(),
        "hi": as_of.toordinal(),
    }
    if school_id is not None:
        params["school"] = school_id
    sql = text(_aggregate_sql(conn.dialect.name, school_id is not None))
    if conn.dialect.name == "postgresql":
        # The plan streams pupil by pupil from the primary key; compiling it (JIT) costs
        # more than it saves, and a streamed plan lets us count while the server reads.
        conn.exec_driver_sql("SET LOCAL jit = off")

    def count(batch: Sequence[Any]) -> None:
        for pid, encoded in batch:
            pupil = pupils.get(pid)
            if pupil is None or not encoded:
                continue
            detector = detectors[pupil[0]]
            days = detector.read(_offsets(encoded))
            for hit in detector.episodes(days):
                _match_episode(detection, detector, pid, hit, stored.get(pid, ()))
            for u in detector.quarters_u(days):
                quarter = detector.quarters[u.quarter]
                for kind in national_tasks(u):
                    if (pid, quarter, kind) not in existing_tasks:
                        detection.new_tasks.append(
                            NewTask(
                                pid,
                                pupil[0],
                                quarter,
                                kind,
                                u.u_halves,
                                u.school_days,
                                pupil[1],
                                code_of[pupil[0]],
                            )
                        )

    # Per statement: Connection.execution_options() would change the connection for good.
    options = {"stream_results": True, "yield_per": _BATCH}
    result = conn.execute(sql, params, execution_options=options)
    if conn.dialect.name == "postgresql":
        _overlapped(result.partitions(_BATCH), count)
    else:
        # sqlite3 takes the GIL back after every row it steps: a second thread would wait
        # in turn instead of running beside it (measured: no gain), so count in line.
        for batch in result.partitions(_BATCH):
            count(batch)
    return detection


def _match_episode(
    detection: Detection,
    detector: Detector,
    pid: int,
    hit: EpisodeHit,
    stored: Iterable[tuple[int, date, date, frozenset[str]]],
) -> None:
    """A computed episode continues a stored one when it overlaps it or starts fewer than
    ``episode_gap`` school days after it ended; otherwise it is new."""
    rules = detector.rules
    days = detector.days
    first_day, last_day = days[hit.first], days[hit.last]
    for eid, s_first, s_last, s_rules in sorted(stored, key=lambda s: s[1], reverse=True):
        if s_first > last_day:
            continue
        s_last_index = bisect_right(days, s_last) - 1
        if s_last_index < 0 or hit.first - s_last_index - 1 >= rules.episode_gap:
            continue
        added = {r: at for r, at in hit.first_hits.items() if r not in s_rules}
        if last_day > s_last or added:
            detection.continued.append(
                {
                    "id": eid,
                    "last_day": max(last_day, s_last),
                    "added": {r: detector.iso[at] for r, at in added.items()},
                }
            )
        else:
            detection.unchanged += 1
        return
    # Only the day each rule was first met: the dates behind it are looked up when a case
    # is opened (most episodes of a big first scan never need them).
    first_hits = {r: detector.iso[at] for r, at in hit.first_hits.items()}
    detection.new_episodes.append(NewEpisode(pid, first_day, last_day, first_hits))


@dataclass
class Recorded:
    episodes_new: int
    episodes_continued: int
    tasks_new: list[NewTask]


def _rule_names(rules: Iterable[str]) -> str:
    return ",".join(sorted(rules))


def record(conn: Connection, detection: Detection, now: datetime) -> Recorded:
    """Write what a scan found. Unique keys make a concurrent or repeated scan harmless."""
    _bulk_insert(
        conn,
        EPISODES,
        ("pupil_id", "first_day", "last_day", "rules", "rule_names"),
        [
            (e.pupil_id, e.first_day, e.last_day, e.rules, _rule_names(e.rules))
            for e in detection.new_episodes
        ],
        {"status": "new", "created_at": now, "updated_at": now},
    )
    for change in detection.continued:
        # Few per day (the episodes still going on): read-modify-write is fine here.
        row = conn.execute(
            select(EPISODES.c.rules, EPISODES.c.last_day).where(EPISODES.c.id == change["id"])
        ).one()
        merged = {**row.rules, **change["added"]}
        conn.execute(
            update(EPISODES)
            .where(EPISODES.c.id == change["id"])
            .values(
                last_day=max(row.last_day, change["last_day"]),
                rules=merged,
                rule_names=_rule_names(merged),
                updated_at=now,
            )
        )
    _bulk_insert(
        conn,
        TASKS,
        ("pupil_id", "school_id", "quarter", "kind", "u_halves", "school_days"),
        [
            (t.pupil_id, t.school_id, t.quarter, t.kind, t.u_halves, t.school_days)
            for t in detection.new_tasks
        ],
        {"created_at": now},
    )
    return Recorded(len(detection.new_episodes), len(detection.continued), detection.new_tasks)


# ---------------------------------------------------------------- reading back


def episode_concern(
    conn: Connection,
    episode: Mapping[str, Any],
    rules: AbsenceRules,
    working: WorkingCalendar | None = None,
) -> list[dict[str, Any]]:
    """The thresholds an episode met, each with the dates behind it, for the case file:
    read again from the registrations with the school's calendar."""
    first_hits = {r: date.fromisoformat(d) for r, d in (episode["rules"] or {}).items()}
    if not first_hits:
        return []
    working = working or WorkingCalendar.from_env()
    calendar = school_calendars(conn, [episode["code"]], working)[episode["code"]]
    last = max(first_hits.values())
    first = min(first_hits.values()) - timedelta(days=3 * rules.longest_window + 60)
    detector = Detector(rules, calendar, first, last)
    params = {
        "base": first.toordinal(),
        "lo": first.toordinal(),
        "hi": last.toordinal(),
        "pupil": episode["pupil_id"],
    }
    sql = text(_aggregate_sql(conn.dialect.name, False, pupil_filter=True))
    row = conn.execute(sql, params).first()
    pupil = detector.read(_offsets(row[1] if row else None))
    where = {day: i for i, day in enumerate(detector.days)}
    found = {r: where[d] for r, d in first_hits.items() if d in where}
    evidence = detector.evidence(pupil, found)
    return [
        {"rule": rule, **evidence.get(rule, {"first_hit": day.isoformat()})}
        for rule, day in first_hits.items()
    ]


#: A claim this old is taken to be from a scan that died while opening the case.
CLAIM_TIMEOUT = timedelta(minutes=10)


def episodes_without_case(conn: Connection, now: datetime) -> list[dict[str, Any]]:
    """Episodes waiting for the case step (new, or claimed by a scan that died), with
    what a case file needs."""
    e, p, s = EPISODES, PUPILS, SCHOOLS
    rows = conn.execute(
        select(
            e.c.id,
            e.c.pupil_id,
            e.c.first_day,
            e.c.last_day,
            e.c.rules,
            e.c.created_at,
            p.c.pupil_ref,
            p.c.grade,
            p.c.school_id,
            s.c.code,
            s.c.name,
            s.c.leader_name,
            s.c.leader_email,
            s.c.coordinator_name,
            s.c.coordinator_email,
        )
        .join(p, p.c.id == e.c.pupil_id)
        .join(s, s.c.id == p.c.school_id)
        .where(_claimable(now))
        .order_by(e.c.id)
    ).mappings()
    return [dict(r) for r in rows]


def _claimable(now: datetime) -> Any:
    stale = and_(EPISODES.c.status == "opening", EPISODES.c.updated_at < now - CLAIM_TIMEOUT)
    return or_(EPISODES.c.status == "new", stale)


def claim_episode(conn: Connection, episode_id: int, now: datetime) -> bool:
    """Take an episode for the case step; False when another scan has it. Two scans at
    once (the sweep and a coordinator) must not open two cases for one episode."""
    result = conn.execute(
        update(EPISODES)
        .where(EPISODES.c.id == episode_id, _claimable(now))
        .values(status="opening", updated_at=now)
    )
    return result.rowcount == 1


def teacher_of(conn: Connection, school_id: int, grade: int) -> tuple[str, str | None] | None:
    row = conn.execute(
        select(TeacherRow.name, TeacherRow.email).where(
            TeacherRow.school_id == school_id, TeacherRow.grade == grade
        )
    ).first()
    return (row[0], row[1]) if row else None


def open_case_of(conn: Connection, pupil_id: int, finals: Iterable[str]) -> int | None:
    """The pupil's open samråd case found by an earlier episode, if any."""
    return conn.execute(
        select(CaseRow.id)
        .join(EPISODES, EPISODES.c.case_id == CaseRow.id)
        .where(EPISODES.c.pupil_id == pupil_id, CaseRow.state.not_in(list(finals)))
        .order_by(CaseRow.id.desc())
        .limit(1)
    ).scalar()


def cases_for_episodes(conn: Connection, since: datetime) -> dict[int, int]:
    """Episode id → case, for samråd cases opened by a scan since ``since``: finds a case
    whose link to its episode was not written (a crash between the two transactions)."""
    episode = CaseRow.data[("case_file", "concern", "episode_id")].as_integer()
    rows = conn.execute(
        select(episode, CaseRow.id).where(
            CaseRow.process == "samraad", CaseRow.created_at >= since, episode.is_not(None)
        )
    )
    return {e: c for e, c in rows}


def schools_without_leader(conn: Connection, codes: Sequence[str]) -> list[str]:
    return list(
        conn.execute(
            select(SchoolRow.code)
            .where(SchoolRow.code.in_(list(codes)))
            .where(or_(SchoolRow.leader_email.is_(None), SchoolRow.leader_name.is_(None)))
            .order_by(SchoolRow.code)
        ).scalars()
    )


def link_episode(
    conn: Connection, episode_id: int, case_id: int, status: str, now: datetime
) -> None:
    conn.execute(
        update(EPISODES)
        .where(EPISODES.c.id == episode_id)
        .values(case_id=case_id, status=status, updated_at=now)
    )


@dataclass(frozen=True)
class PendingTask:
    """A national-rule task not yet mailed. ``subject`` names the school only: no pupil,
    no reason. ``pupil_ref``, the figures and the dates are for the body."""

    id: int
    kind: str
    title: str
    quarter: str
    pupil_ref: str
    u_days: float
    school_days: int
    share: float
    u_dates: tuple[str, ...]
    school: str
    school_name: str
    leader_name: str | None
    leader_email: str | None
    created_at: datetime

    @property
    def subject(self) -> str:
        # A subject shows on lock screens and in shared mailboxes: no word for the situation.
        return f"Opgave til skolelederen – {self.school_name}"


def u_dates(conn: Connection, pupil_id: int, quarter: str) -> list[str]:
    """The pupil's ``U`` days in a quarter, half days marked, read from the registrations
    (not stored with the task: the registrations are the one place they live)."""
    first, last = quarter_bounds(quarter)
    whole: set[int] = set()
    half: set[int] = set()
    absent: set[int] = set()
    for day, period, code, grade in conn.execute(
        select(
            type_coerce(REGISTRATIONS.c.day, Integer),
            REGISTRATIONS.c.period,
            REGISTRATIONS.c.code,
            REGISTRATIONS.c.grade,
        ).where(
            REGISTRATIONS.c.pupil_id == pupil_id,
            REGISTRATIONS.c.day.between(first, last),
            REGISTRATIONS.c.period.in_([MORNING, END_OF_DAY]),
        )
    ):
        if period == MORNING and code in ABSENT_CODES:
            absent.add(day)
            if code == "U":
                whole.add(day)
        elif period == END_OF_DAY and code == "U" and grade in HALF_DAY_GRADES:
            half.add(day)
    return [
        date.fromordinal(d).isoformat() + ("" if d in whole else " (half day)")
        for d in sorted(whole | (half - absent))
    ]


def pending_tasks(conn: Connection, limit: int | None = None) -> list[PendingTask]:
    t, p, s = TASKS, PUPILS, SCHOOLS
    query = (
        select(
            t.c.id,
            t.c.pupil_id,
            t.c.kind,
            t.c.quarter,
            t.c.u_halves,
            t.c.school_days,
            t.c.created_at,
            p.c.pupil_ref,
            s.c.code,
            s.c.name,
            s.c.leader_name,
            s.c.leader_email,
        )
        .join(p, p.c.id == t.c.pupil_id)
        .join(s, s.c.id == t.c.school_id)
        .where(t.c.mailed_at.is_(None))
        .order_by(t.c.id)
    )
    if limit is not None:
        query = query.limit(limit)
    return [
        PendingTask(
            id=r.id,
            kind=r.kind,
            title=TASK_TITLES[r.kind],
            quarter=r.quarter,
            pupil_ref=r.pupil_ref,
            u_days=r.u_halves / 2,
            school_days=r.school_days,
            share=r.u_halves / (2 * r.school_days) if r.school_days else 0.0,
            u_dates=tuple(u_dates(conn, r.pupil_id, r.quarter)),
            school=r.code,
            school_name=r.name,
            leader_name=r.leader_name,
            leader_email=r.leader_email,
            created_at=r.created_at,
        )
        for r in conn.execute(query).all()
    ]


def mark_tasks_mailed(conn: Connection, task_ids: Sequence[int], now: datetime) -> int:
    if not task_ids:
        return 0
    result = conn.execute(
        update(TASKS)
        .where(TASKS.c.id.in_(list(task_ids)), TASKS.c.mailed_at.is_(None))
        .values(mailed_at=now)
    )
    return max(result.rowcount, 0)


__all__ = [
    "ALL_SCHOOLS",
    "CALENDAR_COLUMNS",
    "DEFAULT_COORDINATOR_NAME",
    "REGISTRATION_COLUMNS",
    "SCHOOL_COLUMNS",
    "TABLES",
    "CalendarImportReport",
    "Detection",
    "EpisodeRow",
    "HolidayPeriodRow",
    "ImportReport",
    "NewEpisode",
    "NewTask",
    "PendingTask",
    "PupilRow",
    "Recorded",
    "RegistrationRow",
    "SchoolRow",
    "SchoolsImportReport",
    "TaskRow",
    "TeacherRow",
    "cases_for_episodes",
    "claim_episode",
    "detect",
    "episode_concern",
    "episodes_without_case",
    "import_calendar",
    "import_registrations",
    "import_schools",
    "link_episode",
    "mark_tasks_mailed",
    "open_case_of",
    "pending_tasks",
    "record",
    "scan_range",
    "school_calendars",
    "schools_without_leader",
    "teacher_of",
    "u_dates",
]
