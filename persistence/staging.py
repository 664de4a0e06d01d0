"""Personal input staged for a flow run: Prefect sees the row's id, never its content.

A coordinator's command carries names, e-mail addresses, notes and decisions. The CLI
writes them here and hands the flow ``input_id``; the flow takes the row in the same
transaction as the change it causes (``CaseStore.fire(..., staged=...)``), so a staged
input is used at most once. A refused or abandoned input is deleted; one left behind by a
process that died is purged by the sweep after a day (``purge_stale``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Connection, Engine, String, Text, delete, insert, select
from sqlalchemy.orm import Mapped, mapped_column

from machines import InvalidInput

from .models import Base, Id

#: What a staged input is for: an event on a case, or opening a case of a process.
EVENT, OPEN = "event", "open"
#: A staged input nobody used within this long is deleted by the sweep.
STALE_AFTER = timedelta(days=1)


class StagedInputRow(Base):
    __tablename__ = "staged_inputs"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime]
    #: "open" (a case file for a process) or "event" (input for one event on one case).
    kind: Mapped[str] = mapped_column(String(10))
    #: The process (open) or the event name (event); checked against the flow's parameters.
    target: Mapped[str] = mapped_column(String(60))
    case_id: Mapped[int | None] = mapped_column(Id)
    actor: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


staged_inputs = Base.metadata.tables[StagedInputRow.__tablename__]


@dataclass(frozen=True)
class StagedInput:
    actor: str
    payload: dict[str, Any]


def _stage(engine: Engine, **row: Any) -> int:
    with engine.begin() as conn:
        return int(
            conn.execute(insert(staged_inputs).returning(staged_inputs.c.id), row).scalar_one()
        )


def stage_event(
    engine: Engine, case_id: int, event: str, actor: str, payload: dict[str, Any], now: datetime
) -> int:
    """Stage who fires ``event`` on a case and its input; returns the id for the flow."""
    return _stage(
        engine,
        created_at=now,
        kind=EVENT,
        target=event,
        case_id=case_id,
        actor=actor,
        payload=payload,
    )


def stage_case_file(
    engine: Engine, process: str, actor: str, case_file: dict[str, Any], now: datetime
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
    )


def load(engine: Engine, input_id: int, kind: str, target: str, case_id: int | None) -> StagedInput:
    """The staged input ``input_id``, which must have been staged for this very action."""
    with engine.connect() as conn:
        row = conn.execute(select(staged_inputs).where(staged_inputs.c.id == input_id)).first()
    if row is None:
        raise InvalidInput(
            f"staged input {input_id} does not exist (it is used once); stage it again "
            "with: forloeb case stage"
        )
    if (row.kind, row.target, row.case_id) != (kind, target, case_id):
        on_case = f" on case {row.case_id}" if row.case_id else ""
        raise InvalidInput(
            f"staged input {input_id} was staged for {row.kind} '{row.target}'{on_case}; "
            "stage the input for this action with: forloeb case stage"
        )
    return StagedInput(row.actor, dict(row.payload))


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
