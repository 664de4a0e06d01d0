"""The fast detector (bytes, big-int masks) agrees with the rules counted day by day."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from machines.absence import (
    KIND_ABSENT,
    KIND_COMES_GOES,
    KIND_END_U,
    KIND_U,
    RULES,
    AbsenceRules,
    Detector,
    SchoolCalendar,
    quarter_of,
)

FIRST, LAST, SINCE = date(2026, 1, 1), date(2026, 5, 29), date(2026, 2, 20)
SPAN = (LAST - FIRST).days + 1
CALENDAR = SchoolCalendar()
QUARTERS = ["2026Q1", "2026Q2"]


def halves(days: float) -> int:
    return int(-(-days * 2 // 1))


def naive(
    det: Detector, rules: AbsenceRules, absent: set[date], end_u: set[date], cg: set[date]
) -> list[tuple[int, int, dict[str, int]]]:
    days = det.days
    weight = [2 if d in absent else 1 if d in end_u else 0 for d in days]
    whole = [d in absent for d in days]
    comes = [d in cg for d in days]

    def window(values: list[int] | list[bool], i: int, size: int) -> int:
        return sum(values[max(0, i - size + 1) : i + 1])

    hits: list[dict[str, bool]] = []
    for i in range(len(days)):
        streak = (
            i >= rules.streak_days - 1 and window(whole, i, rules.streak_days) == rules.streak_days
        )
        hits.append(
            {
                "streak": streak,
                "short": window(weight, i, rules.short_window) >= halves(rules.short_days),
                "long": window(weight, i, rules.long_window) >= halves(rules.long_days),
                "comes_goes": window(comes, i, rules.comes_goes_window) >= rules.comes_goes_days,
            }
        )
    runs: list[list[int]] = []
    for i in range(det.first_eval, len(days)):
        if any(hits[i].values()):
            if runs and i - runs[-1][1] - 1 < rules.episode_gap:
                runs[-1][1] = i
            else:
                runs.append([i, i])
    return [
        (
            a,
            b,
            {
                r: next(i for i in range(a, b + 1) if hits[i][r])
                for r in RULES
                if any(hits[i][r] for i in range(a, b + 1))
            },
        )
        for a, b in runs
    ]


offsets = st.sets(st.integers(0, SPAN - 1), max_size=60)


@settings(max_examples=150, deadline=None)
@given(
    absent=offsets,
    u=offsets,
    end_u=offsets,
    cg=offsets,
    long_window=st.sampled_from([60, 150]),  # 150: window sums above 255, the slow path
    gap=st.integers(1, 15),
)
def test_detector_matches_the_rules_day_by_day(
    absent: set[int], u: set[int], end_u: set[int], cg: set[int], long_window: int, gap: int
) -> None:
    rules = AbsenceRules(long_window=long_window, episode_gap=gap)
    det = Detector(rules, CALENDAR, FIRST, LAST, SINCE, QUARTERS)
    encoded = (
        [o * 4 + KIND_ABSENT for o in absent]
        + [o * 4 + KIND_U for o in u]
        + [o * 4 + KIND_END_U for o in end_u]
        + [o * 4 + KIND_COMES_GOES for o in cg]
    )
    pupil = det.read(encoded)
    to_day = lambda o: FIRST + timedelta(days=o)  # noqa: E731
    absent_days = {to_day(o) for o in absent | u}
    expected = naive(
        det, rules, absent_days, {to_day(o) for o in end_u} - absent_days, {to_day(o) for o in cg}
    )
    assert [(e.first, e.last, e.first_hits) for e in det.episodes(pupil)] == expected

    school = set(det.days)
    whole_u = {to_day(o) for o in u} & school
    half_u = ({to_day(o) for o in end_u} & school) - absent_days
    expected_u = {
        quarter: 2 * sum(quarter_of(d) == quarter for d in whole_u)
        + sum(quarter_of(d) == quarter for d in half_u)
        for quarter in QUARTERS
    }
    found = {det.quarters[q.quarter]: q.u_halves for q in det.quarters_u(pupil)}
    assert found == {q: n for q, n in expected_u.items() if n}
