"""A coaching course's first weeks as its people meet them on the desk, in Chromium, every
page checked with axe-core: the caseworker opens the case on «Opret sag» (four people: more
rows than the form first offers) and books the intro; the coach agrees the course, the
young person does not come to the first session, and each rule that refuses a step says
so in Danish on the same form: no outcome before a session was held (use «Afbryd
forløbet»), the coach's other session at the same time, no session without homework,
session 1 frames the course.

The simulated clock (``FORLOEB_NOW``) is moved before each step to when the person acts,
as in tests/test_coaching_rules.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from desk.views import local
from machines import get_process
from tests.conftest import at
from tests.test_coaching_rules import CASEWORKER, COACH, COORDINATOR, YOUTH

from .conftest import BROWSER_GROUP, DeskServer
from .helpers import Mouse, accessible, finish_action, refused, sign_in, start_action, table

COACHING = get_process("coaching")

pytestmark = BROWSER_GROUP

#: Who is on the case, as the caseworker types them into «Opret sag».
PEOPLE = [
    ("youth", "Ali Ærø", YOUTH),
    ("coach", "Connie Coach", COACH),
    ("caseworker", "Sara Sag", CASEWORKER),
    ("coordinator", "Karen Lund", COORDINATOR),
]


@pytest.fixture
def desk(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> DeskServer:
    # The caseworker is on no case before she refers this one: staff may sign in.
    monkeypatch.setenv("FORLOEB_DESK_STAFF", CASEWORKER)
    monkeypatch.setenv("FORLOEB_NOW", at("2027-01-04 09:00").isoformat())
    server: DeskServer = request.getfixturevalue("desk_server")
    return server


def test_a_coaching_course_opened_on_the_desk_and_its_rules_in_danish(
    desk: DeskServer, new_page: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def now(when: str) -> None:
        monkeypatch.setenv("FORLOEB_NOW", at(when).isoformat())

    def step(user: Mouse, event: str, state: str) -> str:
        return finish_action(user, case_id, COACHING, event, state)

    # The coach has another young person, with a session on 13 January at 10.
    other = desk.store.open_case(
        "coaching",
        {
            "title": "Ungecenteret",
            "location": "Ungecenteret, lokale 3",
            "youth_ref": "ung-0008",
            "participants": [
                {"key": "ung", "role": "youth", "name": "Bo Berg", "email": "bo@example.dk"},
                {"key": "coach", "role": "coach", "name": "Connie Coach", "email": COACH},
            ],
        },
        at("2027-01-04 08:00"),
    )
    desk.store.fire(other, "accept", COACH, {}, at("2027-01-04 08:10"))
    booked = {"start": "2027-01-13T10:00:00+01:00"}
    desk.store.fire(other, "schedule_session", COACH, booked, at("2027-01-04 08:20"))

    # ------------------------------------------------ the caseworker refers (4 January)
    worker_page = new_page()
    sign_in(worker_page, desk, CASEWORKER)
    worker = Mouse(worker_page)
    worker.link("Opret sag")
    accessible(worker_page)
    worker.link(COACHING.title)
    worker_page.get_by_role("heading", name=f"Opret: {COACHING.title}").wait_for()
    accessible(worker_page)
    worker.fill('[name="title"]', "Ungecenteret")
    worker.fill('[name="location"]', "Ungecenteret, lokale 3")
    worker_page.get_by_label("Den unges reference (pseudonym)").fill("ung-0007")
    for row, (role, name, email) in enumerate(PEOPLE):
        if row == 3:  # three rows are offered: more, what is typed kept
            worker.button("Flere deltagere")
            accessible(worker_page)
            assert worker_page.locator('[name="participants.2.name"]').input_value() == "Sara Sag"
        worker.choose(f'[name="participants.{row}.role"]', role)
        worker.fill(f'[name="participants.{row}.name"]', name)
        worker.fill(f'[name="participants.{row}.email"]', email)
    worker.button("Opret sagen")
    case_id = other + 1
    worker_page.wait_for_url(f"{desk.url}/sager/{case_id}")
    accessible(worker_page)
    case = desk.store.snapshot(case_id)
    assert (case.process, case.state) == ("coaching", "referred")
    assert [(p.role, p.email) for p in case.participants] == [(r, e) for r, _, e in PEOPLE]
    # The defaults of what was left empty: six sessions of an hour.
    assert case.data["case_file"]["planned_sessions"] == 6
    assert "Sagen er Henvist." in worker_page.locator("main").inner_text()

    now("2027-01-04 10:00")
    start_action(worker, desk, case_id, COACHING, "schedule_intro")
    worker.fill('[name="start.date"]', "2027-01-06")
    worker.fill('[name="start.time"]', "10:00")
    step(worker, "schedule_intro", "intro_scheduled")
    (intro,) = table(worker_page, "Møder")
    assert intro[:3] == ["6. jan. 2027 kl. 10:00–11:00", "Ungecenteret, lokale 3", "planlagt"]
    for invited in ("Ali Ærø (den unge)", "Connie Coach (coach)", "Sara Sag (sagsbehandler)"):
        assert invited in intro[3]

    # ------------------------------------------------ the coach agrees the course (6 January)
    now("2027-01-06 11:00")
    coach_page = new_page()
    sign_in(coach_page, desk, COACH)
    coach = Mouse(coach_page)
    assert coach_page.get_by_role("heading", name="Kræver handling nu (2)").is_visible()
    start_action(coach, desk, case_id, COACHING, "accept")
    step(coach, "accept", "agreed")
    assert table(coach_page, "Møder")[0][2] == "holdt"

    start_action(coach, desk, case_id, COACHING, "schedule_session")
    coach.fill('[name="start.date"]', "2027-01-11")
    coach.fill('[name="start.time"]', "10:00")
    step(coach, "schedule_session", "session_scheduled")

    # ------------------------------------------------ the young person does not come (11 Jan.)
    now("2027-01-11 10:30")
    start_action(coach, desk, case_id, COACHING, "no_show")
    step(coach, "no_show", "between_sessions")
    # No outcome for a course that never began: the way out is named as its button is.
    start_action(coach, desk, case_id, COACHING, "finish")
    coach_page.get_by_label("Uddannelse").check()
    said = refused(coach, COACHING, "finish")
    assert "Der er ikke holdt nogen session. Brug «Afbryd forløbet» i stedet." in said
    coach_page.goto(f"{desk.url}/sager/{case_id}")
    assert coach_page.get_by_role("link", name="Afbryd forløbet", exact=True).is_visible()

    # The next session: not when the coach is with the other young person.
    now("2027-01-11 10:40")
    start_action(coach, desk, case_id, COACHING, "schedule_session")
    coach.fill('[name="start.date"]', "2027-01-13")
    coach.fill('[name="start.time"]', "10:30")
    said = refused(coach, COACHING, "schedule_session")
    assert "Coachen har en anden session 2027-01-13 kl. 10:00–11:00. Vælg et andet" in said
    coach.fill('[name="start.time"]', "13:00")
    step(coach, "schedule_session", "session_scheduled")

    # ------------------------------------------------ session 1 (13 January)
    now("2027-01-13 14:00")
    start_action(coach, desk, case_id, COACHING, "complete_session")
    said = refused(coach, COACHING, "complete_session")
    assert "En session er ikke holdt uden en hjemmeopgave" in said
    coach_page.get_by_label("Hjemmeopgave").fill("Skriv tre ting ned, du er god til.")
    said = refused(coach, COACHING, "complete_session")
    assert "Første session rammesætter forløbet: udfyld forventninger." in said
    coach_page.get_by_label("Forventninger, mål og metoder").fill(
        "Mål: en læreplads til sommer. Metode: små skridt."
    )
    coach_page.get_by_label("Vedholdenhed").check()
    text = step(coach, "complete_session", "between_sessions")
    assert "Næste frist: Påmindelse om næste session 3. feb. 2027 kl. 08:00" in text
    data = desk.store.snapshot(case_id).data
    assert (data["sessions_held"], data["no_shows"]) == (1, 1)
    assert data["sessions"] == [
        {"n": 1, "homework": "Skriv tre ting ned, du er god til.", "themes": ["persistence"]}
    ]
    assert [row[:3] for row in table(coach_page, "Møder")] == [
        ["6. jan. 2027 kl. 10:00–11:00", "Ungecenteret, lokale 3", "holdt"],
        ["11. jan. 2027 kl. 10:00–11:00", "Ungecenteret, lokale 3", "holdt"],
        ["13. jan. 2027 kl. 13:00–14:00", "Ungecenteret, lokale 3", "holdt"],
    ]
    # The refusals wrote nothing: the timeline has the steps taken, and only those.
    coach_ = "Connie Coach (coach)"
    worker_ = "Sara Sag (sagsbehandler)"
    assert table(coach_page, "Tidslinje") == [
        [local(at(when)), event, who, COACHING.state_title(state)]
        for when, event, who, state in [
            ("2027-01-04 09:00", "Sagen oprettet", worker_, "referred"),
            ("2027-01-04 10:00", "Aftal introduktionsmøde", worker_, "intro_scheduled"),
            ("2027-01-06 11:00", "Aftal forløbet", coach_, "agreed"),
            ("2027-01-06 11:00", "Aftal næste session", coach_, "session_scheduled"),
            ("2027-01-11 10:30", "Den unge udeblev", coach_, "between_sessions"),
            ("2027-01-11 10:40", "Aftal næste session", coach_, "session_scheduled"),
            ("2027-01-13 14:00", "Registrér afholdt session", coach_, "between_sessions"),
        ]
    ]
