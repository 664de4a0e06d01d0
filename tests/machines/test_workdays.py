"""Working days: Mon–Fri minus Danish public holidays minus the municipal days off."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from machines import COPENHAGEN, ConfigurationError, WorkingCalendar

CAL = WorkingCalendar()


def test_the_issue_example_convened_monday_before_christmas_meets_by_5_january() -> None:
    # 22, 23 Dec; 24 off; 25-27 holidays/weekend; 28, 29, 30; 31 off; 1 Jan; 4, 5 Jan.
    assert CAL.add_working_days(date(2026, 12, 21), 7) == date(2027, 1, 5)


def test_deadline_is_end_of_that_working_day_in_copenhagen() -> None:
    deadline = CAL.deadline(datetime(2026, 12, 21, 9, 0, tzinfo=COPENHAGEN), 7)
    assert deadline.date() == date(2027, 1, 5)
    assert (deadline.hour, deadline.minute) == (23, 59)
    assert deadline.utcoffset() == datetime(2027, 1, 5, tzinfo=COPENHAGEN).utcoffset()


def test_deadline_counts_from_the_local_date_not_utc() -> None:
    # 23:30 UTC on Sunday is already Monday in Copenhagen.
    late_sunday_utc = datetime.fromisoformat("2026-12-20T23:30:00+00:00")
    assert CAL.deadline(late_sunday_utc, 7).date() == date(2027, 1, 5)


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2027, 3, 25), False),  # skærtorsdag
        (date(2027, 3, 26), False),  # langfredag
        (date(2027, 3, 29), False),  # 2. påskedag
        (date(2027, 3, 30), True),
        (date(2026, 12, 24), False),  # juleaftensdag: a municipal day off by default
        (date(2026, 12, 31), False),
        (date(2027, 1, 1), False),
        (date(2027, 6, 5), False),  # Grundlovsdag (a Saturday in 2027 anyway)
        (date(2026, 6, 5), False),  # Grundlovsdag on a Friday
        (date(2026, 5, 1), True),  # 1 May is not in the default set
    ],
)
def test_holidays_and_days_off(day: date, working: bool) -> None:
    assert CAL.is_working_day(day) is working


def test_store_bededag_is_a_working_day_from_2024() -> None:
    # Store Bededag was the fourth Friday after Easter; abolished from 2024.
    assert CAL.is_working_day(date(2024, 4, 26))
    assert not CAL.is_working_day(date(2023, 5, 5))


def test_across_easter() -> None:
    # Wednesday before Easter 2027 + 3 working days skips Thu, Fri, weekend and Monday.
    assert CAL.add_working_days(date(2027, 3, 24), 3) == date(2027, 4, 1)


def test_extra_days_off_are_configurable() -> None:
    with_may_day = WorkingCalendar(((5, 1), (6, 5), (12, 24), (12, 31)))
    assert not with_may_day.is_working_day(date(2026, 5, 1))
    none_extra = WorkingCalendar(())
    assert none_extra.is_working_day(date(2026, 12, 24))
    assert none_extra.add_working_days(date(2026, 12, 21), 7) == date(2026, 12, 31)


def test_environment_configures_days_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORLOEB_EXTRA_DAYS_OFF", "05-01")
    cal = WorkingCalendar.from_env()
    assert not cal.is_working_day(date(2026, 5, 1))
    assert cal.is_working_day(date(2026, 12, 24))


def test_bad_days_off_configuration_says_how_to_write_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORLOEB_EXTRA_DAYS_OFF", "05-01,24/12")
    with pytest.raises(ConfigurationError, match="'24/12' is not MM-DD"):
        WorkingCalendar.from_env()


def test_subtract_is_the_inverse_of_add() -> None:
    for start in (date(2026, 12, 21), date(2027, 3, 24), date(2027, 6, 1)):
        for n in range(0, 15):
            assert CAL.subtract_working_days(CAL.add_working_days(start, n), n) <= start


def test_counting_working_days_agrees_with_walking_them_day_by_day() -> None:
    # Spans across year ends, Easter, leap days and a configured 29 February day off.
    leap_day_off = WorkingCalendar(extra_days_off=((2, 29), (12, 24)))
    spans = [
        (date(2026, 12, 21), date(2027, 1, 5)),
        (date(2027, 3, 20), date(2027, 4, 10)),
        (date(2027, 4, 1), date(2027, 3, 31)),  # last before first: none
        (date(2027, 6, 5), date(2027, 6, 5)),
        (date(2023, 12, 30), date(2028, 3, 2)),
        (date(2000, 1, 1), date(2000, 12, 31)),
    ]
    for calendar in (CAL, leap_day_off):
        for first, last in spans:
            walked = len(list(calendar.working_days(first, last)))
            assert calendar.count_working_days(first, last) == walked, (first, last)
    # 2024 has a 29 February (a Thursday): off only where configured.
    assert CAL.count_working_days(date(2024, 2, 29), date(2024, 2, 29)) == 1
    assert leap_day_off.count_working_days(date(2024, 2, 29), date(2024, 2, 29)) == 0
