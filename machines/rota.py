"""The rota of the fixed monthly meetings: which social worker meets which daycare when.

Pure: no I/O. ``plan_month`` spreads one month's meetings (one per daycare) over the
social workers' working days:

1. no double booking: a worker has at most ``per_day`` meetings a day, at distinct times
   (the first ``per_day`` of ``times``);
2. none on a closure day: not on a weekend, public holiday or the municipality's day off
   (``calendar``), not on a day closed for every daycare (``closed``), not on the
   daycare's own closure days, and only on the worker's working weekdays;
3. a balanced load: the workers' numbers of meetings differ by at most one;
4. a stable slot wherever possible: a daycare keeps its worker, weekday, week of the
   month and time (``preferred``, e.g. last month's) whenever that day can hold it; a
   daycare without one gets a slot in the month's first four weeks, so that it exists in
   every month.

A month that cannot hold the meetings raises ``RotaError``: one line saying how many fit
and what to change.

``plan_absence`` moves an absent social worker's meetings: each of their monthly meetings
within the absence goes to another social worker at the same time if one is free (rule
1, and their working weekdays), else to the nearest day of the same month that is open
(rule 2) with a free slot for a social worker who is not absent then — its own worker
after the absence, or another. One that cannot be placed raises ``RotaError`` naming
the daycare and the day; nothing is planned half.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta

from .errors import InvalidInput
from .series import nth_weekday
from .workdays import COPENHAGEN, WorkingCalendar

WEEKDAYS = ("man", "tir", "ons", "tor", "fre", "lør", "søn")


class RotaError(InvalidInput):
    """The month cannot hold the meetings as asked (exit 2, nothing written)."""


@dataclass(frozen=True)
class Worker:
    key: str
    weekdays: frozenset[int] = frozenset(range(5))  # 0 Monday … 4 Friday


@dataclass(frozen=True)
class Daycare:
    key: str
    closed: frozenset[date] = frozenset()


@dataclass(frozen=True, order=True)
class Slot:
    """A stable slot: a worker, the n-th (1–4) weekday of the month, a time."""

    worker: str
    nth: int
    weekday: int
    at: time

    def day_in(self, year: int, month: int) -> date | None:
        return nth_weekday(year, month, self.nth, self.weekday)


@dataclass(frozen=True)
class Assignment:
    daycare: str
    worker: str
    day: date
    at: time
    #: "kept": on the daycare's preferred slot; "moved": that slot could not hold it this
    #: month; "new": it had none (with this worker).
    status: str

    @property
    def start(self) -> datetime:
        return datetime.combine(self.day, self.at, COPENHAGEN)

    @property
    def slot(self) -> Slot:
        return Slot(self.worker, (self.day.day - 1) // 7 + 1, self.day.weekday(), self.at)


def _month_days(year: int, month: int) -> list[date]:
    first = date(year, month, 1)
    days = []
    day = first
    while day.month == month:
        days.append(day)
        day += timedelta(days=1)
    return days


def _quotas(
    n: int, workers: Sequence[Worker], capacity: Mapping[str, int], wanted: Mapping[str, int]
) -> dict[str, int]:
    base, extra = divmod(n, len(workers))
    quotas = {w.key: base for w in workers}
    # The extra meetings go to the workers who can hold them, those whose daycares want
    # them most first (stability), then those with the most room.
    order = sorted(workers, key=lambda w: (-wanted.get(w.key, 0), -capacity[w.key], w.key))
    for w in order:
        if extra and capacity[w.key] > base:
            quotas[w.key] += 1
            extra -= 1
    if extra:
        raise RotaError(
            f"a balanced rota gives each social worker {base} or {base + 1} meetings, and "
            f"too few of them have room for {base + 1}; add working days or allow more "
            "meetings a day"
        )
    return quotas


def plan_month(
    year: int,
    month: int,
    daycares: Sequence[Daycare],
    workers: Sequence[Worker],
    calendar: WorkingCalendar,
    times: Sequence[time],
    per_day: int,
    *,
    closed: Iterable[date] = (),
    preferred: Mapping[str, Slot] | None = None,
) -> dict[str, Assignment]:
    """One meeting per daycare in ``year``-``month``; see the module's rules."""
    preferred = preferred or {}
    name = f"{year:04d}-{month:02d}"
    if not workers:
        raise RotaError("the rota names no social worker; add at least one")
    if len({d.key for d in daycares}) != len(daycares):
        raise RotaError("a daycare is listed twice in the rota; list each once")
    if not 1 <= per_day <= len(set(times)):
        raise RotaError(
            f"{per_day} meetings a day need as many distinct times; {len(set(times))} are given"
        )
    slot_times = sorted(set(times))[:per_day]
    closed_days = set(closed)
    open_days = [
        d for d in _month_days(year, month) if calendar.is_working_day(d) and d not in closed_days
    ]
    days_of = {w.key: [d for d in open_days if d.weekday() in w.weekdays] for w in workers}
    capacity = {w.key: len(days_of[w.key]) * per_day for w in workers}
    total = sum(capacity.values())
    if total < len(daycares):
        each = ", ".join(f"{w.key} {len(days_of[w.key])} days" for w in workers)
        raise RotaError(
            f"{name} has room for {total} meetings ({each}, {per_day} a day), "
            f"{len(daycares)} needed; allow more meetings a day (max_per_day), add working "
            "days for the social workers, or plan fewer daycares this month"
        )
    base = len(daycares) // len(workers)
    short = [w.key for w in workers if capacity[w.key] < base]
    if short:
        raise RotaError(
            f"a balanced rota gives each social worker at least {base} meetings in {name}; "
            f"{', '.join(short)} has room for fewer ({per_day} a day on their working days); "
            "allow more meetings a day, or give them more working days"
        )
    known = {w.key for w in workers}
    wanted: dict[str, int] = {}
    for d in daycares:
        slot = preferred.get(d.key)
        if slot is not None and slot.worker in known:
            wanted[slot.worker] = wanted.get(slot.worker, 0) + 1
    quotas = _quotas(len(daycares), workers, capacity, wanted)

    # Who meets whom: the preferred worker while their quota lasts, the rest where room is.
    worker_of: dict[str, str] = {}
    load = dict.fromkeys(quotas, 0)
    pool: list[Daycare] = []
    for d in sorted(daycares, key=lambda d: d.key):
        slot = preferred.get(d.key)
        if slot is not None and slot.worker in known and load[slot.worker] < quotas[slot.worker]:
            worker_of[d.key] = slot.worker
            load[slot.worker] += 1
        else:
            pool.append(d)
    for d in pool:
        roomiest = max(quotas, key=lambda k: (quotas[k] - load[k], k))
        worker_of[d.key] = roomiest
        load[roomiest] += 1

    result: dict[str, Assignment] = {}
    for w in workers:
        mine = [d for d in daycares if worker_of[d.key] == w.key]
        result.update(_place(name, year, month, w, mine, days_of[w.key], slot_times, preferred))
    return result


def _place(
    name: str,
    year: int,
    month: int,
    worker: Worker,
    daycares: Sequence[Daycare],
    days: Sequence[date],
    slot_times: Sequence[time],
    preferred: Mapping[str, Slot],
) -> dict[str, Assignment]:
    """One worker's daycares on distinct (day, time) slots: preferred slots kept where they
    can be, the others matched (augmenting paths) in their order of preference."""
    free = {(d, t) for d in days for t in slot_times}
    placed: dict[str, Assignment] = {}
    rest: list[Daycare] = []
    for d in sorted(daycares, key=lambda d: d.key):
        slot = preferred.get(d.key)
        day = slot.day_in(year, month) if slot is not None and slot.worker == worker.key else None
        if slot is not None and day is not None and day not in d.closed and (day, slot.at) in free:
            free.discard((day, slot.at))
            placed[d.key] = Assignment(d.key, worker.key, day, slot.at, "kept")
        else:
            rest.append(d)

    def choices(d: Daycare) -> list[tuple[date, time]]:
        slot = preferred.get(d.key)
        usable = [s for s in free if s[0] not in d.closed]
        if slot is None or slot.worker != worker.key:
            # A new slot: one that exists every month (weeks 1–4), spread over the days.
            return sorted(
                usable, key=lambda s: (s[0].day > 28, slot_times.index(s[1]), (s[0].day - 1) % 7, s)
            )
        # A preferred slot it cannot keep this month: the same weekday and time first.
        return sorted(
            usable,
            key=lambda s: (s[0].weekday() != slot.weekday, s[1] != slot.at, abs(s[0].day - 14), s),
        )

    options = {d.key: choices(d) for d in rest}
    holder: dict[tuple[date, time], str] = {}

    def augment(key: str, seen: set[tuple[date, time]]) -> bool:
        for s in options[key]:
            if s in seen:
                continue
            seen.add(s)
            if s not in holder or augment(holder[s], seen):
                holder[s] = key
                return True
        return False

    for d in rest:
        if not augment(d.key, set()):
            raise RotaError(
                f"{d.key} cannot be placed in {name}: {worker.key} has {len(free)} free slots "
                f"left and each falls on a closure day of {d.key} or is taken; allow more "
                "meetings a day or check the daycare's closure days"
            )
    for (day, at), key in holder.items():
        slot = preferred.get(key)
        status = "new" if slot is None or slot.worker != worker.key else "moved"
        placed[key] = Assignment(key, worker.key, day, at, status)
    return placed


def preferences(assignments: Iterable[Assignment]) -> dict[str, Slot]:
    """A month's assignments as next month's preferred slots (those in weeks 1–4)."""
    return {a.daycare: a.slot for a in assignments if a.day.day <= 28}


def describe(a: Assignment) -> str:
    return f"{WEEKDAYS[a.day.weekday()]} {a.day:%d.%m.%Y} kl. {a.at:%H:%M}"


# ---------------------------------------------------------------- an absence


@dataclass(frozen=True)
class Booked:
    """A meeting a social worker holds. ``daycare`` is set on a daycare's monthly meeting
    (``case_id``; ``recurrence_id`` names its occurrence, None: a single meeting added
    beside the series); any other meeting (a dialogue, an advice) only makes them busy."""

    worker: str
    start: datetime
    end: datetime
    daycare: str | None = None
    case_id: int | None = None
    recurrence_id: datetime | None = None


@dataclass(frozen=True)
class Cover:
    """Where one meeting of the absent worker goes: ``worker`` at ``start``."""

    meeting: Booked
    worker: str
    start: datetime

    @property
    def end(self) -> datetime:
        return self.start + (self.meeting.end - self.meeting.start)

    @property
    def action(self) -> str:
        """``cover``: another social worker takes it; ``move``: its own, on another day."""
        return "move" if self.worker == self.meeting.worker else "cover"


def _day(moment: datetime) -> date:
    return moment.astimezone(COPENHAGEN).date()


def plan_absence(
    absent: str,
    first: date,
    last: date,
    booked: Sequence[Booked],
    workers: Sequence[Worker],
    daycares: Mapping[str, Daycare],
    calendar: WorkingCalendar,
    times: Sequence[time],
    per_day: int,
    now: datetime,
    *,
    closed: Iterable[date] = (),
) -> list[Cover]:
    """Where each monthly meeting of ``absent`` from ``first`` to ``last`` goes (see the
    module's rules); a meeting already begun stays as it is."""
    if last < first:
        raise RotaError(f"the absence ends ({last}) before it begins ({first})")
    known = {w.key: w for w in workers}
    if absent not in known:
        raise RotaError(f"{absent} is not a social worker of the rota")
    slot_times = sorted(set(times))[:per_day]
    closed_days = set(closed)
    mine = sorted(
        (
            b
            for b in booked
            if b.worker == absent
            and b.daycare is not None
            and first <= _day(b.start) <= last
            and b.start > now
        ),
        key=lambda b: (b.start, b.daycare or ""),
    )
    busy: dict[str, list[Booked]] = {}
    for b in booked:
        busy.setdefault(b.worker, []).append(b)

    def away(worker: str, day: date) -> bool:
        return worker == absent and first <= day <= last

    def free(worker: str, start: datetime, end: datetime, moving: Booked) -> bool:
        theirs = [b for b in busy.get(worker, []) if b is not moving]
        if sum(1 for b in theirs if _day(b.start) == _day(start)) >= per_day:
            return False
        return all(b.end <= start or end <= b.start for b in theirs)

    covers: list[Cover] = []
    for meeting in mine:
        if meeting.recurrence_id is None:
            raise RotaError(
                f"{meeting.daycare}'s meeting on {_day(meeting.start):%d.%m.%Y} (case "
                f"{meeting.case_id}) is a single meeting beside its series and cannot be "
                "handed over; agree a new time with the daycare's leader, then plan again"
            )
        placed = _place_one(
            meeting, known, daycares, calendar, slot_times, closed_days, now, away, free
        )
        if placed is None:
            assert meeting.daycare is not None
            day = _day(meeting.start)
            raise RotaError(
                f"{meeting.daycare}'s meeting on {day:%d.%m.%Y} (case {meeting.case_id}) "
                f"cannot be placed: no social worker is free then, and no other open day of "
                f"{day:%Y-%m} has a free slot; allow more meetings a day (max_per_day), "
                "shorten the absence, or cancel that meeting first (cancel_meeting)"
            )
        covers.append(placed)
        moved = replace(meeting, worker=placed.worker, start=placed.start, end=placed.end)
        busy[meeting.worker].remove(meeting)
        busy.setdefault(placed.worker, []).append(moved)
    return covers


def _place_one(
    meeting: Booked,
    workers: Mapping[str, Worker],
    daycares: Mapping[str, Daycare],
    calendar: WorkingCalendar,
    slot_times: Sequence[time],
    closed: set[date],
    now: datetime,
    away: Callable[[str, date], bool],
    free: Callable[[str, datetime, datetime, Booked], bool],
) -> Cover | None:
    local = meeting.start.astimezone(COPENHAGEN)
    day, at = local.date(), local.time().replace(tzinfo=None)
    length = meeting.end - meeting.start
    daycare = daycares.get(meeting.daycare or "", Daycare(meeting.daycare or ""))
    options: list[tuple[tuple[object, ...], Cover]] = []
    for other in _month_days(day.year, day.month):
        if not calendar.is_working_day(other) or other in closed or other in daycare.closed:
            continue
        for at_time in sorted({at, *slot_times}):
            start = datetime.combine(other, at_time, COPENHAGEN)
            if start <= now:
                continue
            for w in workers.values():
                if other.weekday() not in w.weekdays or away(w.key, other):
                    continue
                if not free(w.key, start, start + length, meeting):
                    continue
                # The same time first, then the nearest day, then its own worker.
                rank = (
                    start != local,
                    abs((other - day).days),
                    other < day,
                    w.key != meeting.worker,
                    at_time != at,
                    at_time,
                    w.key,
                )
                options.append((rank, Cover(meeting, w.key, start)))
    if not options:
        return None
    return min(options, key=lambda o: o[0])[1]
