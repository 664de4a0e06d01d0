"""Who may use the desk's pages beyond the cases: the absence import and coach capacity.

- **Importér fravær** (``/fravaer/import``): a school's leader in the school directory
  (the person the absence scan makes that school's samråd cases for), for that school
  only — absence is personal data about the school's own pupils — and the admins, for
  any school. Being school leader on a samråd case says nothing of which school's
  absence one may hand in: the directory does.
- **Coachenes kapacitet** (``/kapacitet``): the municipal coordinator — the role
  ``coordinator`` on any case of a process with a capacity (coaching) — and the admins.

Anyone else gets 404 for both pages, as for a case they are not on, and no link to them.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, func, select

from machines import PROCESSES
from persistence import Base, CaseRow, ParticipantRow
from persistence.absence import SCHOOLS

from .settings import DeskSettings

cases = Base.metadata.tables[CaseRow.__tablename__]
participants = Base.metadata.tables[ParticipantRow.__tablename__]

#: The role on a case of a process with a capacity that lets a person see the capacity.
CAPACITY_ROLE = "coordinator"


@dataclass(frozen=True)
class Rights:
    absence_import: bool = False
    capacity: bool = False
    #: The schools (codes) whose absence this person may import; empty for an admin, who
    #: may import any school's.
    schools: tuple[str, ...] = ()


def capacity_processes() -> list[str]:
    return [name for name, spec in PROCESSES.items() if spec.capacity is not None]


def rights_of(engine: Engine, settings: DeskSettings, email: str | None) -> Rights:
    """What beyond their cases this signed-in person may use (nothing when signed out)."""
    if not email:
        return Rights()
    if email in settings.admins:
        return Rights(absence_import=True, capacity=True)
    email = email.lower()
    capacity = (
        select(participants.c.id)
        .join(cases, cases.c.id == participants.c.case_id)
        .where(
            func.lower(participants.c.email) == email,
            cases.c.process.in_(capacity_processes()),
            participants.c.role == CAPACITY_ROLE,
        )
        .limit(1)
    )
    led = select(SCHOOLS.c.code).where(func.lower(SCHOOLS.c.leader_email) == email)
    with engine.connect() as conn:
        schools = tuple(sorted(conn.execute(led).scalars()))
        coordinates = conn.execute(capacity).first() is not None
    return Rights(absence_import=bool(schools), capacity=coordinates, schools=schools)
