"""The pure rules (machines.absence): calendars, rolling windows, half days, quarters."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from machines import InvalidInput
from machines.absence import (
    CONTACT_PARENTS,
    KIND_ABSENT,
    KIND_COMES_GOES,
    KIND_END_U,
    KIND_U,
    NOTIFY_MUNICIPALITY,
    WARN_PARENTS,
    AbsenceRules,
    CalendarLayer,
    Detector,
    HolidayPeriod,
    PupilDays,
    QuarterU,
    SchoolCalendar,
    default_holiday_periods,
    national_tasks,
    parse_period,
    period_name,
    quarter_bounds,
    quarter_of,
    summer_holiday,
)

D = date.fromisoformat
CALENDAR = SchoolCalendar()


def detector(
    first: str = "2026-01-01",
    last: str = "2026-06-30",
    since: str | None = None,
    rules: AbsenceRules | None = None,
    calendar: SchoolCalendar = CALENDAR,
) -> Detector:
    start, end = D(first), D(last)
    quarters = sorted(
        {quarter_of(start + timedelta(days=k)) for k in range((end - start).days + 1)}
    )
    return Detector(
        rules or AbsenceRules(), calendar, start, end, D(since) if since else None, quarters
    )


def days_of(det: Detector, **kinds: list[str]) -> PupilDays:
    codes = {"absent": KIND_ABSENT, "u": KIND_U, "end_u": KIND_END_U, "cg": KIND_COMES_GOES}
    return det.read(det.encode(D(d), codes[k]) for k, days in kinds.items() for d in days)


def school_days(first: str, count: int) -> list[str]:
    days = CALENDAR.school_days(D(first), D(first) + timedelta(days=3 * count + 30))
    return [d.isoformat() for d in days[:count]]


# ---------------------------------------------------------------- calendar


def test_default_holidays_are_weeks_7_and_42_and_the_summer() -> None:
    winter, summer, autumn = default_holiday_periods(2026)
    assert (winter.first_day, winter.last_day) == (D("2026-02-09"), D("2026-02-15"))
    assert (autumn.first_day, autumn.last_day) == (D("2026-10-12"), D("2026-10-18"))
    # last Saturday of June to the Sunday of the first Monday–Sunday week of August
    assert (summer.first_day, summer.last_day) == (D("2026-06-27"), D("2026-08-09"))
    assert summer_holiday(2025) == HolidayPeriod(D("2025-06-28"), D("2025-08-10"), "sommerferie")


def test_school_days_skip_weekends_public_holidays_and_holiday_weeks() -> None:
    assert CALENDAR.school_days(D("2026-02-05"), D("2026-02-17")) == [
        D("2026-02-05"),
        D("2026-02-06"),
        D("2026-02-16"),
        D("2026-02-17"),
    ]
    # Easter 2026: Maundy Thursday, Good Friday and Easter Monday
    assert CALENDAR.school_days(D("2026-03-31"), D("2026-04-07")) == [
        D("2026-03-31"),
        D("2026-04-01"),
        D("2026-04-07"),
    ]
    assert len(CALENDAR.school_days(D("2026-01-01"), D("2026-03-31"))) == 58


def test_an_imported_calendar_replaces_the_defaults_for_its_span() -> None:
    # a school year's calendar: from the end of one summer holiday to the next summer
    own = CalendarLayer(
        (
            HolidayPeriod(D("2025-06-28"), D("2025-08-10"), "sommerferie"),
            HolidayPeriod(D("2026-02-16"), D("2026-02-20"), "vinterferie"),
            HolidayPeriod(D("2026-06-27"), D("2026-08-09"), "sommerferie"),
        )
    )
    calendar = SchoolCalendar(layers=(own,))
    # its winter holiday is week 8; week 7 and week 42 are school weeks inside its span
    assert calendar.is_school_day(D("2026-02-10"))
    assert calendar.is_school_day(D("2025-10-14"))
    assert not calendar.is_school_day(D("2026-02-17"))
    # after its span the defaults hold again
    assert not calendar.is_school_day(D("2026-10-13"))


def test_a_schools_own_calendar_wins_over_the_municipalitys() -> None:
    municipal = CalendarLayer((HolidayPeriod(D("2026-10-12"), D("2026-10-16")),))
    own = CalendarLayer(
        (
            HolidayPeriod(D("2026-08-01"), D("2026-08-09")),
            HolidayPeriod(D("2026-10-19"), D("2026-10-23")),
        )
    )
    assert SchoolCalendar(layers=(own, municipal)).is_school_day(D("2026-10-13"))
    assert not SchoolCalendar(layers=(CalendarLayer(()), municipal)).is_school_day(D("2026-10-13"))


def test_quarters() -> None:
    assert quarter_of(D("2026-03-31")) == "2026Q1"
    assert quarter_of(D("2026-04-01")) == "2026Q2"
    assert quarter_bounds("2026Q4") == (D("2026-10-01"), D("2026-12-31"))


@pytest.mark.parametrize(
    ("text", "period"), [("morning", 0), ("end_of_day", 100), ("lesson:1", 1), ("lesson:20", 20)]
)
def test_periods(text: str, period: int) -> None:
    assert parse_period(text) == period
    assert period_name(period) == text


@pytest.mark.parametrize("text", ["noon", "lesson:0", "lesson:21", "lesson:x", "Morning"])
def test_bad_periods(text: str) -> None:
    with pytest.raises(ValueError, match="is not morning, end_of_day or lesson:N"):
        parse_period(text)


def test_thresholds_are_configurable() -> None:
    rules = AbsenceRules.parse("streak=4, short=6.5/15, comes_goes=2")
    assert (rules.streak_days, rules.short_days, rules.short_window) == (4, 6.5, 15)
    assert (rules.comes_goes_days, rules.comes_goes_window) == (2, 20)
    assert rules.long_days == 15
    with pytest.raises(InvalidInput, match="FORLOEB_ABSENCE_THRESHOLDS"):
        AbsenceRules.parse("streek=4")
    with pytest.raises(InvalidInput, match="more than 0"):
        AbsenceRules.parse("streak=0")


# ---------------------------------------------------------------- local thresholds


def rules_hit(det: Detector, **kinds: list[str]) -> dict[str, str]:
    found = det.episodes(days_of(det, **kinds))
    return {rule: det.iso[i] for e in found for rule, i in e.first_hits.items()}


def test_five_consecutive_school_days_across_a_weekend() -> None:
    # Thu, Fri, (weekend), Mon, Tue, Wed
    absent = ["2026-03-05", "2026-03-06", "2026-03-09", "2026-03-10", "2026-03-11"]
    assert rules_hit(detector(), absent=absent) == {"streak": "2026-03-11"}
    assert rules_hit(detector(), absent=absent[:4]) == {}


def test_five_consecutive_school_days_across_the_winter_holiday() -> None:
    # Thu 5, Fri 6 Feb, then week 7 is the winter holiday, then Mon 16 – Wed 18 Feb
    absent = ["2026-02-05", "2026-02-06", "2026-02-16", "2026-02-17", "2026-02-18"]
    assert rules_hit(detector(), absent=absent) == {"streak": "2026-02-18"}


def test_a_day_present_breaks_the_streak() -> None:
    absent = ["2026-03-05", "2026-03-06", "2026-03-10", "2026-03-11", "2026-03-12"]
    assert rules_hit(detector(), absent=absent) == {}


def test_seven_days_within_twenty_school_days_across_easter() -> None:
    days = school_days("2026-03-23", 20)  # spans Easter: 20 school days, 28 calendar days
    assert days[-1] == "2026-04-22"
    spread = days[::3]  # 7 days, never 5 in a row
    assert len(spread) == 7
    # 23 March to 21 April is 28 calendar days but only 19 school days: Easter is not counted
    assert spread[-1] == "2026-04-21"
    assert rules_hit(detector(), absent=spread) == {"short": "2026-04-21"}
    assert rules_hit(detector(), absent=spread[:6]) == {}


def test_the_window_rolls_old_absence_out() -> None:
    days = school_days("2026-03-02", 21)
    every_other = days[10:21:2]  # 6 days, never two in a row
    # 20 school days end at days[20]: days[0] is out of it, days[1] is in
    assert rules_hit(detector(), absent=[days[0], *every_other]) == {}
    assert rules_hit(detector(), absent=[days[1], *every_other]) == {"short": days[20]}


def test_half_days_count_half() -> None:
    days = school_days("2026-03-02", 20)
    whole = days[0:18:3]  # 6 whole days
    halves = [days[1], days[2]]  # two half days = one day
    assert rules_hit(detector(), absent=whole, end_u=halves[:1]) == {}
    assert rules_hit(detector(), absent=whole, end_u=halves) == {"short": days[15]}


def test_a_morning_absence_is_not_also_half_a_day() -> None:
    days = school_days("2026-03-02", 20)
    whole = days[0:18:3]
    # U at the end of a day already absent all day adds nothing
    assert rules_hit(detector(), absent=whole, end_u=whole[:2]) == {}


def test_fifteen_days_within_sixty_school_days() -> None:
    days = school_days("2026-01-05", 60)
    spread = days[::4]  # 15 days, at most 5 in any 20
    assert len(spread) == 15
    assert rules_hit(detector(), absent=spread) == {"long": spread[-1]}
    assert rules_hit(detector(), absent=spread[:14]) == {}


def test_comes_and_goes() -> None:
    days = school_days("2026-03-02", 20)
    assert rules_hit(detector(), cg=[days[0], days[9], days[19]]) == {"comes_goes": days[19]}
    assert rules_hit(detector(), cg=[days[0], days[19]]) == {}


def test_episodes_merge_hits_closer_than_the_gap() -> None:
    det = detector()
    streak1 = school_days("2026-03-02", 5)
    streak2 = school_days("2026-03-16", 5)  # 5 school days without a hit between: same episode
    later = school_days("2026-05-04", 5)  # 23 school days without a hit: a new episode
    found = det.episodes(days_of(det, absent=streak1 + streak2 + later))
    assert [
        (det.iso[e.first], det.iso[e.last], {r: det.iso[i] for r, i in e.first_hits.items()})
        for e in found
    ] == [
        # 10 days within 20 keeps the short window hit until 1 April
        ("2026-03-06", "2026-04-01", {"streak": "2026-03-06", "short": "2026-03-17"}),
        # 15 within 60 holds until the first streak leaves the 60-day window
        ("2026-05-08", "2026-05-29", {"streak": "2026-05-08", "long": "2026-05-08"}),
    ]


def test_hits_before_since_are_not_reported() -> None:
    det = detector(since="2026-03-16")
    assert det.episodes(days_of(det, absent=school_days("2026-03-02", 5))) == []
    # ...but the days before since still fill the windows
    hit = det.episodes(days_of(det, absent=school_days("2026-03-12", 5)))
    assert [det.iso[e.first] for e in hit] == ["2026-03-18"]


def test_registrations_on_other_days_are_ignored() -> None:
    # Saturdays and the winter holiday are not school days
    assert (
        rules_hit(
            detector(),
            absent=[
                "2026-02-07",
                "2026-02-09",
                "2026-02-10",
                "2026-02-11",
                "2026-02-12",
                "2026-02-13",
            ],
        )
        == {}
    )


def test_evidence_names_the_dates() -> None:
    det = detector()
    days = school_days("2026-03-02", 20)
    pupil = days_of(det, absent=days[0:18:3], end_u=days[1:3])
    (episode,) = det.episodes(pupil)
    evidence = det.evidence(pupil, episode.first_hits)
    assert evidence["short"]["dates"] == days[0:18:3]
    assert evidence["short"]["half_days"] == days[1:3]
    assert evidence["short"]["first_hit"] == days[15]
    assert evidence["short"]["description"] == "7 days absent within 20 school days"


# ---------------------------------------------------------------- national rules


def test_u_per_quarter_across_the_31_march_boundary() -> None:
    det = detector()
    pupil = days_of(
        det, u=["2026-03-30", "2026-03-31", "2026-04-01"], absent=[], end_u=["2026-03-27"]
    )
    counts = {det.quarters[q.quarter]: (q.u_days, q.school_days) for q in det.quarters_u(pupil)}
    assert counts == {"2026Q1": (2.5, 58), "2026Q2": (1.0, 57)}


def test_u_on_a_day_absent_in_the_morning_is_not_a_half_day() -> None:
    det = detector()
    pupil = days_of(det, absent=["2026-03-30"], end_u=["2026-03-30"])
    assert det.quarters_u(pupil) == []


@pytest.mark.parametrize(
    ("halves", "days", "tasks"),
    [
        (0, 58, []),
        (1, 58, [CONTACT_PARENTS]),
        (11, 58, [CONTACT_PARENTS]),  # 5.5 of 58 = 9.5 %
        (12, 58, [CONTACT_PARENTS, WARN_PARENTS]),  # 6 of 58 = 10.3 %
        (17, 58, [CONTACT_PARENTS, WARN_PARENTS]),  # 8.5 of 58 = 14.7 %
        (18, 58, [CONTACT_PARENTS, WARN_PARENTS, NOTIFY_MUNICIPALITY]),  # 9 of 58 = 15.5 %
        (12, 60, [CONTACT_PARENTS, WARN_PARENTS]),  # exactly 10 %
        (18, 60, [CONTACT_PARENTS, WARN_PARENTS, NOTIFY_MUNICIPALITY]),  # exactly 15 %
    ],
)
def test_national_tasks(halves: int, days: int, tasks: list[str]) -> None:
    assert national_tasks(QuarterU(0, halves, days)) == tasks
