"""*Mine sager*: a person's cases grouped by what they need, with deadlines in working days.

With FORLOEB_DESK_SCREENSHOTS=DIR the test also saves the README's screenshots there.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from flows import clock
from machines import get_process
from tests.conftest import LEADER, PPR, SAMRAAD_CASE, drive_to

from .conftest import BROWSER_GROUP, DeskServer
from .helpers import accessible, sign_in

SAMRAAD = get_process("samraad")

pytestmark = BROWSER_GROUP


def test_mine_sager_groups_cases_by_what_they_need(desk_server: DeskServer, new_page: Any) -> None:
    desk = desk_server
    store, now = desk.store, clock.now()
    fresh = store.open_case("samraad", SAMRAAD_CASE, now)
    convened = store.open_case("samraad", SAMRAAD_CASE, now)
    store.fire(convened, "convene", LEADER, {}, now)
    late = store.open_case("samraad", SAMRAAD_CASE, now - timedelta(days=30))
    store.fire(late, "convene", LEADER, {}, now - timedelta(days=30))
    done = store.open_case("samraad", SAMRAAD_CASE, now - timedelta(days=400))
    drive_to_closed_long_ago(store, done)

    ppr = new_page()
    sign_in(ppr, desk, PPR)
    text = ppr.locator("main").inner_text()
    # Nothing for the psychologist to do yet; the convened case's deadline is near.
    assert "Kræver handling nu" not in text
    assert "Frist snart (1)" in text and "frist om 5 arbejdsdage" in text
    assert "Overskredet (1)" in text and "Afsluttede sager (1)" in text

    leader = new_page()
    sign_in(leader, desk, LEADER)
    text = leader.locator("main").inner_text()
    assert "Kræver handling nu (2)" in text  # convene the fresh one, schedule the other
    assert "Overskredet (1)" in text
    leader.get_by_label("Proces").select_option("samraad")
    leader.get_by_label("Tilstand").select_option("closed")
    leader.get_by_role("button", name="Filtrér").click()
    accessible(leader)
    assert leader.get_by_role("link", name=f"Sag {done}").is_visible()
    assert not leader.get_by_role("link", name=f"Sag {fresh}").is_visible()

    shots = os.environ.get("FORLOEB_DESK_SCREENSHOTS")
    if shots:
        leader.set_viewport_size({"width": 1200, "height": 900})
        leader.goto(f"{desk.url}/sager")
        leader.screenshot(path=str(Path(shots) / "desk-mine-sager.png"), full_page=True)
        leader.goto(f"{desk.url}/sager/{convened}")
        leader.screenshot(path=str(Path(shots) / "desk-case.png"), full_page=True)


def drive_to_closed_long_ago(store: Any, case_id: int) -> None:
    drive_to(store, case_id, "closed")
