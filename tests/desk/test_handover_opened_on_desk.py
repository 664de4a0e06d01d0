"""A handover as its people meet it on the desk, in Chromium, every page checked with
axe-core: the health nurse opens the case on «Opret sag» (six people: more rows than the
form first offers), a parent gives consent herself, choosing sections by their Danish
names; the nurse's home visit outside its window is refused in Danish with the window;
the meetings, messages and timeline are checked as each person sees them; the pedagogue
sees the form only from the start-up on (``read_form``, as in test_handover_desk.py).

The process runs over weeks, so the simulated clock (``FORLOEB_NOW``) is moved before each
step to when the person acts, as in tests/test_handover_rules.py; the start-up lies in
summer time (the desk adds +02:00).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from desk.views import local
from machines import get_process
from tests.conftest import at
from tests.test_handover_rules import COORDINATOR, LEADER, MOTHER, NURSE, PEDAGOGUE, SECRET

from .conftest import BROWSER_GROUP, DeskServer
from .helpers import Mouse, accessible, finish_action, refused, sign_in, start_action, table
from .test_handover_desk import NOT_NOW, read_form

HANDOVER = get_process("handover")

pytestmark = BROWSER_GROUP

#: Who is on the case, as the nurse types them into «Opret sag» (the father has no address).
PEOPLE = [
    ("parent", "Åse Ølgaard", MOTHER),
    ("parent", "Bo Ølgaard", ""),
    ("health_nurse", "Hanne Sund", NURSE),
    ("daycare_leader", "Lis Leder", LEADER),
    ("pedagogue", "Per Pæd", PEDAGOGUE),
    ("coordinator", "Karen Lund", COORDINATOR),
]
WISHES = "Ro om morgenen og faste rutiner"


@pytest.fixture
def desk(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> DeskServer:
    # The nurse is on no case before she opens this one: staff may sign in all the same.
    monkeypatch.setenv("FORLOEB_DESK_STAFF", NURSE)
    monkeypatch.setenv("FORLOEB_NOW", at("2027-01-15 09:00").isoformat())
    server: DeskServer = request.getfixturevalue("desk_server")
    return server


def test_a_handover_opened_on_the_desk_and_consented_by_a_parent(
    desk: DeskServer, new_page: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def now(when: str) -> None:
        monkeypatch.setenv("FORLOEB_NOW", at(when).isoformat())

    def step(user: Mouse, event: str, state: str) -> str:
        return finish_action(user, case_id, HANDOVER, event, state)

    # ------------------------------------------------ the nurse opens the case (15 January)
    nurse_page = new_page()
    sign_in(nurse_page, desk, NURSE)
    nurse = Mouse(nurse_page)
    nurse.link("Opret sag")
    accessible(nurse_page)
    nurse.link(HANDOVER.title)
    nurse_page.get_by_role("heading", name=f"Opret: {HANDOVER.title}").wait_for()
    accessible(nurse_page)
    nurse.fill('[name="title"]', "Børnehuset Mælkebøtten")
    nurse.fill('[name="location"]', "Børnehuset Mælkebøtten")
    nurse_page.get_by_label("Barnets reference (pseudonym)").fill("barn-0042")
    nurse_page.get_by_label("Dagtilbud", exact=True).fill("Børnehuset Mælkebøtten")
    nurse_page.get_by_label("Startdato i dagtilbuddet").fill("2027-04-01")

    def person(row: int) -> None:
        role, name, email = PEOPLE[row]
        nurse.choose(f'[name="participants.{row}.role"]', role)
        nurse.fill(f'[name="participants.{row}.name"]', name)
        nurse.fill(f'[name="participants.{row}.email"]', email)

    # Three rows are offered; six people are on a handover: more rows, what is typed kept.
    assert nurse_page.locator('[name="participants.3.name"]').count() == 0
    for row in range(3):
        person(row)
    nurse.button("Flere deltagere")
    accessible(nurse_page)
    assert nurse_page.locator('[name="participants.1.name"]').input_value() == "Bo Ølgaard"
    assert nurse_page.locator('[name="child_ref"]').input_value() == "barn-0042"
    assert not nurse_page.get_by_role("alert").is_visible()  # nothing refused, nothing opened
    for row in range(3, 6):
        person(row)
    nurse.button("Opret sagen")
    nurse_page.wait_for_url(f"{desk.url}/sager/1")
    accessible(nurse_page)
    case_id = 1
    case = desk.store.snapshot(case_id)
    assert (case.process, case.state) == ("handover", "registered")
    assert [(p.role, p.name, p.email) for p in case.participants] == [
        (role, name, email or None) for role, name, email in PEOPLE
    ]
    assert case.data["case_file"]["start_date"] == "2027-04-01"
    text = nurse_page.locator("main").inner_text()
    assert "Sagen er Registreret." in text and "Du er sundhedsplejerske." in text
    # The nurse is reminded to offer the form 8 weeks before the start.
    assert "Næste frist: Påmindelse om tilbud 4. feb. 2027 kl. 08:00" in text
    assert table(nurse_page, "Tidslinje") == [
        [local(at("2027-01-15 09:00")), "Sagen oprettet", "Hanne Sund (sundhedsplejerske)",
         "Registreret"],
    ]  # fmt: skip

    # ------------------------------------------------ she offers the form (20 January)
    now("2027-01-20 09:00")
    start_action(nurse, desk, case_id, HANDOVER, "offer")
    text = step(nurse, "offer", "offered")
    assert "Næste frist: Påmindelse om forældrenes svar 18. feb. 2027 kl. 08:00" in text

    # ------------------------------------------------ the mother consents (25 January)
    now("2027-01-25 09:00")
    mother_page = new_page()
    sign_in(mother_page, desk, MOTHER)
    mother = Mouse(mother_page)
    assert mother_page.get_by_role("heading", name="Kræver handling nu (1)").is_visible()
    assert mother_page.get_by_role("link", name="Giv samtykke").is_visible()
    start_action(mother, desk, case_id, HANDOVER, "accept")
    # Each section under its Danish name: the parents choose what they understand.
    for section in ("family", "development", "health", "adbb", "wishes"):
        label = mother_page.locator(f'[name="sections"][value="{section}"] + label')
        assert label.inner_text() not in (section, ""), section
    assert "Vælg eller udfyld mindst 1." in refused(mother, HANDOVER, "accept")
    mother_page.get_by_label("Helbred, søvn og mad").check()
    mother_page.get_by_label("Forældrenes ønsker til dagtilbuddet").check()
    mother_page.get_by_label("Sundhedsplejersken deltager i opstartssamtalen").check()
    step(mother, "accept", "accepted")
    consent = desk.store.snapshot(case_id).data["consent"]
    assert (consent["by"], consent["sections"], consent["nurse_at_startup"]) == (
        MOTHER,
        ["health", "wishes"],
        True,
    )

    # ------------------------------------------------ the nurse books the home visit (26 January)
    now("2027-01-26 09:00")
    start_action(nurse, desk, case_id, HANDOVER, "schedule_home_visit")
    nurse.fill('[name="start.date"]', "2027-02-10")  # 7 weeks before the start: too early
    nurse.fill('[name="start.time"]', "10:00")
    nurse.fill('[name="location"]', "Hjemme hos familien Ølgaard")
    said = refused(nurse, HANDOVER, "schedule_home_visit")
    assert "Hjemmebesøget skal ligge mellem 2027-02-18 og 2027-03-25" in said
    assert "Skriv en begrundelse" in said
    nurse.fill('[name="start.date"]', "2027-03-01")
    text = step(nurse, "schedule_home_visit", "home_visit_scheduled")
    visit = table(nurse_page, "Møder")
    assert [row[:3] for row in visit] == [
        ["1. mar. 2027 kl. 10:00–11:00", "Hjemme hos familien Ølgaard", "planlagt"]
    ]
    for invited in ("Åse Ølgaard (forælder)", "Bo Ølgaard (forælder)",
                    "Hanne Sund (sundhedsplejerske)"):  # fmt: skip
        assert invited in visit[0][3]
    assert "Lis Leder" not in visit[0][3]
    assert "Næste frist: Påmindelse om mødet 25. feb. 2027 kl. 08:00" in text
    # Invitations to those with an address (the father has none).
    assert sorted(row[:2] for row in table(nurse_page, "Udsendte beskeder")) == [
        ["Invitation", "Hanne Sund"],
        ["Invitation", "Åse Ølgaard"],
    ]

    # ------------------------------------------------ the form, at the home visit (1 March)
    now("2027-03-01 11:00")
    start_action(nurse, desk, case_id, HANDOVER, "complete_form")
    # Only the sections the parents consented to are offered.
    fields = nurse_page.locator("main form textarea")
    assert fields.count() == 2
    nurse_page.get_by_label("Helbred, søvn og mad").fill(SECRET)
    nurse_page.get_by_label("Forældrenes ønsker til dagtilbuddet").fill(WISHES)
    text = step(nurse, "complete_form", "form_completed")
    assert table(nurse_page, "Møder")[0][2] == "holdt"
    assert "Næste frist: Varsel om opstartssamtale" in text
    assert SECRET not in nurse_page.content()  # the form is on its own page only
    # The parents see their form at any time.
    shown = read_form(mother_page, desk, case_id)
    assert SECRET in shown and WISHES in shown
    assert "Sundhedsplejerskens ADBB-observationer" not in shown

    # ------------------------------------------------ the daycare books the start-up (2 March)
    now("2027-03-02 09:00")
    leader_page = new_page()
    sign_in(leader_page, desk, LEADER)
    leader = Mouse(leader_page)
    assert leader_page.get_by_role("heading", name="Kræver handling nu (1)").is_visible()
    assert leader_page.get_by_role("link", name="Aftal opstartssamtale").is_visible()
    start_action(leader, desk, case_id, HANDOVER, "schedule_startup")
    leader.fill('[name="start.date"]', "2027-04-05")  # summer time: the desk adds +02:00
    leader.fill('[name="start.time"]', "09:00")
    step(leader, "schedule_startup", "startup_scheduled")
    startup = desk.store.snapshot(case_id).meetings[-1]
    assert startup.start == datetime(2027, 4, 5, 7, 0, tzinfo=UTC)
    meetings = table(leader_page, "Møder")
    assert [row[:3] for row in meetings] == [
        ["1. mar. 2027 kl. 10:00–11:00", "Hjemme hos familien Ølgaard", "holdt"],
        ["5. apr. 2027 kl. 09:00–10:00", "Børnehuset Mælkebøtten", "planlagt"],
    ]
    # The nurse comes too, because the parents chose so.
    for invited in ("Åse Ølgaard", "Bo Ølgaard", "Lis Leder", "Per Pæd", "Hanne Sund"):
        assert invited in meetings[1][3]

    # The pedagogue has nothing to do, and does not see the form before the start-up.
    pedagogue_page = new_page()
    sign_in(pedagogue_page, desk, PEDAGOGUE)
    pedagogue_page.goto(f"{desk.url}/sager/{case_id}")
    accessible(pedagogue_page)
    assert "Det kan du gøre nu" not in pedagogue_page.locator("main").inner_text()
    assert NOT_NOW in read_form(pedagogue_page, desk, case_id)
    assert SECRET not in pedagogue_page.content()

    # ------------------------------------------------ the start-up conversation (5 April)
    now("2027-04-05 10:00")
    start_action(leader, desk, case_id, HANDOVER, "hold_startup")
    step(leader, "hold_startup", "handed_over")
    assert table(leader_page, "Møder")[1][2] == "holdt"
    shown = read_form(pedagogue_page, desk, case_id)
    assert SECRET in shown and WISHES in shown
    assert "Helbred, søvn og mad" in shown and "health" not in shown

    # ------------------------------------------------ closed (20 April)
    now("2027-04-20 10:00")
    start_action(leader, desk, case_id, HANDOVER, "close")
    text = step(leader, "close", "closed")
    assert "Det kan du gøre nu" not in text and "Næste frist" not in text

    # The timeline: what was done, by whom, and the state after, in Danish and Danish time.
    assert table(leader_page, "Tidslinje") == [
        [local(at(when)), event, who, HANDOVER.state_title(state)]
        for when, event, who, state in [
            ("2027-01-15 09:00", "Sagen oprettet", "Hanne Sund (sundhedsplejerske)", "registered"),
            ("2027-01-20 09:00", "Tilbyd overgangsskema", "Hanne Sund (sundhedsplejerske)",
             "offered"),
            ("2027-01-25 09:00", "Giv samtykke", "Åse Ølgaard (forælder)", "accepted"),
            ("2027-01-26 09:00", "Aftal hjemmebesøg", "Hanne Sund (sundhedsplejerske)",
             "home_visit_scheduled"),
            ("2027-03-01 11:00", "Udfyld overgangsskemaet", "Hanne Sund (sundhedsplejerske)",
             "form_completed"),
            ("2027-03-02 09:00", "Aftal opstartssamtale", "Lis Leder (dagtilbudsleder)",
             "startup_scheduled"),
            ("2027-04-05 10:00", "Opstartssamtalen er holdt", "Lis Leder (dagtilbudsleder)",
             "handed_over"),
            ("2027-04-20 10:00", "Afslut sagen", "Lis Leder (dagtilbudsleder)", "closed"),
        ]
    ]  # fmt: skip
    leader_page.goto(f"{desk.url}/sager")
    assert leader_page.get_by_role("heading", name="Afsluttede sager (1)").is_visible()
    accessible(leader_page)
