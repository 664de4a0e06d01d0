"""When things do not go to plan, on the desk in Chromium, every page checked with axe-core:
a samråd moved and then cancelled by the school leader, a coaching course with a no-show
ended early by the caseworker, a handover the mother says no to, and one whose consent she
withdraws after the form was filled in. Each refusal comes back in Danish on the same form
and writes nothing.

The cases are brought to the step before on the store (``store.fire``), the desk's clock
(``FORLOEB_NOW``) set a little after the last of those steps.
"""

from __future__ import annotations

from typing import Any

import pytest

from desk.views import local
from machines import get_process
from tests.conftest import LEADER, at, drive_to, open_samraad
from tests.test_coaching_rules import CASEWORKER, COACH, open_coaching
from tests.test_handover_rules import MOTHER, NURSE, SECRET, drive, open_handover

from .conftest import BROWSER_GROUP, DeskServer
from .helpers import Mouse, accessible, finish_action, refused, sign_in, start_action, table
from .test_handover_desk import NOT_NOW, read_form
from .test_samraad_desk import counts

SAMRAAD = get_process("samraad")
COACHING = get_process("coaching")
HANDOVER = get_process("handover")

pytestmark = BROWSER_GROUP


def now(monkeypatch: pytest.MonkeyPatch, when: str) -> None:
    monkeypatch.setenv("FORLOEB_NOW", at(when).isoformat())


def reason_error(page: Any) -> str:
    """The error on the «Begrundelse» field, as its field's description (screen readers)."""
    field = page.get_by_label("Begrundelse")
    assert field.get_attribute("aria-invalid") == "true"
    described = field.get_attribute("aria-describedby")
    return str(page.locator(f"#{described}").text_content())


def test_the_leader_moves_the_samraad_then_cancels_it(
    desk_server: DeskServer, new_page: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = desk_server
    case_id = open_samraad(desk.store)
    drive_to(desk.store, case_id, "scheduled")  # convened 21 Dec., the meeting 4 Jan. at 9
    now(monkeypatch, "2026-12-22 11:00")
    (booked,) = desk.store.show(case_id)["meetings"]
    assert booked["start"] == "2027-01-04T09:00:00+01:00"
    page = new_page()
    sign_in(page, desk, LEADER)
    leader = Mouse(page)

    # Into the past: refused on the same form, the date kept, nothing written.
    before = counts(desk.store.engine)
    start_action(leader, desk, case_id, SAMRAAD, "reschedule")
    leader.fill('[name="start.date"]', "2026-12-21")
    leader.fill('[name="start.time"]', "09:00")
    said = refused(leader, SAMRAAD, "reschedule")
    assert "Mødetidspunktet ligger i fortiden. Vælg et senere." in said
    assert page.locator('[name="start.date"]').input_value() == "2026-12-21"
    assert counts(desk.store.engine) == before
    assert desk.store.show(case_id)["meetings"][0]["start"] == booked["start"]

    # A later day: the meeting moves, and every invited person is sent the update.
    leader.fill('[name="start.date"]', "2026-12-30")
    leader.fill('[name="start.time"]', "10:00")
    finish_action(leader, case_id, SAMRAAD, "reschedule", "scheduled")
    assert table(page, "Møder")[0][0] == "30. dec. 2026 kl. 10:00–11:30"
    shown = desk.store.show(case_id)
    (moved,) = shown["meetings"]
    assert (moved["uid"], moved["status"]) == (booked["uid"], "scheduled")
    assert moved["start"] == "2026-12-30T10:00:00+01:00"
    assert moved["sequence"] == booked["sequence"] + 1
    updates = {o["to"] for o in shown["outbox"] if o["template"] == "update"}
    assert updates == {
        p["email"] for p in shown["participants"] if p["key"] in booked["participants"]
    }

    # Cancelled without a reason: refused, nothing written; with one: cancelled.
    before = counts(desk.store.engine)
    start_action(leader, desk, case_id, SAMRAAD, "cancel")
    assert "Formularen har fejl" in refused(leader, SAMRAAD, "cancel")
    assert reason_error(page) == "Fejl: Skal udfyldes."
    assert counts(desk.store.engine) == before
    page.get_by_label("Begrundelse").fill("Familien er flyttet til en anden kommune.")
    finish_action(leader, case_id, SAMRAAD, "cancel", "cancelled")
    for event in ("reschedule", "cancel", "start_meeting"):  # nothing more to do
        assert page.get_by_role("link", name=SAMRAAD.event_title(event)).count() == 0
    leader_ = "Birgitte Holm (skoleleder)"
    assert table(page, "Tidslinje")[-2:] == [
        [local(at("2026-12-22 11:00")), "Flyt mødet", leader_, SAMRAAD.state_title("scheduled")],
        [local(at("2026-12-22 11:00")), "Aflys mødet", leader_, "Aflyst"],
    ]
    shown = desk.store.show(case_id)
    assert shown["state"] == "cancelled"
    assert shown["meetings"][0]["status"] == "cancelled"
    assert shown["history"][-1]["details"]["reason"] == "Familien er flyttet til en anden kommune."
    cancelled = {o["to"] for o in shown["outbox"] if o["template"] == "cancellation"}
    assert cancelled == updates


def test_a_no_show_and_a_course_ended_early(
    desk_server: DeskServer, new_page: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = desk_server
    case_id = open_coaching(desk.store)
    desk.store.fire(case_id, "accept", CASEWORKER, {}, at("2027-01-04 10:00"))
    booked = {"start": "2027-01-06T10:00:00+01:00"}
    desk.store.fire(case_id, "schedule_session", COACH, booked, at("2027-01-05 09:00"))

    # The young person does not come on 6 January.
    now(monkeypatch, "2027-01-06 10:30")
    coach_page = new_page()
    sign_in(coach_page, desk, COACH)
    coach = Mouse(coach_page)
    start_action(coach, desk, case_id, COACHING, "no_show")
    finish_action(coach, case_id, COACHING, "no_show", "between_sessions")
    case = desk.store.snapshot(case_id)
    assert (case.state, case.data["no_shows"], case.data.get("sessions_held", 0)) == (
        "between_sessions",
        1,
        0,
    )

    # The caseworker ends the course: not without a reason.
    now(monkeypatch, "2027-01-07 09:00")
    worker_page = new_page()
    sign_in(worker_page, desk, CASEWORKER)
    worker = Mouse(worker_page)
    before = counts(desk.store.engine)
    start_action(worker, desk, case_id, COACHING, "drop_out")
    assert "Formularen har fejl" in refused(worker, COACHING, "drop_out")
    assert reason_error(worker_page) == "Fejl: Skal udfyldes."
    assert counts(desk.store.engine) == before
    assert desk.store.snapshot(case_id).state == "between_sessions"

    worker_page.get_by_label("Begrundelse").fill("Den unge er startet i arbejde.")
    finish_action(worker, case_id, COACHING, "drop_out", "dropped_out")
    shown = desk.store.show(case_id)
    assert shown["state"] == "dropped_out" and "dropped_out" in COACHING.finals
    assert shown["history"][-1]["details"]["reason"] == "Den unge er startet i arbejde."
    assert [h["event"] for h in shown["history"][-2:]] == ["no_show", "drop_out"]
    # The case page's timeline, in Danish: who did what, and where it left the case.
    assert table(worker_page, "Tidslinje")[-2:] == [
        [
            local(at("2027-01-06 10:30")),
            "Den unge udeblev",
            "Connie Coach (coach)",
            COACHING.state_title("between_sessions"),
        ],
        [
            local(at("2027-01-07 09:00")),
            "Afbryd forløbet",
            "Sara Sag (sagsbehandler)",
            "Afbrudt",
        ],
    ]
    # A course ended: no buttons left, not even for the coach.
    coach_page.goto(f"{desk.url}/sager/{case_id}")
    accessible(coach_page)
    for event in ("schedule_session", "drop_out", "finish"):
        assert coach_page.get_by_role("link", name=COACHING.event_title(event)).count() == 0


def test_the_mother_says_no_and_the_nurses_yes_comes_too_late(
    desk_server: DeskServer, new_page: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = desk_server
    case_id = open_handover(desk.store)
    drive(desk.store, case_id, "offered")  # offered 20 January
    now(monkeypatch, "2027-01-21 09:00")
    mother_page, nurse_page = new_page(), new_page()
    sign_in(mother_page, desk, MOTHER)
    sign_in(nurse_page, desk, NURSE)
    mother, nurse = Mouse(mother_page), Mouse(nurse_page)

    # The nurse opens the consent form to record a yes on the parents' behalf ...
    start_action(nurse, desk, case_id, HANDOVER, "accept")
    nurse.check('[name="sections"][value="health"]')
    # ... while the mother says no herself.
    start_action(mother, desk, case_id, HANDOVER, "decline")
    finish_action(mother, case_id, HANDOVER, "decline", "declined")
    for event in ("accept", "withdraw"):  # a no is final: nothing more to do
        assert mother_page.get_by_role("link", name=HANDOVER.event_title(event)).count() == 0
    case = desk.store.snapshot(case_id)
    assert case.state == "declined" and case.state in HANDOVER.finals
    assert "declined_at" in case.data and "consent" not in case.data
    assert desk.store.show(case_id)["history"][-1]["actor"] == MOTHER

    # The nurse's yes: refused on her form, in Danish, nothing written.
    before = counts(desk.store.engine)
    said = refused(nurse, HANDOVER, "accept")
    declined = HANDOVER.state_title("declined")
    assert f"«Giv samtykke» kan ikke udføres, når sagen er {declined}. Sagen er afsluttet." in said
    assert nurse_page.locator('[name="sections"][value="health"]').is_checked()  # as she left it
    assert counts(desk.store.engine) == before
    assert desk.store.snapshot(case_id).state == "declined"


def test_the_mother_withdraws_her_consent_and_the_form_is_gone(
    desk_server: DeskServer, new_page: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = desk_server
    case_id = open_handover(desk.store)
    drive(desk.store, case_id, "form_completed")  # the home visit's form filled in 1 March
    now(monkeypatch, "2027-03-01 12:00")
    page = new_page()
    sign_in(page, desk, MOTHER)
    mother = Mouse(page)
    assert SECRET in read_form(page, desk, case_id)

    start_action(mother, desk, case_id, HANDOVER, "withdraw")
    text = finish_action(mother, case_id, HANDOVER, "withdraw", "withdrawn")
    assert SECRET not in text
    case = desk.store.snapshot(case_id)
    assert case.state == "withdrawn" and case.state in HANDOVER.finals
    assert case.data["consent"]["withdrawn"] is True
    # The form's content left the database, not only the page.
    assert SECRET not in str(desk.store.show(case_id))

    # The form can no longer be seen: the page says so and shows nothing of it.
    shown = read_form(page, desk, case_id)
    assert NOT_NOW in shown and SECRET not in page.content()
    # Withdrawn once is final: no button, and its form's address is not there.
    page.goto(f"{desk.url}/sager/{case_id}")
    assert page.get_by_role("link", name=HANDOVER.event_title("withdraw")).count() == 0
    before = counts(desk.store.engine)
    response = page.goto(f"{desk.url}/sager/{case_id}/handling/withdraw")
    assert response is not None and response.status == 404
    # Sent all the same, with her session's token: an event she may never fire is 404; her
    # own, once the case has ended, the rules' refusal in Danish (409), as the nurse's above.
    csrf = page.locator('[name="csrf"]').first.get_attribute("value")
    sent = page.request.post(
        f"{desk.url}/sager/{case_id}/handling/schedule_startup", form={"csrf": str(csrf)}
    )
    assert sent.status == 404
    again = page.request.post(
        f"{desk.url}/sager/{case_id}/handling/withdraw", form={"csrf": str(csrf)}
    )
    assert again.status == 409 and "Sagen er afsluttet." in again.text()
    assert counts(desk.store.engine) == before
