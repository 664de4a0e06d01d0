"""Clicks a person makes on the desk, and the accessibility check run on every page."""

from __future__ import annotations

from typing import Any

from axe_playwright_python.sync_playwright import Axe

from desk.security import Session, SessionCodec
from desk.settings import DeskSettings
from flows import clock
from machines import COPENHAGEN, Process, WorkingCalendar

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


def signed_in(desk: DeskServer, email: str) -> tuple[dict[str, str], str]:
    """The session cookie a signed-in person's browser holds, and its CSRF token (for
    requests without a browser)."""
    session = Session.new(email)
    codec = SessionCodec(DeskSettings.from_env())
    return {"forloeb_desk": codec.serializer.dumps(session.dump())}, session.csrf


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


class Mouse:
    """A person who clicks and types into fields (Playwright's usual way)."""

    def __init__(self, page: Any) -> None:
        self.page = page

    def link(self, name: str) -> None:
        self.page.get_by_role("link", name=name, exact=True).click()

    def button(self, name: str) -> None:
        self.page.get_by_role("button", name=name, exact=True).click()
        self.page.wait_for_load_state()

    def fill(self, selector: str, value: str) -> None:
        self.page.locator(selector).fill(value)

    def choose(self, selector: str, value: str) -> None:
        self.page.locator(selector).select_option(value)

    def check(self, selector: str) -> None:
        self.page.locator(selector).check()


class Keyboard(Mouse):
    """A person with the keyboard only: Tab to each control, type, Space, Enter."""

    def _focus(self, target: Any) -> None:
        for _ in range(400):
            self.page.keyboard.press("Tab")
            if target.evaluate("el => el === document.activeElement"):
                return
        raise AssertionError(f"Tab never reached {target}")

    def link(self, name: str) -> None:
        self._focus(self.page.get_by_role("link", name=name, exact=True))
        self.page.keyboard.press("Enter")
        self.page.wait_for_load_state()

    def button(self, name: str) -> None:
        self._focus(self.page.get_by_role("button", name=name, exact=True))
        self.page.keyboard.press("Enter")
        self.page.wait_for_load_state()

    def fill(self, selector: str, value: str) -> None:
        field = self.page.locator(selector)
        self._focus(field)
        kind = field.get_attribute("type")
        # The pickers' segments follow Chromium's UI language (en-US here), not the page's:
        # month, day, year; hours in 12, then AM or PM.
        if kind == "date":
            year, month, day = value.split("-")
            self.page.keyboard.type(month + day + year)
        elif kind == "time":
            hour, minute = (int(part) for part in value.split(":"))
            twelve = hour % 12 or 12
            self.page.keyboard.type(f"{twelve:02d}{minute:02d}{'P' if hour >= 12 else 'A'}")
        else:
            self.page.keyboard.press("Control+A")
            self.page.keyboard.type(value)
        assert field.input_value() == value, (selector, field.input_value(), value)

    def choose(self, selector: str, value: str) -> None:
        field = self.page.locator(selector)
        self._focus(field)
        for _ in range(60):
            if field.input_value() == value:
                return
            self.page.keyboard.press("ArrowDown")
        raise AssertionError(f"{value!r} is not among the choices of {selector}")

    def check(self, selector: str) -> None:
        field = self.page.locator(selector)
        if field.get_attribute("type") != "radio":
            self._focus(field)
            self.page.keyboard.press("Space")
            assert field.is_checked()
            return
        # Tab stops once in a radio group (at its checked or first button); arrows choose.
        name = field.get_attribute("name")
        for _ in range(400):
            self.page.keyboard.press("Tab")
            if self.page.evaluate("name => document.activeElement?.name === name", name):
                break
        else:
            raise AssertionError(f"Tab never reached the group {name}")
        if field.evaluate("el => el === document.activeElement"):
            self.page.keyboard.press("Space")
        for _ in range(20):
            if field.is_checked():
                return
            self.page.keyboard.press("ArrowDown")
        raise AssertionError(f"the arrows never chose {selector}")


def start_action(user: Mouse, desk: DeskServer, case_id: int, process: Process, event: str) -> None:
    """On the case page, the button of an event this person may fire now; its form opens."""
    page = user.page
    page.goto(f"{desk.url}/sager/{case_id}")
    accessible(page)
    user.link(process.event_title(event))
    page.get_by_role("heading", name=process.event_title(event), exact=True).wait_for()
    accessible(page)


def finish_action(user: Mouse, case_id: int, process: Process, event: str, state: str) -> str:
    """The form's own button: back on the case page, which says what was done and the
    state the case is in now (in Danish). Returns the page's text."""
    page = user.page
    user.button(process.event_title(event))
    page.wait_for_url(f"**/sager/{case_id}?udfoert={event}")
    accessible(page)
    told = page.get_by_role("status").inner_text()
    title, state_title = process.event_title(event), process.state_title(state)
    assert told == f"Udført: {title}. Sagen er nu {state_title}."
    current = page.locator('ol.states [aria-current="step"]').inner_text()
    assert current.startswith(state_title), current
    return str(page.locator("main").inner_text())


def refused(user: Mouse, process: Process, event: str) -> str:
    """The form's own button, and the refusal on the same form: its text."""
    page = user.page
    user.button(process.event_title(event))
    alert = page.get_by_role("alert")
    alert.wait_for()
    accessible(page)
    assert page.get_by_role("heading", name=process.event_title(event), exact=True).is_visible()
    return str(alert.inner_text())


def table(page: Any, heading: str) -> list[list[str]]:
    """The cells of the table under the heading ``heading``, row by row."""
    rows = page.locator(f"h2:text-is('{heading}') + table tbody tr")
    return [[cell.strip() for cell in row.locator("td").all_inner_texts()] for row in rows.all()]


def working_day(n: int) -> str:
    """The n-th working day from today, as the date picker's value."""
    today = clock.now().astimezone(COPENHAGEN).date()
    return WorkingCalendar().add_working_days(today, n).isoformat()
