"""A whole coaching course on the desk, from sign-in to closed, by the caseworker and the
coach, in Chromium; every page checked with axe-core."""

from __future__ import annotations

from typing import Any

import pytest

from flows import clock
from machines import get_process
from tests.test_coaching_rules import CASEWORKER, COACH, COACHING_CASE

from .conftest import BROWSER_GROUP, DeskServer
from .helpers import Keyboard, Mouse, accessible, finish_action, sign_in, start_action, working_day

COACHING = get_process("coaching")

pytestmark = BROWSER_GROUP


def title(event: str) -> str:
    return COACHING.event_title(event)


def act(user: Mouse, desk: DeskServer, case_id: int, event: str) -> None:
    start_action(user, desk, case_id, COACHING, event)


def done(user: Mouse, desk: DeskServer, case_id: int, event: str, state: str) -> None:
    finish_action(user, case_id, COACHING, event, state)
    assert desk.store.snapshot(case_id).state == state


def book(user: Mouse, day: int, hour: str) -> None:
    user.fill('[name="start.date"]', working_day(day))
    user.fill('[name="start.time"]', hour)


@pytest.mark.parametrize("way", [Mouse, Keyboard], ids=["mouse", "keyboard-only"])
def test_a_whole_coaching_course_from_sign_in_to_closed(
    desk_server: DeskServer, new_page: Any, way: type[Mouse]
) -> None:
    desk = desk_server
    case_id = desk.store.open_case("coaching", COACHING_CASE, clock.now())
    worker_page, coach_page = new_page(), new_page()
    sign_in(worker_page, desk, CASEWORKER)
    sign_in(coach_page, desk, COACH)
    worker, coach = way(worker_page), way(coach_page)

    act(worker, desk, case_id, "schedule_intro")
    book(worker, 2, "10:00")
    done(worker, desk, case_id, "schedule_intro", "intro_scheduled")

    act(coach, desk, case_id, "accept")
    done(coach, desk, case_id, "accept", "agreed")

    act(worker, desk, case_id, "replan")
    worker.fill('[name="planned_sessions"]', "2")
    done(worker, desk, case_id, "replan", "agreed")

    # Session 1 frames the course; every session ends with homework.
    act(coach, desk, case_id, "schedule_session")
    book(coach, 3, "10:00")
    done(coach, desk, case_id, "schedule_session", "session_scheduled")
    act(coach, desk, case_id, "complete_session")
    coach.fill('[name="homework"]', "Skriv tre ting ned, du er god til.")
    coach.check('[name="themes"][value="persistence"]')
    coach.fill('[name="expectations"]', "Mål: et fritidsjob inden sommer.")
    done(coach, desk, case_id, "complete_session", "between_sessions")

    act(coach, desk, case_id, "schedule_session")
    book(coach, 5, "13:00")
    done(coach, desk, case_id, "schedule_session", "session_scheduled")
    act(coach, desk, case_id, "complete_session")
    coach.fill('[name="homework"]', "Søg to jobs.")
    done(coach, desk, case_id, "complete_session", "between_sessions")

    act(coach, desk, case_id, "finish")
    coach.check('[name="outcome"][value="employment"]')
    done(coach, desk, case_id, "finish", "completed")

    act(coach, desk, case_id, "schedule_follow_up")
    book(coach, 30, "10:00")
    done(coach, desk, case_id, "schedule_follow_up", "follow_up_scheduled")

    act(coach, desk, case_id, "hold_follow_up")
    done(coach, desk, case_id, "hold_follow_up", "closed")

    snapshot = desk.store.snapshot(case_id)
    assert snapshot.data["sessions_held"] == 2
    assert snapshot.data["outcome"] == "employment"
    assert snapshot.data["expectations"] == "Mål: et fritidsjob inden sommer."
    # The timeline names who did what.
    main = coach_page.locator("main").inner_text()
    assert "Sara Sag" in main and "Connie Coach" in main
    shown = desk.store.show(case_id)
    actors = [CASEWORKER, COACH, CASEWORKER] + [COACH] * 7
    assert [h["actor"] for h in shown["history"][1:]] == actors

    coach_page.goto(f"{desk.url}/sager")
    assert coach_page.get_by_role("heading", name="Afsluttede sager (1)").is_visible()
    accessible(coach_page)
