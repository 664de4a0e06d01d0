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

from machines.errors import InvalidInput

from .models import Base, Id

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
    id: int
    kind: str
    target: str
    case_id: int | None
    actor: str
    payload: dict[str, Any]


def stage(
    engine: Engine,
    *,
    kind: str,
    target: str,
    actor: str,
    payload: dict[str, Any],
    now: datetime,
    case_id: int | None = None,
) -> int:
    with engine.begin() as conn:
        return int(
            conn.execute(
                insert(staged_inputs).returning(staged_inputs.c.id),
                {
                    "created_at": now,
                    "kind": kind,
                    "target": target,
                    "case_id": case_id,
                    "actor": actor,
                    "payload": payload,
                },
            ).scalar_one()
        )


def load(engine: Engine, input_id: int) -> StagedInput:
    with engine.connect() as conn:
        row = conn.execute(select(staged_inputs).where(staged_inputs.c.id == input_id)).first()
    if row is None:
        raise InvalidInput(
            f"staged input {input_id} does not exist (it is used once); stage it again "
            "with: forloeb case stage"
        )
    return StagedInput(row.id, row.kind, row.target, row.case_id, row.actor, dict(row.payload))


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
