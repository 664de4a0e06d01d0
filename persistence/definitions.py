"""Definitions change while cases run: which open cases a definition would strand, and
moving them (a state or a pending timer's event renamed) with one history row each.

A case records the version of its process definition (``cases.definition_version``,
``Process.definition_version``). A new release may rename or drop a state or a timer
event; an open case in such a state, or with such a timer pending, could then neither
move nor be swept. ``stranded`` finds them (``forloeb process check``, ``db upgrade``);
``migrate`` moves them (``forloeb process migrate PROCESS --map old=new``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, and_, func, insert, or_, select, update

from machines import Conflict, InvalidInput, get_process

from .models import UNKNOWN_EVENT_FAILURE, Base, CaseRow, HistoryRow, TimerRow

__all__ = ["MIGRATE_EVENT", "Moved", "Stranded", "migrate", "stranded"]

cases = Base.metadata.tables[CaseRow.__tablename__]
history = Base.metadata.tables[HistoryRow.__tablename__]
timers = Base.metadata.tables[TimerRow.__tablename__]

#: The history event of a case moved to a new definition.
MIGRATE_EVENT = "migrate"


def _waiting() -> ColumnElement[bool]:
    """A timer still to fire: pending, or set aside by a sweep because its event was unknown
    (a sweep that ran before the migration must not lose the deadline). One set aside for
    another reason (its firing failed) is not: giving it back would fire it again unseen."""
    return or_(
        timers.c.status == "pending",
        and_(
            timers.c.status == "failed",
            timers.c.failure.startswith(UNKNOWN_EVENT_FAILURE, autoescape=True),
        ),
    )


@dataclass(frozen=True)
class Stranded:
    """Open cases of ``process`` in a state, or with a pending timer event, the definition
    lacks (``kind`` is "state" or "timer event")."""

    process: str
    kind: str
    name: str
    cases: int

    def line(self) -> str:
        where = "in state" if self.kind == "state" else "with a timer to fire"
        return (
            f"{self.process}: {self.cases} open case(s) {where} {self.name!r}, which the "
            f"definition lacks; map it with: forloeb process migrate {self.process} "
            f"--map {self.name}=NEW"
        )


@dataclass(frozen=True)
class Moved:
    case_id: int
    state: tuple[str, str] | None  # (old, new), or None when the state stays
    timers: tuple[tuple[str, str], ...]  # (old, new) of each pending timer renamed


def stranded(engine: Engine, process_name: str) -> list[Stranded]:
    """What the current definition of ``process_name`` would strand, per state and event."""
    process = get_process(process_name)
    known_states = set(process.states)
    timer_events = {e.name for e in process.events if e.is_timer}
    found: list[Stranded] = []
    with engine.connect() as conn:
        by_state = conn.execute(
            select(cases.c.state, func.count())
            .where(cases.c.process == process.name)
            .where(cases.c.state.not_in(sorted(process.finals)))
            .group_by(cases.c.state)
            .order_by(cases.c.state)
        ).all()
        by_event = conn.execute(
            select(timers.c.event, func.count(func.distinct(timers.c.case_id)))
            .join(cases, cases.c.id == timers.c.case_id)
            .where(cases.c.process == process.name, _waiting())
            .where(cases.c.state.not_in(sorted(process.finals)))
            .group_by(timers.c.event)
            .order_by(timers.c.event)
        ).all()
    found += [
        Stranded(process.name, "state", state, int(count))
        for state, count in by_state
        if state not in known_states
    ]
    found += [
        Stranded(process.name, "timer event", event, int(count))
        for event, count in by_event
        if event not in timer_events
    ]
    return found


def _checked_map(process_name: str, mapping: Mapping[str, str]) -> dict[str, str]:
    """Each old name must be gone from the definition, each new one a state or a timer event
    of it; a state maps to a state and an event to an event (checked per row moved)."""
    process = get_process(process_name)
    names = set(process.states) | {e.name for e in process.events if e.is_timer}
    for old, new in mapping.items():
        if old in names:
            raise InvalidInput(
                f"--map {old}={new}: {old!r} is still in the {process.name} definition; "
                "map only names it lacks"
            )
        if new not in names:
            raise InvalidInput(
                f"--map {old}={new}: {new!r} is neither a state nor a timer event of "
                f"{process.name}; see: forloeb process show {process.name}"
            )
    return dict(mapping)


def migrate(
    engine: Engine,
    process_name: str,
    mapping: Mapping[str, str],
    now: datetime,
    actor: str,
    context: Mapping[str, Any] | None = None,
    dry_run: bool = False,
) -> list[Moved]:
    """Move the open cases of ``process_name`` that ``mapping`` (old name -> new) covers:
    a state renamed, a waiting timer's event renamed. One transaction; per case one
    history row (event ``migrate``, ``details["map"]`` what changed, ``context`` how it was
    done, e.g. the operating-system user) and the version raised, as for any event.
    ``dry_run``: what would move, nothing written."""
    process = get_process(process_name)
    renames = _checked_map(process.name, mapping)
    states = set(process.states)
    timer_events = {e.name for e in process.events if e.is_timer}
    moved: list[Moved] = []
    with engine.begin() as conn:
        candidates = conn.execute(
            select(cases.c.id, cases.c.state, cases.c.version)
            .where(cases.c.process == process.name)
            .where(cases.c.state.not_in(sorted(process.finals)))
            .order_by(cases.c.id)
        ).all()
        pending = conn.execute(
            select(timers.c.id, timers.c.case_id, timers.c.event)
            .join(cases, cases.c.id == timers.c.case_id)
            .where(cases.c.process == process.name, _waiting())
            .where(timers.c.event.in_(sorted(renames)))
        ).all()
        timers_of: dict[int, list[Any]] = {}
        for row in pending:
            timers_of.setdefault(row.case_id, []).append(row)
        for case in candidates:
            new_state = renames.get(case.state)
            if new_state is not None and new_state not in states:
                raise InvalidInput(f"--map {case.state}={new_state}: a state maps to a state")
            renamed = tuple((t.event, renames[t.event]) for t in timers_of.get(case.id, ()))
            for old, new in renamed:
                if new not in timer_events:
                    raise InvalidInput(f"--map {old}={new}: a timer event maps to a timer event")
            if new_state is None and not renamed:
                continue
            moved.append(Moved(case.id, (case.state, new_state) if new_state else None, renamed))
            if dry_run:
                continue
            state = new_state or case.state
            stored = conn.execute(
                update(cases)
                .where(cases.c.id == case.id, cases.c.version == case.version)
                .values(
                    state=state,
                    version=case.version + 1,
                    updated_at=now,
                    definition_version=process.definition_version,
                )
            )
            if stored.rowcount != 1:
                raise Conflict(case.id)
            for timer in timers_of.get(case.id, ()):
                _rename_timer(conn, case.id, timer.id, renames[timer.event])
            change: dict[str, Any] = {"definition_version": process.definition_version}
            if new_state:
                change["state"] = {case.state: new_state}
            if renamed:
                change["timers"] = dict(renamed)
            conn.execute(
                insert(history),
                {
                    "case_id": case.id,
                    "seq": case.version + 1,
                    "at": now,
                    "event": MIGRATE_EVENT,
                    "source": case.state,
                    "dest": state,
                    "actor": actor,
                    "details": {"map": change},
                    "context": dict(context) if context else None,
                },
            )
    return moved


def _rename_timer(conn: Connection, case_id: int, timer_id: int, new: str) -> None:
    """Rename a waiting timer; if the case already has ``new`` pending (at most one per
    event and case), the old one is cancelled instead: the new one is the one to keep."""
    clash = conn.execute(
        select(timers.c.id).where(
            timers.c.case_id == case_id, timers.c.status == "pending", timers.c.event == new
        )
    ).first()
    # A timer a sweep set aside for its unknown event waits again, under its new name.
    values: dict[str, Any] = (
        {"status": "cancelled"}
        if clash is not None
        else {"event": new, "status": "pending", "failure": None}
    )
    conn.execute(update(timers).where(timers.c.id == timer_id).values(**values))
