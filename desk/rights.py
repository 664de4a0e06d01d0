"""Who may use the desk's pages beyond the cases: the absence import and coach capacity.

- **Importér fravær** (``/fravaer/import``): the school leaders — a participant in the
  role ``school_leader`` on any samråd case, or a leader in the school directory (the
  people the absence scan makes samråd cases for) — and the admins.
- **Coachenes kapacitet** (``/kapacitet``): the municipal coordinator — the role
  ``coordinator`` on any case of a process with a capacity (coaching) — and the admins.

Anyone else gets 404 for both pages, as for a case they are not on, and no link to them.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, and_, func, or_, select

from machines import PROCESSES
from persistence import Base, CaseRow, ParticipantRow
from persistence.absence import SCHOOLS

from .settings import DeskSettings

cases = Base.metadata.tables[CaseRow.__tablename__]
participants = Base.metadata.tables[ParticipantRow.__tablename__]

#: (process, role) on a case that lets a person import absence.
IMPORT_ROLES = frozenset({("samraad", "school_leader")})
#: The role on a case of a process with a capacity that lets a person see the capacity.
CAPACITY_ROLE = "coordinator"


@dataclass(frozen=True)
class Rights:
    absence_import: bool = False
    capacity: bool = False


def capacity_processes() -> list[str]:
    return [name for name, spec in PROCESSES.items() if spec.capacity is not None]


def rights_of(engine: Engine, settings: DeskSettings, email: str | None) -> Rights:
    """What beyond their cases this signed-in person may use (nothing when signed out)."""
    if not email:
        return Rights()
    if email in settings.admins:
        return Rights(absence_import=True, capacity=True)
    email = email.lower()
    wanted = [
        *(and_(cases.c.process == p, participants.c.role == r) for p, r in IMPORT_ROLES),
        and_(
            cases.c.process.in_(capacity_processes()),
            participants.c.role == CAPACITY_ROLE,
        ),
    ]
    query = (
        select(cases.c.process, participants.c.role)
        .join(cases, cases.c.id == participants.c.case_id)
        .where(func.lower(participants.c.email) == email, or_(*wanted))
        .distinct()
    )
    leader = select(SCHOOLS.c.id).where(func.lower(SCHOOLS.c.leader_email) == email).limit(1)
    with engine.connect() as conn:
        found = {(row[0], row[1]) for row in conn.execute(query)}
        in_directory = conn.execute(leader).first() is not None
    return Rights(
        absence_import=in_directory or bool(found & IMPORT_ROLES),
        capacity=any(role == CAPACITY_ROLE for _, role in found),
    )
