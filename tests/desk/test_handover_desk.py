"""The handover form on the desk: by the consent rules, each read in the access log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from persistence import AccessRow
from tests.test_handover_rules import PEDAGOGUE, SECRET, drive, open_handover

from .conftest import ADMIN, BROWSER_GROUP, DeskServer
from .helpers import accessible, sign_in

pytestmark = BROWSER_GROUP

#: What a person is told who may not see the form (yet).
NOT_NOW = "Du kan ikke se skemaet nu"


def read_form(page: Any, desk: DeskServer, case_id: int) -> str:
    """The form as this person sees it, opened by its link on the case page."""
    page.goto(f"{desk.url}/sager/{case_id}")
    page.get_by_role("link", name="Overgangsskema").click()
    page.wait_for_url(f"**/sager/{case_id}/skema")
    accessible(page)
    return str(page.locator("main").inner_text())


def test_the_pedagogue_sees_the_form_only_from_the_startup_on(
    desk_server: DeskServer, new_page: Any
) -> None:
    desk = desk_server
    case_id = open_handover(desk.store)
    drive(desk.store, case_id, "startup_scheduled")
    page = new_page()
    sign_in(page, desk, PEDAGOGUE)
    assert NOT_NOW in read_form(page, desk, case_id)
    assert SECRET not in page.content()

    drive(desk.store, case_id, "handed_over")
    shown = read_form(page, desk, case_id)
    assert SECRET in shown
    # Under the sections' Danish headings, not their keys.
    assert "Helbred, søvn og mad" in shown and "health" not in shown
    with desk.store.engine.connect() as conn:
        reads = conn.execute(
            select(AccessRow.who, AccessRow.what, AccessRow.via).where(
                AccessRow.case_id == case_id, AccessRow.what == "form"
            )
        ).all()
    assert reads == [(PEDAGOGUE, "form", "desk")] * 2


def test_an_admin_never_sees_the_form(desk_server: DeskServer, new_page: Any) -> None:
    desk = desk_server
    case_id = open_handover(desk.store)
    drive(desk.store, case_id, "handed_over")
    page = new_page()
    sign_in(page, desk, ADMIN)
    response = page.goto(f"{desk.url}/sager/{case_id}/skema")
    assert response is not None and response.status == 404
    page.goto(f"{desk.url}/sager/{case_id}")
    assert SECRET not in page.content()
