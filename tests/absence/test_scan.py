"""The scan: thresholds → episodes → samråd cases in concern; national rules → tasks."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from sqlalchemy import Engine, func, select

from flows import absence as flow
from flows import absence_csv
from machines import InvalidInput
from machines.absence import SchoolCalendar
from persistence import CaseRow, CaseStore
from persistence import absence as repo
from tests.cli_helpers import dump

from .conftest import COORDINATOR, LEADER, TEACHER, at, directory, load, registrations

D = date.fromisoformat


def school_days(first: str, count: int) -> list[date]:
    return SchoolCalendar().school_days(D(first), D(first) + timedelta(days=3 * count + 30))[:count]


def cases(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(CaseRow)).scalar_one())


@pytest.fixture
def school(engine: Engine) -> Engine:
    directory(engine)
    return engine


def test_a_streak_opens_a_concern_case_with_the_schools_people(school: Engine) -> None:
    load(school, registrations("p-1", school_days("2026-03-02", 5)))
    report = flow.scan(school, at("2026-03-06"))
    assert [(c["status"], c["pupil_ref"], c["thresholds"]) for c in report.cases] == [
        ("case_opened", "p-1", ["streak"])
    ]
    case = CaseStore(school).snapshot(report.cases[0]["case_id"])
    assert (case.process, case.state, case.title, case.location) == (
        "samraad",
        "concern",
        "Vestskolen",
        "Vestskolen",
    )
    assert [(p.role, p.name, p.email) for p in case.participants] == [
        ("school_leader", "Birgitte Holm", LEADER),
        ("teacher", "Jens Øster", TEACHER),
        ("coordinator", "Kommunal tovholder", COORDINATOR),
    ]
    case_file = case.data["case_file"]
    assert case_file["pupil_ref"] == "p-1"
    concern = case_file["concern"]
    assert concern["school"] == "vest" and concern["grade"] == 8
    assert concern["thresholds"] == [
        {
            "rule": "streak",
            "description": "5 consecutive school days of absence",
            "first_hit": "2026-03-06",
            "dates": ["2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05", "2026-03-06"],
        }
    ]


def test_a_rescan_changes_nothing(school: Engine, db_url: str) -> None:
    load(school, registrations("p-1", school_days("2026-03-02", 5), code="U"))
    first = flow.scan(school, at("2026-03-06"))
    assert (len(first.cases), len(first.tasks)) == (1, 1)
    before = dump(db_url)
    again = flow.scan(school, at("2026-03-06", hour=19))
    assert (again.episodes_new, again.episodes_continued, again.cases, again.tasks) == (
        0,
        0,
        [],
        [],
    )
    assert dump(db_url) == before


def test_a_continuing_episode_opens_no_second_case(school: Engine) -> None:
    load(school, registrations("p-1", school_days("2026-03-02", 5)))
    flow.scan(school, at("2026-03-06"))
    load(school, registrations("p-1", school_days("2026-03-09", 3)))
    report = flow.scan(school, at("2026-03-11"))
    assert (report.episodes_new, report.episodes_continued, report.cases) == (0, 1, [])
    with school.connect() as conn:
        rules = conn.execute(select(repo.EpisodeRow.rules, repo.EpisodeRow.last_day)).one()
    # the episode grew: it now also meets 7 of 20 (from the 7th day, 10 March)
    assert rules.last_day == D("2026-03-11")
    assert rules.rules == {"streak": "2026-03-06", "short": "2026-03-10"}
    assert cases(school) == 1


def test_a_new_episode_while_the_case_is_open_joins_it(school: Engine) -> None:
    load(school, registrations("p-1", school_days("2026-03-02", 5)))
    opened = flow.scan(school, at("2026-03-06")).cases[0]["case_id"]
    load(school, registrations("p-1", school_days("2026-05-04", 5)))
    report = flow.scan(school, at("2026-05-08"))
    assert [(c["status"], c["case_id"]) for c in report.cases] == [("joined", opened)]
    assert cases(school) == 1


def test_after_the_case_is_closed_only_a_new_episode_opens_a_case(school: Engine) -> None:
    store = CaseStore(school)
    load(school, registrations("p-1", school_days("2026-03-02", 5)))
    first = flow.scan(school, at("2026-03-06")).cases[0]["case_id"]
    store.fire(first, "dismiss", LEADER, {"reason": "known: broken leg"}, at("2026-03-09", 9))
    # the same episode goes on: still no second case
    load(school, registrations("p-1", school_days("2026-03-09", 2)))
    assert flow.scan(school, at("2026-03-10")).cases == []
    # after 10+ school days without a hit, a new episode: a new case
    load(school, registrations("p-1", school_days("2026-05-04", 5)))
    report = flow.scan(school, at("2026-05-08"))
    assert [c["status"] for c in report.cases] == ["case_opened"]
    assert report.cases[0]["case_id"] != first
    assert cases(school) == 2


def test_a_closed_case_through_the_whole_samraad(school: Engine) -> None:
    """Closed the long way (convene … hold_follow_up close) rather than dismissed."""
    store = CaseStore(school)
    load(school, registrations("p-1", school_days("2026-03-02", 5)))
    case_id = flow.scan(school, at("2026-03-06")).cases[0]["case_id"]
    with school.begin() as conn:  # the state a finished samråd ends in
        conn.execute(CaseRow.__table__.update().where(CaseRow.id == case_id).values(state="closed"))
    load(school, registrations("p-1", school_days("2026-05-04", 5)))
    assert [c["status"] for c in flow.scan(school, at("2026-05-08")).cases] == ["case_opened"]
    assert store.snapshot(case_id).state == "closed"


def test_windows_follow_the_imported_school_calendar(school: Engine) -> None:
    # Vestskolen's own calendar for the school year: a holiday in week 11 (9–13 March)
    calendar = (
        "school,first_day,last_day,name\n"
        "vest,2025-08-01,2025-08-10,sommerferie\n"
        "vest,2026-03-09,2026-03-13,projektuge\n"
        "vest,2026-06-27,2026-08-09,sommerferie\n"
    )
    repo.import_calendar(school, absence_csv.read_calendar(io.StringIO(calendar), name="vest.csv"))
    days = [D("2026-03-05"), D("2026-03-06"), D("2026-03-16"), D("2026-03-17"), D("2026-03-18")]
    load(school, registrations("p-1", days))
    load(school, registrations("p-2", days, school="oest"))  # default calendar: week 11 counts
    report = flow.scan(school, at("2026-03-18"))
    assert [(c["pupil_ref"], c["thresholds"]) for c in report.cases] == [("p-1", ["streak"])]


def test_half_days_count_for_grades_7_to_10_only(school: Engine) -> None:
    days = school_days("2026-03-02", 20)
    whole = days[0:18:3]  # 6 days
    for pupil, grade in (("p-8", 8), ("p-5", 5)):
        load(school, registrations(pupil, whole, grade=grade))
        load(school, registrations(pupil, days[1:3], code="U", period="end_of_day", grade=grade))
    report = flow.scan(school, at("2026-03-27"))
    assert [(c["pupil_ref"], c["thresholds"]) for c in report.cases] == [("p-8", ["short"])]
    case = CaseStore(school).snapshot(report.cases[0]["case_id"])
    (short,) = case.data["case_file"]["concern"]["thresholds"]
    assert short["dates"] == [d.isoformat() for d in whole]
    assert short["half_days"] == ["2026-03-03", "2026-03-04"]


def test_comes_and_goes_counts_lessons_too(school: Engine) -> None:
    load(school, registrations("p-1", [D("2026-03-02")], code="F"))
    load(school, registrations("p-1", [D("2026-03-04")], code="T", period="lesson:4"))
    load(school, registrations("p-1", [D("2026-03-10")], code="T", period="end_of_day"))
    report = flow.scan(school, at("2026-03-10"))
    assert [c["thresholds"] for c in report.cases] == [["comes_goes"]]


def test_national_tasks_per_quarter_across_31_march(school: Engine) -> None:
    load(school, registrations("p-1", [D("2026-03-30"), D("2026-03-31")], code="U"))
    report = flow.scan(school, at("2026-03-31"))
    assert [(t["kind"], t["quarter"], t["u_days"], t["school_days"]) for t in report.tasks] == [
        ("contact_parents", "2026Q1", 2.0, 58)
    ]
    load(school, registrations("p-1", [D("2026-04-01")], code="U"))
    report = flow.scan(school, at("2026-04-01"))
    assert [(t["kind"], t["quarter"], t["u_days"]) for t in report.tasks] == [
        ("contact_parents", "2026Q2", 1.0)
    ]
    # six days of U in Q1 (6 of 58 = 10.3 %): warn the parents, once
    load(school, registrations("p-1", school_days("2026-03-02", 4), code="U"))
    report = flow.scan(school, at("2026-04-02"))
    assert [(t["kind"], t["quarter"], t["u_days"]) for t in report.tasks] == [
        ("warn_parents", "2026Q1", 6.0)
    ]
    assert flow.scan(school, at("2026-04-03")).tasks == []


def test_underretning_at_fifteen_percent_with_half_days(school: Engine) -> None:
    days = school_days("2026-01-05", 18)
    # 8 whole days and 2 half days of U = 9 of 58 days = 15.5 %; spread out, 2 a week
    load(school, registrations("p-1", days[0:16:2], code="U"))
    load(school, registrations("p-1", days[1:4:2], code="U", period="end_of_day"))
    kinds = [t["kind"] for t in flow.scan(school, at("2026-03-31")).tasks]
    assert kinds == ["contact_parents", "warn_parents", "notify_municipality"]


def test_pending_tasks_are_for_the_school_leader(school: Engine) -> None:
    load(school, registrations("p-1", [D("2026-03-02")], code="U"))
    load(school, registrations("p-1", [D("2026-03-03")], code="U", period="end_of_day"))
    flow.scan(school, at("2026-03-03"))
    (task,) = flow.pending_tasks(school)
    assert (task.kind, task.quarter, task.pupil_ref, task.u_days) == (
        "contact_parents",
        "2026Q1",
        "p-1",
        1.5,
    )
    assert task.u_dates == ("2026-03-02", "2026-03-03 (half day)")
    assert (task.leader_name, task.leader_email, task.school_name) == (
        "Birgitte Holm",
        LEADER,
        "Vestskolen",
    )
    assert flow.mark_tasks_mailed(school, [task.id], at("2026-03-04", 8)) == 1
    assert flow.pending_tasks(school) == []
    assert flow.mark_tasks_mailed(school, [task.id], at("2026-03-04", 9)) == 0


def test_what_may_go_to_prefect_carries_no_pupil_and_no_school(school: Engine) -> None:
    load(school, registrations("p-1", school_days("2026-03-02", 5), code="U"))
    counts = flow.scan(school, at("2026-03-06")).counts()
    assert counts["cases_opened"] == 1 and counts["tasks_contact_parents"] == 1
    assert not any("p-1" in str(v) or "vest" in str(v) for v in [*counts, *counts.values()])
    daily = flow.daily_scan(school, at("2026-03-09", 6))
    assert daily["as_of"] == "2026-03-09" and daily["cases_opened"] == 0
    assert all(isinstance(v, int | str) for v in daily.values())
    assert not any("p-1" in str(v) or "vest" in str(v) for v in daily.values())


def test_scan_one_school(school: Engine) -> None:
    load(school, registrations("p-1", school_days("2026-03-02", 5)))
    load(school, registrations("p-2", school_days("2026-03-02", 5), school="oest"))
    report = flow.scan(school, at("2026-03-06"), school="oest")
    assert (report.pupils, [c["pupil_ref"] for c in report.cases]) == (1, ["p-2"])
    with pytest.raises(InvalidInput, match="there is no school 'nord'"):
        flow.scan(school, at("2026-03-06"), school="nord")


def test_a_school_missing_from_the_directory(engine: Engine) -> None:
    load(engine, registrations("p-1", school_days("2026-03-02", 5), school="nord"))
    report = flow.scan(engine, at("2026-03-06"))
    case = CaseStore(engine).snapshot(report.cases[0]["case_id"])
    assert (case.title, case.participants) == ("nord", ())
    assert report.warnings == [
        "school 'nord' has no leader in the directory: its cases have no one to notify "
        "and its tasks cannot be mailed; run: forloeb schools import FILE"
    ]


def test_a_case_opened_before_a_crash_is_linked_not_opened_again(school: Engine) -> None:
    load(school, registrations("p-1", school_days("2026-03-02", 5)))
    flow.scan(school, at("2026-03-06"), open_cases=False)
    with school.connect() as conn:
        (waiting,) = repo.episodes_without_case(conn, at("2026-03-06", 19))
    # the case opened, then the process died before the episode was linked
    case_id = CaseStore(school).open_case(
        "samraad", flow.concern_case_file(waiting, None), at("2026-03-06", 19)
    )
    report = flow.scan(school, at("2026-03-06", 20))
    assert [(c["status"], c["case_id"]) for c in report.cases] == [("case_opened", case_id)]
    assert cases(school) == 1


def test_an_episode_claimed_by_another_scan_is_left_to_it(school: Engine) -> None:
    load(school, registrations("p-1", school_days("2026-03-02", 5)))
    flow.scan(school, at("2026-03-06"), open_cases=False)
    claimed = at("2026-03-06", 19)
    with school.begin() as conn:
        (waiting,) = repo.episodes_without_case(conn, claimed)
        assert repo.claim_episode(conn, waiting["id"], claimed)
        assert not repo.claim_episode(conn, waiting["id"], claimed)
    assert flow.open_concern_cases(school, claimed + timedelta(minutes=5)) == []
    # the other scan died before opening the case: after the timeout it is taken over
    opened = flow.open_concern_cases(school, claimed + timedelta(minutes=11))
    assert [c["status"] for c in opened] == ["case_opened"]
    assert cases(school) == 1
