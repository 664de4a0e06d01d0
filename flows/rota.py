"""``forloeb rota plan``: a month's monthly consultations, planned and put in the calendars.

The rota file (JSON, UTF-8)::

    {"workers": [{"key": "sr-sara", "name": "...", "email": "...",
                  "weekdays": ["mon", "tue", "wed", "thu", "fri"]}],
     "daycares": [{"key": "dt-solsikken", "name": "Børnehuset Solsikken",
                   "location": "...", "leader": {"name": "...", "email": "..."},
                   "closure_days": ["2027-07-19"]}],
     "closure_days": ["2027-05-07"],
     "settings": {"times": ["09:00", "11:00", "13:00"], "max_per_day": 2, "minutes": 90}}

``closure_days`` at the top are the municipality's days every daycare is closed (on top of
the public holidays and FORLOEB_EXTRA_DAYS_OFF). Each daycare has one live ``consultation``
case of kind ``monthly`` whose series is its stable slot. Planning a month:

- a daycare without such a case gets one, and its series from that month to the end of
  the year (the invitations go to its leader and its social worker through the outbox);
- a daycare whose slot holds this month keeps it: nothing is sent;
- a daycare whose slot cannot hold it this month (a closure day, a full day) gets that
  occurrence moved (an update with its RECURRENCE-ID), or, where the slot's day is one
  the series leaves out, a single meeting on the day the rota chose.

Everything is checked and planned before anything is written; a refusal writes nothing.

``forloeb rota absent`` moves an absent social worker's monthly meetings
(``machines.rota.plan_absence``): each occurrence within the absence goes to the other
social worker at the same time if they are free (``cover_meeting``: an update of that
occurrence to the leader and the covering worker, a CANCEL of it to the absent one), else
to the nearest open day of the month with a free slot (``move_meeting`` or
``cover_meeting``). Every social worker's meetings of every live consultation case count
as busy. All the changes are one transaction: one that cannot be placed writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator

from machines import InvalidInput, Series, WorkingCalendar, error_location
from machines.inputs import Day, Email, Key, OneLine, Place, StrictModel
from machines.recurring import label, series_keys
from machines.rota import (
    Assignment,
    Booked,
    Cover,
    Daycare,
    Slot,
    Worker,
    plan_absence,
    plan_month,
)
from machines.workdays import COPENHAGEN
from persistence import CaseStore

WEEKDAY_CODES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri"]
ALL_WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri")
Name = Annotated[OneLine, Field(min_length=1, max_length=200)]


class PersonIn(StrictModel):
    name: Name = Field(title="Navn")
    email: Email = Field(title="E-mail")


class RotaWorkerIn(PersonIn):
    key: Key = Field(title="Nøgle")
    weekdays: Annotated[list[Weekday], Field(min_length=1)] = Field(
        default_factory=lambda: list(ALL_WEEKDAYS), title="Arbejdsdage"
    )


class RotaDaycareIn(StrictModel):
    key: Key = Field(title="Nøgle")
    name: Name = Field(title="Navn")
    location: Place = Field(title="Mødested")
    leader: PersonIn = Field(title="Leder")
    closure_days: list[Day] = Field(default_factory=list, title="Lukkedage")


class RotaSettingsIn(StrictModel):
    times: Annotated[list[str], Field(min_length=1, max_length=8)] = Field(
        default_factory=lambda: ["09:00", "11:00", "13:00"], title="Mødetider"
    )
    max_per_day: Annotated[int, Field(ge=1, le=8)] = Field(2, title="Møder pr. dag")
    minutes: Annotated[int, Field(ge=30, le=240)] = Field(90, title="Varighed (minutter)")

    @field_validator("times")
    @classmethod
    def _times(cls, times: list[str]) -> list[str]:
        for text in times:
            try:
                time.fromisoformat(text)
            except ValueError:
                raise ValueError("a time is written HH:MM, e.g. 09:00") from None
        return times


class RotaFile(StrictModel):
    workers: Annotated[list[RotaWorkerIn], Field(min_length=1, max_length=20)]
    daycares: Annotated[list[RotaDaycareIn], Field(min_length=1, max_length=500)]
    closure_days: list[Day] = Field(default_factory=list)
    settings: RotaSettingsIn = Field(default_factory=RotaSettingsIn)


def read_rota(raw: Any, path: str) -> RotaFile:
    try:
        rota = RotaFile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = error_location(first["loc"], RotaFile) or "the file"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise InvalidInput(f"{path}: {where}: {message}") from None
    for what, keys in (
        ("social worker", [w.key for w in rota.workers]),
        ("daycare", [d.key for d in rota.daycares]),
    ):
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            raise InvalidInput(f"{path}: {what} {twice[0]} is listed twice; list each once")
    return rota


def parse_month(text: str) -> tuple[int, int]:
    try:
        first = date.fromisoformat(f"{text}-01")
    except ValueError:
        # Not repeated: what is there instead of a month may be a name or a CPR number.
        raise InvalidInput("--month is not a month; write it YYYY-MM, e.g. 2027-03") from None
    if not 2000 <= first.year < 2100:
        raise InvalidInput("--month must lie between the years 2000 and 2099")
    return first.year, first.month


@dataclass(frozen=True)
class Existing:
    case_id: int
    series: Series
    worker_email: str
    #: The starts of its single meetings (a month whose slot was a closure day).
    extra_starts: frozenset[datetime] = frozenset()


@dataclass(frozen=True)
class Step:
    """What planning does for one daycare: ``open`` (a new case and series), ``keep``,
    ``move`` (one occurrence), ``add`` (a single meeting beside the series) or ``renew``
    (its series has ended: the case is closed and a new one opened on the same slot)."""

    daycare: str
    action: str
    assignment: Assignment
    case_id: int | None = None
    recurrence_id: datetime | None = None


def existing_cases(store: CaseStore, now: datetime) -> dict[str, Existing]:
    """Each daycare's live monthly consultation case, by daycare key."""
    found: dict[str, Existing] = {}
    for summary in store.iter_cases(now, process="consultation", state="planned"):
        snapshot = store.snapshot(summary["id"])
        case_file = snapshot.data.get("case_file", {})
        keys = snapshot.data.get("series", [])
        if case_file.get("kind") != "monthly" or not keys:
            continue
        meeting = snapshot.meeting(keys[-1])
        workers = snapshot.with_role("social_worker")
        if meeting is None or not meeting.series or not workers:
            continue
        extra = frozenset(
            m.start for m in snapshot.meetings if m.series is None and m.status == "scheduled"
        )
        found[case_file["daycare"]] = Existing(
            snapshot.id, Series.from_json(meeting.series), (workers[0].email or "").lower(), extra
        )
    return found


def plan(
    rota: RotaFile,
    year: int,
    month: int,
    calendar: WorkingCalendar,
    existing: dict[str, Existing],
) -> list[Step]:
    """The month's assignment and what it takes to put it in the calendars."""
    worker_by_email = {w.email.lower(): w.key for w in rota.workers}
    preferred: dict[str, Slot] = {}
    for key, found in existing.items():
        start = found.series.start
        rule = found.series.rule
        worker = worker_by_email.get(found.worker_email)
        if worker is not None and rule.byday is not None:
            preferred[key] = Slot(worker, rule.byday[0], rule.byday[1], start.time())
    assignments = plan_month(
        year,
        month,
        [Daycare(d.key, frozenset(d.closure_days)) for d in rota.daycares],
        [
            Worker(w.key, frozenset(WEEKDAY_CODES.index(code) for code in w.weekdays))
            for w in rota.workers
        ],
        calendar,
        [time.fromisoformat(t) for t in rota.settings.times],
        rota.settings.max_per_day,
        closed=rota.closure_days,
        preferred=preferred,
    )
    steps: list[Step] = []
    email_of = {w.key: w.email.lower() for w in rota.workers}
    for d in rota.daycares:
        a = assignments[d.key]
        existing_case = existing.get(d.key)
        if existing_case is None:
            steps.append(Step(d.key, "open", a))
            continue
        found = existing_case
        if email_of[a.worker] != found.worker_email:
            raise InvalidInput(
                f"{d.key} would change social worker; close its case "
                f"{found.case_id} first (forloeb case fire {found.case_id} close), then plan"
            )
        if not any(s.date() >= date(year, month, 1) for s in found.series.rule_starts()):
            steps.append(Step(d.key, "renew", a, found.case_id))  # its series has ended
            continue
        in_month = [
            o
            for o in found.series.occurrences()
            if (o.recurrence_id.year, o.recurrence_id.month) == (year, month)
        ]
        if (
            a.start in found.extra_starts
            or (in_month and not in_month[0].cancelled and in_month[0].start == a.start)
            # Moved on its own (an absence, or by hand): planning again leaves it there.
            or (in_month and in_month[0].moved)
        ):
            steps.append(Step(d.key, "keep", a, found.case_id))
        elif in_month and not in_month[0].cancelled:
            steps.append(Step(d.key, "move", a, found.case_id, in_month[0].recurrence_id))
        else:
            steps.append(Step(d.key, "add", a, found.case_id))
    return steps


def apply(store: CaseStore, rota: RotaFile, steps: Sequence[Step], now: datetime) -> None:
    """Open, move and add as planned; each daycare in a transaction of its own."""
    workers = {w.key: w for w in rota.workers}
    daycares = {d.key: d for d in rota.daycares}
    minutes = rota.settings.minutes
    for step in steps:
        a = step.assignment
        worker = workers[a.worker]
        if step.action == "renew":
            assert step.case_id is not None
            reason = {"reason": "ny periode for de faste møder"}
            store.fire(step.case_id, "close", worker.email, reason, now)
        if step.action in ("open", "renew"):
            d = daycares[step.daycare]
            case_file = {
                "title": d.name,
                "location": d.location,
                "kind": "monthly",
                "daycare": d.key,
                "participants": [
                    {
                        "key": "sr",
                        "role": "social_worker",
                        "name": worker.name,
                        "email": worker.email,
                    },
                    {
                        "key": "leder",
                        "role": "leader",
                        "name": d.leader.name,
                        "email": d.leader.email,
                    },
                ],
            }
            case_id = store.open_case("consultation", case_file, now, actor=worker.email)
            plan_in = {
                "first": a.start.isoformat(),
                "until": date(a.day.year, 12, 31).isoformat(),
                "minutes": minutes,
                "closure_days": [
                    x.isoformat() for x in sorted({*d.closure_days, *rota.closure_days})
                ],
            }
            store.fire(case_id, "plan_monthly", worker.email, plan_in, now)
        elif step.action == "move":
            assert step.case_id is not None and step.recurrence_id is not None
            session = {"session": label(step.recurrence_id), "start": a.start.isoformat()}
            store.fire(step.case_id, "move_meeting", worker.email, session, now)
        elif step.action == "add":
            assert step.case_id is not None
            store.fire(
                step.case_id, "add_meeting", worker.email, {"start": a.start.isoformat()}, now
            )


def local(moment: datetime) -> datetime:
    return moment.astimezone(COPENHAGEN)


# ---------------------------------------------------------------- an absence

#: A consultation case's states in which its meetings still take place.
LIVE_STATES = frozenset({"opened", "planned", "consented", "slots_proposed", "booked"})
#: The roles of a social worker on a consultation case.
WORKER_ROLES = frozenset({"social_worker", "substitute"})
#: The longest absence one command moves (a year).
MAX_ABSENCE_DAYS = 366


def parse_day(text: str, option: str) -> date:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{option} is not a day; write it YYYY-MM-DD, e.g. 2027-03-08") from None
    if not 2000 <= day.year < 2100:
        raise InvalidInput(f"{option} must lie between the years 2000 and 2099")
    return day


def absence_span(first: date, last: date) -> tuple[date, date]:
    if last < first:
        raise InvalidInput("--to lies before --from; give the absence's first and last day")
    if (last - first).days >= MAX_ABSENCE_DAYS:
        raise InvalidInput(
            f"an absence of more than {MAX_ABSENCE_DAYS} days is not moved at once; "
            "move it a part at a time"
        )
    return first, last


def worker_key(rota: RotaFile, email: str, path: str) -> str:
    wanted = email.strip().lower()
    for w in rota.workers:
        if w.email.lower() == wanted:
            return w.key
    raise InvalidInput(
        f"--worker is not the e-mail of a social worker in {path}; give one of theirs "
        f"({', '.join(w.key for w in rota.workers)})"
    )


@dataclass(frozen=True)
class Bookings:
    """Every social worker's meetings in the months of an absence, and for each monthly
    case who acts on it (its fixed social worker's address)."""

    meetings: list[Booked]
    actor_of: dict[int, str]


def _months(first: date, last: date) -> set[tuple[int, int]]:
    months, day = set(), first.replace(day=1)
    while day <= last:
        months.add((day.year, day.month))
        day = (day + timedelta(days=32)).replace(day=1)
    return months


def booked_meetings(
    store: CaseStore, rota: RotaFile, first: date, last: date, now: datetime
) -> Bookings:
    """The meetings of the rota's social workers, from every live consultation case, in
    the months from ``first`` to ``last``."""
    months = _months(first, last)
    key_of = {w.email.lower(): w.key for w in rota.workers}
    found: list[Booked] = []
    actor_of: dict[int, str] = {}
    for summary in store.iter_cases(now, process="consultation"):
        if summary["state"] not in LIVE_STATES:
            continue
        case = store.snapshot(summary["id"])
        case_file = case.data.get("case_file", {})
        monthly = case_file.get("kind") == "monthly"
        workers = {
            p.key: key_of[(p.email or "").lower()]
            for p in case.participants
            if p.role in WORKER_ROLES and (p.email or "").lower() in key_of
        }
        own = case.with_role("social_worker")
        if monthly and own and own[0].email:
            actor_of[case.id] = own[0].email
        in_series = set(series_keys(case.data))
        daycare = case_file.get("daycare") if monthly else None
        for meeting in case.meetings:
            if meeting.status != "scheduled":
                continue
            if not meeting.series:
                if (local(meeting.start).year, local(meeting.start).month) in months:
                    found += [
                        Booked(workers[k], meeting.start, meeting.end, daycare, case.id)
                        for k in meeting.attendees
                        if k in workers
                    ]
                continue
            series = Series.from_json(meeting.series)
            of_rota = daycare if meeting.key in in_series else None
            for occurrence in series.held_or_planned():
                if (occurrence.start.year, occurrence.start.month) not in months:
                    continue
                override = series.overrides.get(occurrence.recurrence_id)
                attendees = meeting.attendees
                if override is not None and override.attendees is not None:
                    attendees = override.attendees
                found += [
                    Booked(
                        workers[k],
                        occurrence.start,
                        occurrence.end,
                        of_rota,
                        case.id,
                        occurrence.recurrence_id,
                    )
                    for k in attendees
                    if k in workers
                ]
    return Bookings(found, actor_of)


def plan_absent(
    rota: RotaFile,
    worker: str,
    first: date,
    last: date,
    calendar: WorkingCalendar,
    bookings: Bookings,
    now: datetime,
) -> list[Cover]:
    return plan_absence(
        worker,
        first,
        last,
        bookings.meetings,
        [
            Worker(w.key, frozenset(WEEKDAY_CODES.index(code) for code in w.weekdays))
            for w in rota.workers
        ],
        {d.key: Daycare(d.key, frozenset(d.closure_days)) for d in rota.daycares},
        calendar,
        [time.fromisoformat(t) for t in rota.settings.times],
        rota.settings.max_per_day,
        now,
        closed=rota.closure_days,
    )


def apply_absence(
    store: CaseStore, rota: RotaFile, covers: Sequence[Cover], bookings: Bookings, now: datetime
) -> None:
    """Every move and cover in one transaction: all are stored, or none."""
    workers = {w.key: w for w in rota.workers}
    events: list[tuple[int, str, str, dict[str, Any]]] = []
    for cover in covers:
        meeting = cover.meeting
        assert meeting.case_id is not None and meeting.recurrence_id is not None
        actor = bookings.actor_of[meeting.case_id]
        given: dict[str, Any] = {
            "session": label(meeting.recurrence_id),
            "start": cover.start.isoformat(),
        }
        to = workers[cover.worker]
        if cover.action == "move":  # its own worker, another day
            events.append((meeting.case_id, "move_meeting", actor, given))
        else:
            given["worker"] = {"name": to.name, "email": to.email}
            events.append((meeting.case_id, "cover_meeting", actor, given))
    store.fire_all(events, now)
