"""*Coachenes kapacitet* on the desk, in Chromium: each coach's courses against the
capacity, the fullest first, over capacity said in words; only the municipal
coordinator of coaching and the admins."""

from __future__ import annotations

from typing import Any

from flows import clock
from tests.conftest import LEADER, SAMRAAD_CASE
from tests.test_coaching_rules import COACHING_CASE, COORDINATOR

from .conftest import ADMIN, BROWSER_GROUP, DeskServer
from .helpers import accessible, sign_in

pytestmark = BROWSER_GROUP

BUSY = "travl@ungecenter.example.dk"
CALM = "rolig@ungecenter.example.dk"


def coaching_case(coach: str, name: str, n: int) -> dict[str, Any]:
    participants = [
        {**p, "email": coach, "name": name} if p["role"] == "coach" else p
        for p in COACHING_CASE["participants"]
    ]
    return {**COACHING_CASE, "youth_ref": f"ung-{n:04d}", "participants": participants}


def test_the_coordinator_sees_a_coach_over_capacity(desk_server: DeskServer, new_page: Any) -> None:
    desk = desk_server
    now = clock.now()
    for n in range(52):  # capacity 50: two too many
        desk.store.open_case("coaching", coaching_case(BUSY, "Bo Travl", n), now)
    for n in range(3):
        desk.store.open_case("coaching", coaching_case(CALM, "Rie Rolig", 100 + n), now)

    page = new_page()
    sign_in(page, desk, COORDINATOR)
    page.get_by_role("link", name="Coachenes kapacitet").click()
    page.get_by_role("heading", name="Coachenes kapacitet").wait_for()
    accessible(page)
    # The coaches' coordinator is no school leader: no link to the absence import.
    assert page.get_by_role("link", name="Importér fravær").count() == 0
    rows = page.locator("main tbody tr")
    assert rows.count() == 2
    busy, calm = rows.nth(0).inner_text(), rows.nth(1).inner_text()
    assert busy.split("\t") == [
        "Bo Travl",
        BUSY,
        "52",
        "52",
        "50",
        "Over kapaciteten (2 for mange)",
    ]
    assert calm.split("\t") == ["Rie Rolig", CALM, "3", "3", "50", "Plads til 47 mere"]
    assert "1 af 2 er på eller over kapaciteten." in page.locator("main").inner_text()


def test_only_the_coordinator_and_admins_see_capacity(
    desk_server: DeskServer, new_page: Any
) -> None:
    desk = desk_server
    desk.store.open_case("samraad", SAMRAAD_CASE, clock.now())
    desk.store.open_case("coaching", coaching_case(BUSY, "Bo Travl", 1), clock.now())
    # A school leader, and a coach on a coaching case: 404, no link.
    for email in (LEADER, BUSY):
        page = new_page()
        sign_in(page, desk, email)
        assert page.get_by_role("link", name="Coachenes kapacitet").count() == 0
        answer = page.goto(f"{desk.url}/kapacitet")
        assert answer is not None and answer.status == 404
        accessible(page)
    admin = new_page()
    sign_in(admin, desk, ADMIN)
    admin.get_by_role("link", name="Coachenes kapacitet").click()
    admin.get_by_role("heading", name="Coachenes kapacitet").wait_for()
    accessible(admin)
    assert "Bo Travl" in admin.locator("main tbody").inner_text()
