"""A whole handover on the desk, from sign-in to closed, by the health nurse and the daycare
leader, in Chromium; every page checked with axe-core.

The start date is set 15 working days from the desk's today, so the home visit (3 working
days on) lies in its window and no time has to pass between the steps."""

from __future__ import annotations

from typing import Any

import pytest

from flows import clock
from machines import get_process
from tests.test_handover_rules import HANDOVER_CASE, LEADER, NURSE, SECRET

from .conftest import BROWSER_GROUP, DeskServer
from .helpers import Keyboard, Mouse, accessible, finish_action, sign_in, start_action, working_day

HANDOVER = get_process("handover")

pytestmark = BROWSER_GROUP


def title(event: str) -> str:
    return HANDOVER.event_title(event)


def act(user: Mouse, desk: DeskServer, case_id: int, event: str) -> None:
    start_action(user, desk, case_id, HANDOVER, event)


def done(user: Mouse, desk: DeskServer, case_id: int, event: str, state: str) -> None:
    finish_action(user, case_id, HANDOVER, event, state)
    assert desk.store.snapshot(case_id).state == state


def book(user: Mouse, day: str, hour: str) -> None:
    user.fill('[name="start.date"]', day)
    user.fill('[name="start.time"]', hour)


@pytest.mark.parametrize("way", [Mouse, Keyboard], ids=["mouse", "keyboard-only"])
def test_a_whole_handover_from_sign_in_to_closed(
    desk_server: DeskServer, new_page: Any, way: type[Mouse]
) -> None:
    desk = desk_server
    start_date = working_day(15)
    case_id = desk.store.open_case(
        "handover", {**HANDOVER_CASE, "start_date": start_date}, clock.now()
    )
    nurse_page, leader_page = new_page(), new_page()
    sign_in(nurse_page, desk, NURSE)
    sign_in(leader_page, desk, LEADER)
    nurse, leader = way(nurse_page), way(leader_page)

    act(nurse, desk, case_id, "offer")
    done(nurse, desk, case_id, "offer", "offered")

    # The parents said yes to two sections; the nurse records it on their behalf.
    act(nurse, desk, case_id, "accept")
    nurse.check('[name="sections"][value="health"]')
    nurse.check('[name="sections"][value="wishes"]')
    nurse.check('[name="nurse_at_startup"]')
    done(nurse, desk, case_id, "accept", "accepted")

    act(nurse, desk, case_id, "schedule_home_visit")
    book(nurse, working_day(3), "10:00")
    done(nurse, desk, case_id, "schedule_home_visit", "home_visit_scheduled")

    act(nurse, desk, case_id, "complete_form")
    nurse.fill('[name="sections.health"]', SECRET)
    nurse.fill('[name="sections.wishes"]', "Ro ved aflevering.")
    done(nurse, desk, case_id, "complete_form", "form_completed")

    act(leader, desk, case_id, "schedule_startup")
    book(leader, start_date, "09:00")
    done(leader, desk, case_id, "schedule_startup", "startup_scheduled")

    act(leader, desk, case_id, "hold_startup")
    done(leader, desk, case_id, "hold_startup", "handed_over")

    act(leader, desk, case_id, "close")
    done(leader, desk, case_id, "close", "closed")

    # The timeline names who did what.
    main = leader_page.locator("main").inner_text()
    assert "Hanne Sund" in main and "Lis Leder" in main
    shown = desk.store.show(case_id)
    assert [h["actor"] for h in shown["history"][1:]] == [NURSE] * 4 + [LEADER] * 3

    leader_page.goto(f"{desk.url}/sager")
    assert leader_page.get_by_role("heading", name="Afsluttede sager (1)").is_visible()
    accessible(leader_page)
