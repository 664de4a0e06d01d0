"""What the pages show, computed from the store: *Mine sager* and one case, per reader."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, exists, func, select

from machines import (
    COPENHAGEN,
    OPERATOR,
    CaseSnapshot,
    Process,
    Reader,
    WorkingCalendar,
    case_view,
    get_process,
)
from persistence import Base, CaseRow, CaseStore, ParticipantRow, TimerRow

from .messages import ANSWER_TITLES, STATUS_TITLES, TEMPLATE_TITLES

cases = Base.metadata.tables[CaseRow.__tablename__]
participants = Base.metadata.tables[ParticipantRow.__tablename__]
timers = Base.metadata.tables[TimerRow.__tablename__]

#: A deadline this many working days ahead or fewer is "soon".
SOON_WORKING_DAYS = 5
PAGE_SIZE = 25

_MONTHS = (
    "jan.",
    "feb.",
    "mar.",
    "apr.",
    "maj",
    "jun.",
    "jul.",
    "aug.",
    "sep.",
    "okt.",
    "nov.",
    "dec.",
)


def local(value: datetime | str | None, with_time: bool = True) -> str:
    """A time as a Dane reads it, in Copenhagen time: "4. jan. 2027 kl. 09:00"."""
    if value is None:
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    moment = moment.astimezone(COPENHAGEN)
    day = f"{moment.day}. {_MONTHS[moment.month - 1]} {moment.year}"
    return f"{day} kl. {moment:%H:%M}" if with_time else day


def local_day(day: date | None) -> str:
    """A date as a Dane reads it: "4. jan. 2027"."""
    if day is None:
        return ""
    return f"{day.day}. {_MONTHS[day.month - 1]} {day.year}"


def number(value: int) -> str:
    """An integer with Danish thousands separators: 12.345."""
    return f"{value:,}".replace(",", ".")


def working_days_until(calendar: WorkingCalendar, now: datetime, due: datetime) -> int:
    """Working days from today to the due day (0: due today; negative: overdue)."""
    today = now.astimezone(COPENHAGEN).date()
    due_day = due.astimezone(COPENHAGEN).date()
    if due_day < today:
        return -calendar.count_working_days(due_day + timedelta(days=1), today)
    return calendar.count_working_days(today + timedelta(days=1), due_day)


def deadline_text(days: int) -> str:
    if days < 0:
        return f"frist overskredet for {-days} arbejdsdag{'e' if days != -1 else ''} siden"
    if days == 0:
        return "frist i dag"
    return f"frist om {days} arbejdsdag{'e' if days != 1 else ''}"


def events_now(process: Process, state: str, roles: frozenset[str]) -> list[str]:
    """The events these roles may fire in this state (timer events are the sweep's)."""
    return [
        name
        for name in process.allowed_events(state)
        if (event := process.event(name)) is not None and event.roles & roles
    ]


@dataclass
class CaseLine:
    id: int
    process: str
    process_title: str
    state: str
    state_title: str
    roles: list[str]
    events: list[str] = field(default_factory=list)
    next_due: datetime | None = None
    deadline: str = ""
    overdue: bool = False
    final: bool = False
    group: str = "other"


GROUPS = (
    ("now", "Kræver handling nu"),
    ("overdue", "Overskredet"),
    ("soon", "Frist snart"),
    ("other", "Øvrige aktive sager"),
    ("done", "Afsluttede sager"),
)


def _aware_utc(value: Any) -> datetime | None:
    """A scalar subquery bypasses the column type: SQLite hands back naive UTC text."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    assert isinstance(moment, datetime)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def my_cases(
    engine: Engine,
    reader: Reader,
    now: datetime,
    calendar: WorkingCalendar,
    process: str | None = None,
    state: str | None = None,
) -> list[CaseLine]:
    """Every case the reader is on (the operator: every case), grouped by what it needs."""
    late = exists().where(
        timers.c.case_id == cases.c.id, timers.c.status == "pending", timers.c.due <= now
    )
    next_due = (
        select(func.min(timers.c.due))
        .where(timers.c.case_id == cases.c.id, timers.c.status == "pending")
        .scalar_subquery()
    )
    if reader.is_operator:
        query = select(cases.c.id, cases.c.process, cases.c.state, next_due, late)
    else:
        query = (
            select(cases.c.id, cases.c.process, cases.c.state, next_due, late, participants.c.role)
            .join(participants, participants.c.case_id == cases.c.id)
            .where(func.lower(participants.c.email) == (reader.email or "").lower())
        )
    if process:
        query = query.where(cases.c.process == process)
    if state:
        query = query.where(cases.c.state == state)
    lines: dict[int, CaseLine] = {}
    with engine.connect() as conn:
        for row in conn.execute(query.order_by(cases.c.id.desc())):
            line = lines.get(row[0])
            if line is None:
                spec = get_process(row[1])
                line = lines[row[0]] = CaseLine(
                    id=row[0],
                    process=row[1],
                    process_title=spec.title,
                    state=row[2],
                    state_title=spec.state_title(row[2]),
                    roles=[],
                    next_due=_aware_utc(row[3]),
                    overdue=row[2] in spec.overdue_states or bool(row[4]),
                    final=row[2] in spec.finals,
                )
            if not reader.is_operator:
                line.roles.append(row[5])
    for line in lines.values():
        spec = get_process(line.process)
        if not reader.is_operator:
            line.events = events_now(spec, line.state, frozenset(line.roles))
        days = working_days_until(calendar, now, line.next_due) if line.next_due else None
        line.deadline = deadline_text(days) if days is not None else ""
        if line.final:
            line.group = "done"
        elif line.overdue:
            line.group = "overdue"
        elif line.events:
            line.group = "now"
        elif days is not None and days <= SOON_WORKING_DAYS:
            line.group = "soon"
    order = {key: i for i, (key, _) in enumerate(GROUPS)}
    return sorted(
        lines.values(),
        key=lambda c: (order[c.group], c.next_due or datetime.max.replace(tzinfo=COPENHAGEN)),
    )


def case_page(
    store: CaseStore,
    snapshot: CaseSnapshot,
    reader: Reader,
    now: datetime,
    calendar: WorkingCalendar,
) -> dict[str, Any]:
    """Everything the case page shows, already cut to what the reader may see."""
    spec = get_process(snapshot.process)
    shown = case_view(snapshot, store.show(snapshot.id), reader)
    operator = reader.is_operator
    people = {p["key"]: p for p in shown["participants"]}
    by_email = {p.get("email"): p for p in shown["participants"] if p.get("email")}

    def who(actor: str) -> str:
        if actor == "system":
            return "Systemet"
        person = by_email.get(actor)
        if person is not None:
            return f"{person['name']} ({_role(spec, person['role'])})"
        return actor  # the operator view has "role:key" here already

    def person(key: str) -> str:
        p = people.get(key)
        if p is None:
            return key
        return f"{p['name']} ({_role(spec, p['role'])})" if not operator else _role(spec, p["role"])

    pending = [t for t in shown["timers"] if t["status"] == "pending"]
    next_timer = min(pending, key=lambda t: t["due"], default=None)
    roles = snapshot.roles_of(reader.email or "") if not operator else frozenset()
    return {
        "id": snapshot.id,
        "operator": operator,
        "process": spec,
        "state": snapshot.state,
        "state_title": spec.state_title(snapshot.state),
        "title": None if operator else shown.get("title"),
        "states": [
            {
                "name": s,
                "title": spec.state_title(s),
                "current": s == snapshot.state,
                "final": s in spec.finals,
            }
            for s in spec.states
        ],
        "my_roles": [_role(spec, r) for r in sorted(roles)],
        "events": events_now(spec, snapshot.state, roles),
        "participants": [
            {
                "name": p.get("name", ""),
                "key": p["key"],
                "role": _role(spec, p["role"]),
                "email": p.get("email"),
            }
            for p in shown["participants"]
        ],
        "meetings": [_meeting(m, person, operator) for m in shown["meetings"]],
        "timeline": [
            {
                "at": local(h["at"]),
                "event": spec.event_title(h["event"]) if h["event"] != "open" else "Sagen oprettet",
                "who": who(h["actor"]),
                "dest": spec.state_title(h["dest"]),
            }
            for h in shown["history"]
        ],
        "outbox": [
            {
                "template": TEMPLATE_TITLES.get(o["template"], o["template"]),
                "to": (by_email.get(o["to"], {}).get("name") or o["to"])
                if not operator
                else o["to"],
                "status": STATUS_TITLES.get(o["status"], o["status"]),
                "delivered": o["status"] == "sent",
            }
            for o in shown["outbox"]
        ],
        "next_timer": {
            "event": spec.event_title(next_timer["event"]),
            "due": local(next_timer["due"]),
            "deadline": deadline_text(
                working_days_until(calendar, now, datetime.fromisoformat(next_timer["due"]))
            ),
        }
        if next_timer
        else None,
        "has_form": spec.form_reader is not None and not operator,
        "form_title": spec.form_title,
    }


def _meeting(
    meeting: dict[str, Any], person: Callable[[str], str], operator: bool
) -> dict[str, Any]:
    """A meeting on the case page: who is invited and, for a participant reading, what each
    has answered to the meeting as it is now (an answer to an earlier time does not count),
    how many of the required have accepted, and any time proposed instead."""
    current = {a["participant"]: a["answer"] for a in meeting.get("answers", ()) if a["current"]}
    return {
        "start": local(meeting["start"]),
        "end": local(meeting["end"])[-5:],
        "location": meeting.get("location", ""),
        "status": STATUS_TITLES.get(meeting["status"], meeting["status"]),
        "attendees": [
            {
                "who": person(k),
                "answer": None
                if operator
                else ANSWER_TITLES.get(current.get(k, ""), "har ikke svaret"),
            }
            for k in meeting["participants"]
        ],
        "tally": None
        if operator or meeting["status"] == "cancelled"
        else f"{meeting['required_accepted']} af {meeting['required_invited']} nødvendige "
        "deltagere har accepteret",
        "proposals": [
            f"{person(p['participant'])} foreslår {local(p['start'])}–{local(p['end'])[-5:]}"
            for p in meeting.get("proposals", ())
            if not operator and p["sequence"] == meeting["sequence"]
        ],
        # A series: what someone answered to one session alone (it stands for that session
        # instead of their answer to the series), as long as the session is as answered.
        "session_answers": [
            f"{person(a['participant'])}, {local(a['start'])}: "
            f"{ANSWER_TITLES.get(a['answer'], a['answer'])}"
            for a in meeting.get("occurrence_answers", ())
            if not operator and a["current"] and a["start"] is not None
        ],
    }


def _role(spec: Process, role: str) -> str:
    found = spec.roles.get(role)
    return found.title if found else role


def today(now: datetime) -> date:
    return now.astimezone(COPENHAGEN).date()


__all__ = ["GROUPS", "OPERATOR", "CaseLine", "case_page", "local", "my_cases"]
