"""The handover form on the desk: by the consent rules, each read in the access log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from persistence import AccessRow
from tests.test_handover_rules import PEDAGOGUE, SECRET, drive, open_handover

from .conftest import ADMIN, BROWSER_GROUP, DeskServer
from .helpers import accessible, sign_in

pytestmark = BROWSER_GROUP


def test_the_pedagogue_sees_the_form_only_from_the_startup_on(
    desk_server: DeskServer, new_page: Any
) -> None:
    desk = desk_server
    case_id = open_handover(desk.store)
    drive(desk.store, case_id, "startup_scheduled")
    page = new_page()
    sign_in(page, desk, PEDAGOGUE)
    page.goto(f"{desk.url}/sager/{case_id}")
    page.get_by_role("link", name="Overgangsskema").click()
    accessible(page)
    assert "Du kan ikke se skemaet nu" in page.locator("main").inner_text()
    assert SECRET not in page.content()

    drive(desk.store, case_id, "handed_over")
    page.reload()
    accessible(page)
    assert SECRET in page.locator("main").inner_text()
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
