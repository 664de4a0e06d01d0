"""The rota of the monthly consultations (issue 14): Hypothesis properties of
``plan_month`` — every daycare once, no double booking, none on a closure day, a balanced
load, stable slots wherever the day can hold them — and the one-line refusal of a month
that cannot hold the meetings."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from machines.rota import Daycare, RotaError, Worker, plan_month, preferences
from machines.workdays import WorkingCalendar

CALENDAR = WorkingCalendar()
TIMES = (time(9, 0), time(11, 0), time(13, 0))
WORKERS = (Worker("sr-a"), Worker("sr-b", frozenset({0, 1, 2, 3})))  # b: Monday–Thursday


def daycares(n: int = 46) -> list[Daycare]:
    return [Daycare(f"dt-{i:02d}") for i in range(n)]


def check_invariants(plan, year, month, dcs, workers, per_day, closed=()) -> None:  # type: ignore[no-untyped-def]
    assert sorted(plan) == sorted(d.key for d in dcs)  # every daycare once
    by_key = {d.key: d for d in dcs}
    weekdays = {w.key: w.weekdays for w in workers}
    seen: set[tuple[str, date, time]] = set()
    per: dict[tuple[str, date], int] = {}
    for a in plan.values():
        assert (a.worker, a.day, a.at) not in seen  # no double booking
        seen.add((a.worker, a.day, a.at))
        per[(a.worker, a.day)] = per.get((a.worker, a.day), 0) + 1
        assert a.day.year == year and a.day.month == month
        assert CALENDAR.is_working_day(a.day) and a.day not in closed
        assert a.day not in by_key[a.daycare].closed
        assert a.day.weekday() in weekdays[a.worker]
    assert max(per.values()) <= per_day
    loads = [sum(1 for a in plan.values() if a.worker == w.key) for w in workers]
    assert max(loads) - min(loads) <= 1


months = st.tuples(st.integers(2026, 2029), st.integers(1, 12))


@settings(max_examples=60, deadline=None)
@given(
    month=months,
    n=st.integers(1, 60),
    per_day=st.integers(1, 3),
    closures=st.lists(st.tuples(st.integers(0, 59), st.integers(1, 28)), max_size=40),
)
def test_a_plan_keeps_every_rule_or_says_why_not(
    month: tuple[int, int], n: int, per_day: int, closures: list[tuple[int, int]]
) -> None:
    year, m = month
    closed: dict[int, set[date]] = {}
    for i, day in closures:
        closed.setdefault(i, set()).add(date(year, m, day))
    dcs = [Daycare(f"dt-{i:02d}", frozenset(closed.get(i, ()))) for i in range(n)]
    try:
        plan = plan_month(year, m, dcs, WORKERS, CALENDAR, TIMES, per_day)
    except RotaError as refused:
        assert "\n" not in str(refused)
        return
    check_invariants(plan, year, m, dcs, WORKERS, per_day)


@settings(max_examples=40, deadline=None)
@given(month=months, closed_days=st.lists(st.integers(1, 28), max_size=3))
def test_46_daycares_fit_every_month_and_keep_their_slot_next_month(
    month: tuple[int, int], closed_days: list[int]
) -> None:
    year, m = month
    dcs = daycares()
    first = plan_month(year, m, dcs, WORKERS, CALENDAR, TIMES, 3)
    check_invariants(first, year, m, dcs, WORKERS, 3)
    assert all(a.day.day <= 28 for a in first.values())  # a slot every month has
    ny, nm = (year + m // 12, m % 12 + 1)
    closed = {date(ny, nm, d) for d in closed_days}
    prefer = preferences(first.values())
    second = plan_month(ny, nm, dcs, WORKERS, CALENDAR, TIMES, 3, closed=closed, preferred=prefer)
    check_invariants(second, ny, nm, dcs, WORKERS, 3, closed)
    for key, a in second.items():
        slot = prefer[key]
        day = slot.day_in(ny, nm)
        keepable = day is not None and CALENDAR.is_working_day(day) and day not in closed
        # Wherever the day can hold it, a daycare keeps its worker, weekday, week and time.
        assert (a.status == "kept") == keepable
        if keepable:
            assert (a.worker, a.day, a.at) == (slot.worker, day, slot.at)
        else:
            assert a.worker == slot.worker


def test_a_month_too_small_says_how_many_fit_and_what_to_change() -> None:
    with pytest.raises(RotaError) as refused:
        plan_month(2027, 12, daycares(), WORKERS, CALENDAR, TIMES, 1)
    message = str(refused.value)
    assert message.startswith("2027-12 has room for 39 meetings (sr-a 21 days, sr-b 18 days")
    assert "46 needed; allow more meetings a day (max_per_day)" in message


def test_an_unbalanced_pair_of_workers_is_refused() -> None:
    part_time = (Worker("sr-a"), Worker("sr-b", frozenset({4})))  # Fridays only
    with pytest.raises(RotaError, match="at least 23 meetings in 2027-03; sr-b has room"):
        plan_month(2027, 3, daycares(), part_time, CALENDAR, TIMES, 3)


def test_a_daycare_closed_on_every_free_day_is_named() -> None:
    march = {date(2027, 3, 1) + timedelta(days=i) for i in range(31)}
    dcs = [*daycares(3), Daycare("dt-lukket", frozenset(march))]
    with pytest.raises(RotaError, match="dt-lukket cannot be placed in 2027-03"):
        plan_month(2027, 3, dcs, WORKERS, CALENDAR, TIMES, 2)
