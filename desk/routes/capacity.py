"""*Coachenes kapacitet*: per coach, courses started in 12 months and active now.

The same numbers as ``forloeb capacity`` (``flows.capacity.load``), for every process
with a capacity (coaching: about 50 courses a year per coach). Opening one more for a
coach at the capacity warns and is recorded, never blocked; so "at" and "over" are told
apart here in words, not only in colour. Only the municipal coordinator and the admins
may see it (``desk.rights``); coaches' names are professionals' names.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from flows import capacity
from machines import get_process

from ..app import desk_of
from ..rights import capacity_processes
from ..views import number

router = APIRouter()


@dataclass(frozen=True)
class CoachLine:
    name: str
    email: str
    started: int
    active: int
    capacity: int
    status: str
    level: str  # "over", "at" or "under": the badge beside the words


def _line(row: dict[str, object]) -> CoachLine:
    started, limit = int(str(row["started_12_months"])), int(str(row["capacity"]))
    if started > limit:
        status, level = f"Over kapaciteten ({number(started - limit)} for mange)", "over"
    elif started == limit:
        status, level = "Fuld: på kapaciteten", "at"
    else:
        status, level = f"Plads til {number(limit - started)} mere", "under"
    return CoachLine(
        name=str(row["name"] or ""),
        email=str(row["email"]),
        started=started,
        active=int(str(row["active"])),
        capacity=limit,
        status=status,
        level=level,
    )


@router.get("/kapacitet")
def capacity_page(request: Request) -> Response:
    desk = desk_of(request)
    email = desk.user(request)
    if not desk.rights(email).capacity:
        raise HTTPException(404)
    now = desk.now()
    sections = []
    for name in capacity_processes():
        spec = get_process(name)
        assert spec.capacity is not None
        lines = sorted(
            (_line(row) for row in capacity.load(desk.store, name, now)),
            # The fullest first; then by active courses, then by name.
            key=lambda c: (-(c.started / c.capacity), -c.active, c.name.lower(), c.email),
        )
        role = spec.roles[spec.capacity.role].title if spec.capacity.role in spec.roles else ""
        sections.append(
            {
                "title": spec.title,
                "role": role,
                "per_year": spec.capacity.per_year,
                "lines": lines,
                "over": sum(1 for c in lines if c.level != "under"),
            }
        )
    return desk.render(request, "capacity.html", "Coachenes kapacitet", sections=sections)
