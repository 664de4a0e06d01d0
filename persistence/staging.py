"""Personal input staged for a flow run: Prefect sees the row's id, never its content.

A coordinator's command carries names, e-mail addresses, notes and decisions. The CLI
writes them here and hands the flow ``input_id``; the flow takes the row in the same
transaction as the change it causes (``CaseStore.fire(..., staged=...)``), so a staged
input is used at most once. A refused or abandoned input is deleted; one left behind by a
process that died is purged by the sweep after a day (``purge_stale``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Connection, Engine, String, Text, delete, insert, select
from sqlalchemy.orm import Mapped, mapped_column

from machines import StagedInputMissing

from .models import Base, Id

#: What a staged input is for: an event on a case, or opening a case of a process.
EVENT, OPEN = "event", "open"
#: A staged input nobody used within this long is deleted by the sweep.
STALE_AFTER = timedelta(days=1)


class StagedInputRow(Base):
    __tablename__ = "staged_inputs"
    # An id is never given twice (SQLite would reuse the highest after its row is taken):
    # whoever staged id N may discard N afterwards without touching another's input.
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime]
    #: "open" (a case file for a process) or "event" (input for one event on one case).
    kind: Mapped[str] = mapped_column(String(10))
    #: The process (open) or the event name (event); checked against the flow's parameters.
    target: Mapped[str] = mapped_column(String(60))
    case_id: Mapped[int | None] = mapped_column(Id)
    actor: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: What the stager knows besides the actor, for the history row the input causes: the
    #: operating-system user who typed the command, whether the clock was simulated.
    context: Mapped[dict[str, Any] | None] = mapped_column(JSON)


staged_inputs = Base.metadata.tables[StagedInputRow.__tablename__]


@dataclass(frozen=True)
class StagedInput:
    actor: str
    payload: dict[str, Any]
    #: Recorded in the history row's ``context`` (e.g. ``os_user``, ``simulated_clock``).
    context: dict[str, Any] = field(default_factory=dict)


def _stage(engine: Engine, **row: Any) -> int:
    with engine.begin() as conn:
        return int(
            conn.execute(insert(staged_inputs).returning(staged_inputs.c.id), row).scalar_one()
        )


def stage_event(
    engine: Engine,
    case_id: int,
    event: str,
    actor: str,
    payload: dict[str, Any],
    now: datetime,
    context: Mapping[str, Any] | None = None,
) -> int:
    """Stage who fires ``event`` on a case and its input; returns the id for the flow.

    ``context`` goes into the history row beside the actor (who really typed it)."""
    return _stage(
        engine,
        created_at=now,
        kind=EVENT,
        target=event,
        case_id=case_id,
        actor=actor,
        payload=payload,
        context=dict(context) if context else None,
    )


def stage_case_file(
    engine: Engine,
    process: str,
    actor: str,
    case_file: dict[str, Any],
    now: datetime,
    context: Mapping[str, Any] | None = None,
) -> int:
    """Stage a case file of ``process`` and who opens it; returns the id for the flow."""
    return _stage(
        engine,
        created_at=now,
        kind=OPEN,
        target=process,
        case_id=None,
        actor=actor,
        payload=case_file,
        context=dict(context) if context else None,
    )


def load(engine: Engine, input_id: int, kind: str, target: str, case_id: int | None) -> StagedInput:
    """The staged input ``input_id``, which must have been staged for this very action."""
    with engine.connect() as conn:
        return _checked(conn, input_id, kind, target, case_id)


def _checked(
    conn: Connection, input_id: int, kind: str, target: str, case_id: int | None
) -> StagedInput:
    row = conn.execute(select(staged_inputs).where(staged_inputs.c.id == input_id)).first()
    if row is None:
        raise StagedInputMissing(f"staged input {input_id} does not exist (it is used once)")
    if (row.kind, row.target, row.case_id) != (kind, target, case_id):
        on_case = f" on case {row.case_id}" if row.case_id else ""
        raise StagedInputMissing(
            f"staged input {input_id} was staged for {row.kind} '{row.target}'{on_case}, "
            "not for this action"
        )
    return StagedInput(row.actor, dict(row.payload), dict(row.context or {}))


def take_for_event(conn: Connection, input_id: int, case_id: int, event: str) -> StagedInput:
    """Take (delete and return) the input staged for ``event`` on case ``case_id``, inside
    the transaction that uses it: one statement, and it is used at most once."""
    row = conn.execute(
        delete(staged_inputs)
        .where(
            staged_inputs.c.id == input_id,
            staged_inputs.c.kind == EVENT,
            staged_inputs.c.target == event,
            staged_inputs.c.case_id == case_id,
        )
        .returning(staged_inputs.c.actor, staged_inputs.c.payload, staged_inputs.c.context)
    ).first()
    if row is None:
        _checked(conn, input_id, EVENT, event, case_id)  # raises, saying why
        raise AssertionError("a staged input that fits is taken by the delete above")
    return StagedInput(row.actor, dict(row.payload), dict(row.context or {}))


def take(conn: Connection, input_id: int) -> None:
    """Delete a staged input inside the transaction that uses it."""
    conn.execute(delete(staged_inputs).where(staged_inputs.c.id == input_id))


def discard(engine: Engine, input_id: int) -> None:
    with engine.begin() as conn:
        take(conn, input_id)


def purge_stale(engine: Engine, now: datetime) -> int:
    with engine.begin() as conn:
        return conn.execute(
            delete(staged_inputs).where(staged_inputs.c.created_at < now - STALE_AFTER)
        ).rowcount
