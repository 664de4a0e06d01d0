"""The audit of reads: who looked at which case (or form, or list), when, and through what.

The desk writes a row per page view of a case or a form; the CLI's ``case show`` and
``case form`` write the same rows with ``via="cli"``, and with the context of the command
(the operating-system user, a simulated clock) beside the typed ``--by``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Engine, insert, select

from .models import AccessRow, Base

access_log = Base.metadata.tables[AccessRow.__tablename__]

#: ``who`` of a read by the operator: the CLI without ``--by``.
OPERATOR_WHO = "operator"

What = Literal["case", "form", "list"]
Via = Literal["desk", "cli"]


@dataclass(frozen=True)
class Access:
    at: datetime
    who: str
    case_id: int | None
    what: str
    via: str
    context: dict[str, Any] | None = None


def record(
    engine: Engine,
    who: str,
    case_id: int | None,
    what: What,
    via: Via,
    now: datetime,
    context: dict[str, Any] | None = None,
) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(access_log),
            {
                "at": now,
                "who": who,
                "case_id": case_id,
                "what": what,
                "via": via,
                "context": context or None,
            },
        )


def reads_of(engine: Engine, case_id: int) -> list[Access]:
    """Every recorded read of one case, oldest first."""
    query = select(access_log).where(access_log.c.case_id == case_id).order_by(access_log.c.id)
    with engine.connect() as conn:
        return [
            Access(r.at, r.who, r.case_id, r.what, r.via, r.context) for r in conn.execute(query)
        ]
