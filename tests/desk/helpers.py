"""Clicks a person makes on the desk, and the accessibility check run on every page."""

from __future__ import annotations

from typing import Any

from axe_playwright_python.sync_playwright import Axe

from .conftest import DeskServer

_AXE = Axe()
SERIOUS = {"serious", "critical"}


def accessible(page: Any) -> None:
    """axe-core on the page as it is now: no serious or critical violation."""
    results = _AXE.run(page)
    bad = [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v.get("impact") in SERIOUS
    ]
    assert not bad, f"{page.url}: {bad}"


def sign_in(page: Any, desk: DeskServer, email: str) -> None:
    page.goto(f"{desk.url}/log-ind")
    accessible(page)
    page.get_by_label("E-mailadresse").fill(email)
    page.get_by_role("button", name="Send mig et link").click()
    page.get_by_role("heading", name="Tjek din mail").wait_for()
    accessible(page)
    page.goto(desk.link_for(email))
    accessible(page)
    page.get_by_role("button", name="Log ind").click()
    page.wait_for_url(f"{desk.url}/sager")
    accessible(page)


def open_action(page: Any, desk: DeskServer, case_id: int, title: str) -> None:
    """From the case page, the button of an event this person may fire now."""
    page.goto(f"{desk.url}/sager/{case_id}")
    accessible(page)
    page.get_by_role("link", name=title, exact=True).click()
    page.get_by_role("heading", name=title, exact=True).wait_for()
    accessible(page)


def submit(page: Any, title: str) -> None:
    page.get_by_role("button", name=title, exact=True).click()
    page.wait_for_load_state()
