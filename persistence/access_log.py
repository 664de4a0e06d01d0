"""The audit of reads: who looked at which case (or form, or list), when, and through what.

The desk writes a row per page view of a case or a form; the CLI's reads (the hardening
issue) write the same rows with ``via="cli"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import Engine, insert, select

from .models import AccessRow, Base

access_log = Base.metadata.tables[AccessRow.__tablename__]

What = Literal["case", "form", "list"]
Via = Literal["desk", "cli"]


@dataclass(frozen=True)
class Access:
    at: datetime
    who: str
    case_id: int | None
    what: str
    via: str


def record(
    engine: Engine, who: str, case_id: int | None, what: What, via: Via, now: datetime
) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(access_log),
            {"at": now, "who": who, "case_id": case_id, "what": what, "via": via},
        )


def reads_of(engine: Engine, case_id: int) -> list[Access]:
    """Every recorded read of one case, oldest first."""
    query = select(access_log).where(access_log.c.case_id == case_id).order_by(access_log.c.id)
    with engine.connect() as conn:
        return [Access(r.at, r.who, r.case_id, r.what, r.via) for r in conn.execute(query)]
