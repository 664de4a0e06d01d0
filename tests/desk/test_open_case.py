"""Opening a case on the desk: the case file's form, generated from its model."""

from __future__ import annotations

from typing import Any

from flows import clock
from tests.conftest import LEADER

from .conftest import BROWSER_GROUP, DeskServer
from .helpers import accessible, sign_in
from .test_samraad_desk import counts

pytestmark = BROWSER_GROUP


def test_a_leader_opens_a_samraad_and_bad_input_writes_nothing(
    desk_server: DeskServer, new_page: Any
) -> None:
    desk = desk_server
    # The leader is on another case already (that is what lets them sign in).
    desk.store.open_case(
        "samraad",
        {
            "title": "Anden skole",
            "location": "Anden skole",
            "participants": [
                {"key": "leder", "role": "school_leader", "name": "B", "email": LEADER}
            ],
        },
        clock.now(),
    )
    page = new_page()
    sign_in(page, desk, LEADER)
    before = counts(desk.store.engine)
    page.get_by_role("link", name="Opret sag").click()
    accessible(page)
    page.get_by_role("link", name="Fraværssamråd").click()
    accessible(page)

    # Without a title, and without oneself on the case: refused in Danish, nothing written.
    page.locator('[name="location"]').fill("Skolen ved Søerne")
    page.locator('[name="participants.0.role"]').select_option("pupil")
    page.locator('[name="participants.0.name"]').fill("Ida Æblegaard")
    page.get_by_role("button", name="Opret sagen").click()
    assert "Skal udfyldes." in page.locator("main").inner_text()
    accessible(page)
    page.locator('[name="title"]').fill("Skolen ved Søerne")
    page.get_by_role("button", name="Opret sagen").click()
    assert "Du skal selv stå som deltager" in page.locator("main").inner_text()
    page.locator('[name="participants.1.email"]').fill("ikke en adresse")
    page.locator('[name="participants.1.role"]').select_option("school_leader")
    page.locator('[name="participants.1.name"]').fill("Birgitte Holm")
    page.get_by_role("button", name="Opret sagen").click()
    assert "Skriv en gyldig e-mailadresse" in page.locator("main").inner_text()
    assert counts(desk.store.engine) == before

    page.locator('[name="participants.1.email"]').fill(LEADER)
    page.get_by_role("button", name="Opret sagen").click()
    page.wait_for_url(f"{desk.url}/sager/2")
    accessible(page)
    case = desk.store.snapshot(2)
    assert (case.process, case.state, case.title) == ("samraad", "concern", "Skolen ved Søerne")
    assert [(p.role, p.email) for p in case.participants] == [
        ("pupil", None),
        ("school_leader", LEADER),
    ]
