"""The event path's prepared statements (persistence/prepared.py) write and read what
SQLAlchemy's own execution would, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import bindparam, event, insert, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.sqlite import DATETIME
from sqlalchemy.exc import IntegrityError, ProgrammingError

from persistence import CaseStore
from persistence.models import CaseRow, ParticipantRow, UTCDateTime
from persistence.prepared import Prepared, PreparedSet

from ..conftest import LEADER, at, open_samraad

cases = CaseRow.__table__
participants = ParticipantRow.__table__


@given(
    st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=2)), timezone(-timedelta(hours=5))]
        ),
    )
)
def test_sqlite_times_are_written_as_sqlalchemys_datetime_writes_them(moment: datetime) -> None:
    # Stored text is compared as text (timers due, history in order): one format only.
    dialect = sqlite.dialect()
    ours = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    theirs = DATETIME().bind_processor(dialect)
    assert ours is not None and theirs is not None
    assert ours(moment) == theirs(moment.astimezone(UTC).replace(tzinfo=None))


def test_a_naive_time_is_refused_on_sqlite() -> None:
    dialect = sqlite.dialect()
    process = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    assert process is not None
    with pytest.raises(ValueError, match="naive datetime"):
        process(datetime(2027, 1, 1, 9))


def test_a_column_with_a_python_default_must_be_given() -> None:
    # ``cases.data`` defaults to {} in Python: only SQLAlchemy's execution would fill it in.
    with pytest.raises(ValueError, match="data"):
        Prepared(insert(cases), sqlite.dialect(), ["process", "state", "version"])


def test_a_prepared_write_is_read_back_as_core_wrote_it(store: CaseStore) -> None:
    case_id = open_samraad(store)
    insert_participant = PreparedSet(
        insert(participants).returning(participants.c.id), store.engine.dialect
    )
    seen: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    with store.transaction() as conn:
        new_id = insert_participant.run(
            conn,
            {"case_id": case_id, "key": "extra", "role": "ppr", "name": "N", "email": "n@x.dk"},
        ).scalar_one()
        row = conn.execute(select(participants).where(participants.c.id == new_id)).one()
    assert (row.case_id, row.key, row.role, row.email) == (case_id, "extra", "ppr", "n@x.dk")
    # It is SQLAlchemy's connection: its events see the statement.
    assert any(s.startswith("INSERT INTO participants") for s in seen)
    snapshot = store.snapshot(case_id)
    assert "extra" in {p.key for p in snapshot.participants}
    # Times written by the prepared path come back aware, in UTC, as written.
    store.fire(case_id, "convene", LEADER, {}, at("2027-02-01T10:00"))
    assert store.snapshot(case_id).version == 2
    with store.engine.connect() as conn:
        updated = conn.execute(select(cases.c.updated_at).where(cases.c.id == case_id)).scalar()
    assert updated == at("2027-02-01T10:00").astimezone(UTC)


def test_a_unique_key_collision_is_sqlalchemys_integrity_error(store: CaseStore) -> None:
    # The store turns this class (never the error's words) into Conflict or InvalidInput.
    case_id = open_samraad(store)
    key = store.snapshot(case_id).participants[0].key
    insert_participant = PreparedSet(insert(participants), store.engine.dialect)
    with pytest.raises(IntegrityError), store.transaction() as conn:
        insert_participant.run(
            conn, {"case_id": case_id, "key": key, "role": "ppr", "name": "N", "email": None}
        )


def test_a_parameter_not_given_is_an_error_not_null(store: CaseStore) -> None:
    # Left out, the version check would compare with NULL and call every write a conflict.
    update_case = Prepared(
        update(cases).where(cases.c.id == bindparam("b_case")).values(state=bindparam("state")),
        store.engine.dialect,
    )
    case_id = open_samraad(store)
    with pytest.raises((KeyError, ProgrammingError)), store.transaction() as conn:
        update_case.run(conn, {"state": "closed"})
    assert store.snapshot(case_id).state == "concern"
