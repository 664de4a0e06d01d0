"""The absence tables: the school directory, pupils, registrations, holiday periods, and
the episodes and tasks a scan found.

The registrations table is the big one (a municipality has millions of rows a year), so
it holds integers only: the day as a date ordinal (``date.toordinal()``), the period as a
number, and on SQLite a clustered primary key (``WITHOUT ROWID``). No ORM object is ever
made per registration; the other modules use the Core handles at the bottom.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    Date,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from ..models import Base, Id

#: The holiday periods stored for this school code hold for every school.
ALL_SCHOOLS = "*"
#: The coordinator's name in a case file when the school directory gives none.
DEFAULT_COORDINATOR_NAME = "Kommunal tovholder"


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
    its code as name and no people, until the school directory is imported."""

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


__all__ = [
    "ALL_SCHOOLS",
    "DEFAULT_COORDINATOR_NAME",
    "EPISODES",
    "HOLIDAY_PERIODS",
    "PUPILS",
    "REGISTRATIONS",
    "SCHOOLS",
    "TABLES",
    "TASKS",
    "TEACHERS",
    "DayNumber",
    "EpisodeRow",
    "HolidayPeriodRow",
    "PupilRow",
    "RegistrationRow",
    "SchoolRow",
    "TaskRow",
    "TeacherRow",
]
