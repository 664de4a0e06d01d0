"""Daily jobs run from the sweep (e.g. the absence scan): at most once a day, claimed
atomically so that several sweeps — every five minutes, on several machines — run it once."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, Engine, String, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base


class JobRow(Base):
    __tablename__ = "jobs"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_run_on: Mapped[date | None] = mapped_column(Date)


jobs = Base.metadata.tables[JobRow.__tablename__]


def claim_daily(engine: Engine, name: str, today: date) -> bool:
    """True for exactly one caller per job and day (the one that should run it)."""
    with engine.begin() as conn:
        if conn.execute(select(jobs.c.name).where(jobs.c.name == name)).first() is None:
            try:
                with conn.begin_nested():
                    conn.execute(insert(jobs), {"name": name, "last_run_on": today})
                return True
            except IntegrityError:
                pass  # another sweep inserted it first; fall through to the update
        claimed = conn.execute(
            update(jobs)
            .where(jobs.c.name == name)
            .where(or_(jobs.c.last_run_on.is_(None), jobs.c.last_run_on < today))
            .values(last_run_on=today)
        )
        return claimed.rowcount == 1
