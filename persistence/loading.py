"""Loading a case in one round trip.

Everything one event needs comes back in one row: the case, and as JSON arrays built by the
database its participants, its meetings, its pending timers, its count of messages waiting,
and — for a process with a ``busy_role`` (coaching: the coach) — the scheduled meetings of
that person in other cases. One statement instead of four or five matters most on
PostgreSQL, where each statement is a network round trip inside the event's transaction.

The JSON functions differ (SQLite's ``json_group_array`` and ``json_array``, PostgreSQL's
``json_agg`` and ``json_build_array``), so the statement is built once per dialect.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    and_,
    bindparam,
    case,
    func,
    literal,
    literal_column,
    or_,
    select,
)
from sqlalchemy.sql.elements import KeyedColumnElement

from machines import PROCESSES, CaseSnapshot, Meeting, Participant

from .models import Base, CaseRow, MeetingRow, OutboxRow, ParticipantRow, TimerRow

cases = Base.metadata.tables[CaseRow.__tablename__]
participants = Base.metadata.tables[ParticipantRow.__tablename__]
meetings = Base.metadata.tables[MeetingRow.__tablename__]
timers = Base.metadata.tables[TimerRow.__tablename__]
outbox = Base.metadata.tables[OutboxRow.__tablename__]


@dataclass
class Loaded:
    """A snapshot plus what the writes need: row ids by key, pending timers, waiting mail."""

    snapshot: CaseSnapshot
    participant_ids: dict[str, tuple[int, str | None]]  # key -> (id, email)
    meeting_rows: dict[str, dict[str, Any]]  # key -> {id, sequence, attendees, series}
    pending_timers: dict[str, datetime]  # event -> due
    messages_waiting: int
    last_change: datetime  # when the case's last event happened


def _moment(value: str) -> datetime:
    # SQLite hands back its stored text (naive UTC), PostgreSQL an ISO time with offset.
    moment = datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class _Json:
    """The two JSON vocabularies: an array of values, and the aggregate of such arrays."""

    def __init__(self, dialect: str) -> None:
        self.postgres = dialect == "postgresql"

    def array(self, *values: ColumnElement[Any]) -> ColumnElement[Any]:
        if self.postgres:
            return func.json_build_array(*values)
        return func.json_array(*values)

    def embedded(self, column: KeyedColumnElement[Any]) -> ColumnElement[Any]:
        """A JSON column inside an array: as JSON, not as a string holding JSON."""
        return column if self.postgres else func.json(column)

    def aggregate(self, row: ColumnElement[Any], order: ColumnElement[Any]) -> ColumnElement[Any]:
        if self.postgres:
            # Imported here: the PostgreSQL dialect costs an SQLite command ~0.1 s at start-up.
            from sqlalchemy.dialects.postgresql import aggregate_order_by

            return func.json_agg(aggregate_order_by(row, order))
        return func.json_group_array(row)  # ordered in Python: SQLite promises no order


def _rows_of(
    sql_json: _Json,
    table: Table,
    columns: Sequence[ColumnElement[Any]],
    where: ColumnElement[bool],
) -> ColumnElement[Any]:
    return (
        select(sql_json.aggregate(sql_json.array(*columns), table.c.id))
        .where(where)
        .scalar_subquery()
        .label(None)
    )


def load_statement(dialect: str) -> Select[Any]:
    """The case ``b_case`` with everything an event on it needs, as one row."""
    sql_json = _Json(dialect)
    people = _rows_of(
        sql_json,
        participants,
        [
            participants.c.id,
            participants.c.key,
            participants.c.role,
            participants.c.name,
            participants.c.email,
        ],
        participants.c.case_id == cases.c.id,
    )
    held = _rows_of(
        sql_json,
        meetings,
        [
            meetings.c.id,
            meetings.c.key,
            meetings.c.status,
            meetings.c.start,
            meetings.c.end,
            meetings.c.location,
            sql_json.embedded(meetings.c.attendees),
            meetings.c.sequence,
            sql_json.embedded(meetings.c.series),
        ],
        meetings.c.case_id == cases.c.id,
    )
    pending = _rows_of(
        sql_json,
        timers,
        [timers.c.event, timers.c.due],
        and_(timers.c.case_id == cases.c.id, timers.c.status == literal("pending")),
    )
    waiting = (
        select(func.count())
        .where(outbox.c.case_id == cases.c.id, outbox.c.status == literal("pending"))
        .scalar_subquery()
    )
    columns: list[Any] = [
        cases.c.id,
        cases.c.process,
        cases.c.state,
        cases.c.version,
        cases.c.title,
        cases.c.location,
        cases.c.data,
        cases.c.updated_at,
        people.label("people"),
        held.label("held"),
        pending.label("pending"),
        waiting.label("waiting"),
    ]
    busy_roles = {p.name: p.busy_role for p in PROCESSES.values() if p.busy_role is not None}
    if busy_roles:
        columns.append(_busy(sql_json, busy_roles).label("busy"))
    return select(*columns).where(cases.c.id == bindparam("b_case"))


def _busy(sql_json: _Json, busy_roles: Mapping[str, str]) -> ColumnElement[Any]:
    """Scheduled meetings of other cases in which the same person (by e-mail) has the
    process's busy role. Only evaluated for such processes (a CASE short-circuits)."""
    role = case(busy_roles, value=cases.c.process)
    same_person = participants.alias("same_person")
    mine = participants.alias("mine")
    their_meetings = (
        select(sql_json.aggregate(sql_json.array(meetings.c.start, meetings.c.end), meetings.c.id))
        .join(same_person, same_person.c.case_id == meetings.c.case_id)
        .where(
            meetings.c.status == literal("scheduled"),
            meetings.c.case_id != cases.c.id,
            same_person.c.role == role,
            same_person.c.email.in_(
                select(mine.c.email)
                .where(
                    mine.c.case_id == cases.c.id,
                    mine.c.role == role,
                    mine.c.email.is_not(None),
                )
                # Explicitly the outer case: auto-correlation only reaches the enclosing
                # SELECT, so without it this read every coach of every case.
                .correlate(cases)
            ),
        )
        .correlate(cases)
        .scalar_subquery()
    )
    # Literal process names (identifiers from the definitions, never input): an expanding
    # IN would re-render the SQL on every execution.
    assert all(name.isidentifier() for name in busy_roles)
    has_busy_role = or_(*(cases.c.process == literal_column(f"'{name}'") for name in busy_roles))
    return case((has_busy_role, their_meetings), else_=None)


def _json_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str):  # SQLite: the aggregate's text
        return list(json.loads(value))
    return list(value)  # PostgreSQL: psycopg has parsed the json already


def _json_object(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):  # SQLite: the column's text
        return dict(json.loads(value))
    return dict(value)  # PostgreSQL: psycopg has parsed the json already


def _timestamp(value: str | datetime) -> datetime:
    if isinstance(value, str):
        return _moment(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse(row: Any) -> Loaded:
    """The one row of ``load_statement``, as the driver returns it (``prepared``: no
    result processing), as the engine's snapshot and the writer's ids."""
    people = sorted(_json_list(row.people))
    held = sorted(_json_list(row.held), key=lambda m: m[0])
    snapshot = CaseSnapshot(
        id=row.id,
        process=row.process,
        state=row.state,
        version=row.version,
        title=row.title,
        location=row.location,
        data=_json_object(row.data),
        participants=tuple(
            Participant(key, role, name, email) for _, key, role, name, email in people
        ),
        meetings=tuple(
            Meeting(
                key,
                status,
                _moment(start),
                _moment(end),
                location,
                tuple(attendees),
                sequence,
                series,
            )
            for _, key, status, start, end, location, attendees, sequence, series in held
        ),
        busy=tuple(
            (_moment(start), _moment(end)) for start, end in _json_list(getattr(row, "busy", None))
        ),
    )
    return Loaded(
        snapshot,
        {key: (pid, email) for pid, key, _, _, email in people},
        {
            m[1]: {"id": m[0], "sequence": m[7], "attendees": list(m[6]), "series": m[8]}
            for m in held
        },
        {event: _moment(due) for event, due in _json_list(row.pending)},
        int(row.waiting or 0),
        _timestamp(row.updated_at),
    )


__all__ = ["Loaded", "load_statement", "parse"]
