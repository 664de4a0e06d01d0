"""Bulk writes of what a school sends: absence registrations, holiday periods and the
school directory.

The rows arrive already read and checked (``flows.absence_csv`` turns a CSV file into
them; another source must give the same guarantees: codes ``S L U F T``, grades 0–10,
pseudonymous references). Each import is one transaction: a source that raises while
it is read leaves nothing behind. Registrations are written by ``executemany`` upserts
on SQLite and by ``COPY`` into a temporary table on PostgreSQL, chunk by chunk, while
the source reads the next chunk.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from operator import itemgetter
from typing import Any, TypeAlias

from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    bindparam,
    delete,
    insert,
    select,
    type_coerce,
    update,
)

from machines.absence import HolidayPeriod

from .bulk import dialect_insert, overlapped
from .tables import HOLIDAY_PERIODS, PUPILS, SCHOOLS, TEACHERS, PupilRow, SchoolRow

# ---------------------------------------------------------------- registrations


#: One registration slot, checked: (pupil_ref, school, grade, day, period, code) —
#: ``pupil_ref`` pseudonymous (never a CPR number), ``school`` the school's code, ``grade``
#: 0–10, ``day`` the date as ``date.toordinal()`` (as stored), ``period`` ``MORNING``, a
#: lesson 1–20 or ``END_OF_DAY`` (``machines.absence``), ``code`` one of S, L, U, F, T.
#: A plain tuple, not a dataclass or a named tuple: a file has millions of rows, and
#: making a named tuple per row cost the import about a fifth more CPU (measured).
Registration: TypeAlias = tuple[str, str, int, int, int, str]

_DAY = itemgetter(3)  # the day of a Registration


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
        self.first: int | None = None  # the span of the rows written, as day ordinals
        self.last: int | None = None
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

    def _pupil_ids(self, chunk: Sequence[Registration]) -> None:
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

    def write(self, chunk: Sequence[Registration]) -> None:
        if not chunk:
            return
        self._school_ids(row[1] for row in chunk)
        self._pupil_ids(chunk)
        pupils, schools, latest = self.pupils, self.schools, self.latest
        self.report.rows += len(chunk)
        days = list(map(_DAY, chunk))  # in C: the span costs next to nothing per row
        first, last = min(days), max(days)
        self.first = first if self.first is None else min(self.first, first)
        self.last = last if self.last is None else max(self.last, last)
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


def import_registrations(engine: Engine, chunks: Iterable[Sequence[Registration]]) -> ImportReport:
    """Write registrations in one transaction, chunk by chunk as ``chunks`` yields them;
    if ``chunks`` raises (a bad row found late in a file), nothing is written. Writing
    the same rows again changes nothing; a later row for the same pupil, day and period
    replaces the stored one. A new school or pupil gets its row."""
    report = ImportReport()
    with engine.begin() as conn:
        writer = _Writer(conn, report)
        if writer.pg:
            # psycopg waits for the server without the GIL: read the next chunk meanwhile.
            overlapped(iter(chunks), writer.write)
        else:
            # sqlite3 holds the GIL while it binds parameters: a thread would not overlap.
            for chunk in chunks:
                writer.write(chunk)
        writer.finish()
    report.first_day = date.fromordinal(writer.first) if writer.first else None
    report.last_day = date.fromordinal(writer.last) if writer.last else None
    return report


# ---------------------------------------------------------------- holiday periods


@dataclass
class CalendarImportReport:
    periods: int = 0
    schools: list[str] = field(default_factory=list)
    replaced: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"periods": self.periods, "schools": self.schools, "replaced": self.replaced}


def import_calendar(
    engine: Engine, periods: Mapping[str, Sequence[HolidayPeriod]]
) -> CalendarImportReport:
    """Each school's holiday periods (school ``ALL_SCHOOLS`` for every school).

    For each school given, the stored periods overlapping the span of its new ones are
    replaced: importing next school year's calendar keeps this year's, and importing a
    corrected file replaces the wrong one. Of two periods with the same first day the
    later wins.
    """
    report = CalendarImportReport(
        schools=sorted(school for school, items in periods.items() if items)
    )
    table = HOLIDAY_PERIODS
    with engine.begin() as conn:
        for school, items in periods.items():
            if not items:
                continue
            lo = min(p.first_day for p in items)
            hi = max(p.last_day for p in items)
            gone = conn.execute(
                delete(table).where(
                    table.c.school == school, table.c.last_day >= lo, table.c.first_day <= hi
                )
            )
            report.replaced += max(gone.rowcount, 0)
            unique = {p.first_day: p for p in items}
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


# ---------------------------------------------------------------- school directory


@dataclass(frozen=True, slots=True)
class TeacherEntry:
    """The teacher a samråd about a pupil of ``grade`` invites."""

    grade: int
    name: str
    email: str | None


@dataclass(frozen=True, slots=True)
class SchoolEntry:
    """A school as the directory describes it, checked: its people and its teachers."""

    code: str
    name: str
    leader_name: str
    leader_email: str
    coordinator_name: str
    coordinator_email: str
    teachers: tuple[TeacherEntry, ...] = ()


@dataclass
class SchoolsImportReport:
    schools: int = 0
    teachers: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"schools": self.schools, "teachers": self.teachers}


def import_schools(
    engine: Engine, schools: Iterable[SchoolEntry], *, now: datetime
) -> SchoolsImportReport:
    """Write the directory's schools (added or updated by code) in one transaction. A
    school given gets exactly the teachers given with it."""
    by_code = {school.code: school for school in schools}
    report = SchoolsImportReport(schools=len(by_code))
    with engine.begin() as conn:
        _upsert_schools(conn, by_code.values(), now)
        ids = {
            code: id_
            for code, id_ in conn.execute(
                select(SchoolRow.code, SchoolRow.id).where(SchoolRow.code.in_(list(by_code)))
            )
        }
        table = TEACHERS
        if ids:
            conn.execute(delete(table).where(table.c.school_id.in_(ids.values())))
        teacher_rows = [
            {"school_id": ids[school.code], "grade": t.grade, "name": t.name, "email": t.email}
            for school in by_code.values()
            for t in school.teachers
        ]
        if teacher_rows:
            conn.execute(insert(table), teacher_rows)
        report.teachers = len(teacher_rows)
    return report


def _upsert_schools(conn: Connection, schools: Iterable[SchoolEntry], now: datetime) -> None:
    rows = [
        {
            "code": s.code,
            "name": s.name,
            "leader_name": s.leader_name,
            "leader_email": s.leader_email,
            "coordinator_name": s.coordinator_name,
            "coordinator_email": s.coordinator_email,
            "updated_at": now,
        }
        for s in schools
    ]
    if not rows:
        return
    stmt = dialect_insert(conn)(SCHOOLS)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["code"],
            set_={c: stmt.excluded[c] for c in rows[0] if c != "code"},
        ),
        rows,
    )


__all__ = [
    "CalendarImportReport",
    "ImportReport",
    "Registration",
    "SchoolEntry",
    "SchoolsImportReport",
    "TeacherEntry",
    "import_calendar",
    "import_registrations",
    "import_schools",
]
