"""A whole samråd on the desk, from sign-in to closed, by the school leader and the PPR
psychologists, in Chromium; every page checked with axe-core."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from desk.views import local
from flows import clock
from machines import COPENHAGEN, WorkingCalendar, get_process
from persistence import AccessRow, MeetingRow, schema_metadata
from persistence.replies import Answer
from tests.conftest import LEADER, PPR, SAMRAAD_CASE, at, drive_to

from .conftest import ADMIN, BROWSER_GROUP, DeskServer
from .helpers import Keyboard, Mouse, accessible, open_action, sign_in, submit

SAMRAAD = get_process("samraad")
PRESENT = [p["key"] for p in SAMRAAD_CASE["participants"] if p["role"] != "coordinator"]

pytestmark = BROWSER_GROUP


def title(event: str) -> str:
    return SAMRAAD.event_title(event)


def counts(engine: Engine) -> dict[str, int]:
    """Rows per table (the access log aside: reading is what it records)."""
    with engine.connect() as conn:
        return {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in schema_metadata().sorted_tables
            if t.name != AccessRow.__tablename__
        }


def open_case(desk: DeskServer) -> int:
    return desk.store.open_case("samraad", SAMRAAD_CASE, clock.now())


def working_day(n: int) -> str:
    """The n-th working day from today, as the date picker's value."""
    today = clock.now().astimezone(COPENHAGEN).date()
    return WorkingCalendar().add_working_days(today, n).isoformat()


def act(user: Mouse, desk: DeskServer, case_id: int, event: str) -> None:
    """From the case page: the event's button, then (after filling in) its submit button."""
    page = user.page
    page.goto(f"{desk.url}/sager/{case_id}")
    accessible(page)
    user.link(title(event))
    page.get_by_role("heading", name=title(event), exact=True).wait_for()
    accessible(page)


def done(user: Mouse, case_id: int, event: str) -> None:
    user.button(title(event))
    user.page.wait_for_url(f"**/sager/{case_id}?udfoert={event}")
    accessible(user.page)


def fill_notes(user: Mouse, prefix: str = "notes") -> None:
    for key in PRESENT:
        user.fill(f'[name="{prefix}.{key}"]', f"Noten fra {key}.")


@pytest.mark.parametrize("way", [Mouse, Keyboard], ids=["mouse", "keyboard-only"])
def test_a_whole_samraad_from_sign_in_to_closed(
    desk_server: DeskServer, new_page: Any, way: type[Mouse]
) -> None:
    desk = desk_server
    case_id = open_case(desk)
    leader_page, ppr_page = new_page(), new_page()
    sign_in(leader_page, desk, LEADER)
    sign_in(ppr_page, desk, PPR)
    leader, ppr = way(leader_page), way(ppr_page)

    # Mine sager: the leader is asked to act now; the psychologist is not yet.
    assert leader_page.get_by_role("heading", name="Kræver handling nu (1)").is_visible()
    assert leader_page.get_by_role("link", name=title("convene")).is_visible()
    assert not ppr_page.get_by_role("heading", name="Kræver handling nu (1)").is_visible()

    act(leader, desk, case_id, "convene")
    done(leader, case_id, "convene")
    assert SAMRAAD.state_title("convened") in leader_page.locator("main").inner_text()

    act(leader, desk, case_id, "schedule")
    leader.fill('[name="start.date"]', working_day(3))
    leader.fill('[name="start.time"]', "09:00")
    done(leader, case_id, "schedule")
    assert desk.store.snapshot(case_id).state == "scheduled"
    meeting = desk.store.snapshot(case_id).meetings[0]
    local_start = meeting.start.astimezone(COPENHAGEN)
    assert (local_start.date().isoformat(), local_start.hour) == (working_day(3), 9)

    act(ppr, desk, case_id, "start_meeting")
    done(ppr, case_id, "start_meeting")

    for round_state in ("round_2", "round_3"):
        act(ppr, desk, case_id, "next_round")
        fill_notes(ppr)
        done(ppr, case_id, "next_round")
        assert desk.store.snapshot(case_id).state == round_state

    act(leader, desk, case_id, "conclude")
    fill_notes(leader)
    leader.fill('[name="decisions.0"]', "Morgenaftale med klasselæreren.")
    leader.fill('[name="follow_up.start.date"]', working_day(20))
    leader.fill('[name="follow_up.start.time"]', "10:00")
    done(leader, case_id, "conclude")

    act(leader, desk, case_id, "send_action_plan")
    leader.choose('[name="items.0.owner"]', "laerer")
    leader.fill('[name="items.0.action"]', "Ringer hjem hver mandag.")
    leader.fill('[name="items.0.due"]', working_day(5))
    done(leader, case_id, "send_action_plan")

    act(leader, desk, case_id, "hold_follow_up")
    leader.check('[name="outcome"][value="close"]')
    done(leader, case_id, "hold_follow_up")
    assert desk.store.snapshot(case_id).state == "closed"

    # The timeline names who did what.
    main = leader_page.locator("main").inner_text()
    assert "Mads Krogh" in main and "Birgitte Holm" in main
    shown = desk.store.show(case_id)
    assert [h["actor"] for h in shown["history"][1:]] == [
        LEADER,
        LEADER,
        PPR,
        PPR,
        PPR,
        LEADER,
        LEADER,
        LEADER,
    ]
    # Every page view of the case was logged.
    with desk.store.engine.connect() as conn:
        reads = conn.execute(
            select(AccessRow.who, func.count())
            .where(AccessRow.case_id == case_id)
            .group_by(AccessRow.who)
        ).all()
    assert dict(reads)[LEADER] >= 10 and dict(reads)[PPR] >= 6

    leader_page.goto(f"{desk.url}/sager")
    assert leader_page.get_by_role("heading", name="Afsluttede sager (1)").is_visible()
    accessible(leader_page)


def test_someone_not_on_the_case_gets_404(desk_server: DeskServer, new_page: Any) -> None:
    desk = desk_server
    case_id = open_case(desk)
    stranger_case = desk.store.open_case(
        "samraad",
        {
            **SAMRAAD_CASE,
            "participants": [
                {
                    "key": "leder",
                    "role": "school_leader",
                    "name": "Anden Leder",
                    "email": "anden@skole.example.dk",
                },
            ],
        },
        clock.now(),
    )
    page = new_page()
    sign_in(page, desk, LEADER)
    response = page.goto(f"{desk.url}/sager/{stranger_case}")
    assert response is not None and response.status == 404
    accessible(page)
    for path in (f"/sager/{stranger_case}/handling/convene", "/sager/999999", "/sager/x"):
        response = page.goto(desk.url + path)
        assert response is not None and response.status == 404
    # The same page for one's own case is there, with no name in the page's title.
    response = page.goto(f"{desk.url}/sager/{case_id}")
    assert response is not None and response.status == 200
    assert page.title() == f"Sag {case_id} – forløb"
    assert response.headers["cache-control"] == "no-store"
    assert "default-src 'self'" in response.headers["content-security-policy"]


def test_the_admin_sees_states_and_deadlines_but_nothing_personal(
    desk_server: DeskServer, new_page: Any
) -> None:
    desk = desk_server
    case_id = open_case(desk)
    page = new_page()
    sign_in(page, desk, ADMIN)
    assert page.get_by_role("link", name=f"Sag {case_id}").is_visible()
    page.goto(f"{desk.url}/sager/{case_id}")
    accessible(page)
    text = page.locator("main").inner_text()
    assert SAMRAAD.state_title("concern") in text
    for personal in ("Ida Æblegaard", LEADER, "Skolen ved Søerne"):
        assert personal not in text


def test_the_case_page_shows_each_answer_the_tally_and_a_proposed_time(
    desk_server: DeskServer, new_page: Any
) -> None:
    desk = desk_server
    case_id = open_case(desk)
    now = clock.now()
    desk.store.fire(case_id, "convene", LEADER, {}, now)
    day = working_day(3)
    start = datetime.combine(date.fromisoformat(day), time(9), COPENHAGEN)
    desk.store.fire(case_id, "schedule", LEADER, {"start": start.isoformat()}, now)
    with desk.store.engine.connect() as conn:
        meeting = conn.execute(select(MeetingRow).where(MeetingRow.case_id == case_id)).one()

    def answer(email: str, partstat: str, method: str = "REPLY", **times: Any) -> None:
        outcome = desk.store.record_reply(
            Answer(
                message_key=f"<{email}-{method}@client>",
                token=meeting.reply_token,
                sender=email,
                method=method,
                uid=meeting.uid,
                sequence=meeting.sequence,
                attendee=email,
                partstat=partstat,
                stamp=now,
                **times,
            ),
            now,
        )
        assert outcome.reason is None, outcome

    answer("jens@skole.example.dk", "ACCEPTED")
    answer("aase@example.dk", "DECLINED")
    answer("signe@ppr.example.dk", "", "COUNTER", start=start + timedelta(hours=4),
           end=start + timedelta(hours=5, minutes=30))  # fmt: skip

    page = new_page()
    sign_in(page, desk, LEADER)
    page.goto(f"{desk.url}/sager/{case_id}")
    accessible(page)
    text = page.locator("main").inner_text()
    assert "Jens Øster (klasselærer): har accepteret" in text
    assert "Åse Æblegaard (forælder): har meldt afbud" in text
    assert "Aylin Demir (skolens socialrådgiver): har ikke svaret" in text
    assert "1 af 7 nødvendige deltagere har accepteret" in text
    proposed = local(start + timedelta(hours=4))  # "9. dec. 2026 kl. 13:00"
    assert f"Signe Friis (PPR-psykolog (referent)) foreslår {proposed}–14:30" in text

    # The operator sees the meeting, not who answered what.
    admin = new_page()
    sign_in(admin, desk, ADMIN)
    admin.goto(f"{desk.url}/sager/{case_id}")
    accessible(admin)
    shown = admin.locator("main").inner_text()
    assert "har accepteret" not in shown and "foreslår" not in shown


def test_a_post_without_its_csrf_token_is_refused(desk_server: DeskServer, new_page: Any) -> None:
    desk = desk_server
    case_id = open_case(desk)
    page = new_page()
    sign_in(page, desk, LEADER)
    before = counts(desk.store.engine)
    open_action(page, desk, case_id, title("convene"))
    page.locator('main [name="csrf"]').evaluate("input => input.remove()")
    submit(page, title("convene"))
    assert "Formularen blev afvist" in page.locator("body").inner_text()
    assert desk.store.snapshot(case_id).state == "concern"
    # A forged token is refused just the same.
    answer = page.request.post(
        f"{desk.url}/sager/{case_id}/handling/convene", form={"csrf": "forged"}
    )
    assert answer.status == 403
    assert counts(desk.store.engine) == before


def test_a_used_or_expired_link_is_refused(
    desk_server: DeskServer, new_page: Any, monkeypatch: Any
) -> None:
    desk = desk_server
    open_case(desk)
    page = new_page()
    sign_in(page, desk, LEADER)
    used = desk.link_for(LEADER)
    other = new_page()
    other.goto(used)
    other.get_by_role("button", name="Log ind").click()
    assert "allerede brugt eller udløbet" in other.locator("main").inner_text()
    accessible(other)
    assert other.url.endswith("/log-ind/link")

    # A fresh link, used after its 15 minutes: refused.
    other.goto(f"{desk.url}/log-ind")
    other.get_by_label("E-mailadresse").fill(LEADER)
    other.get_by_role("button", name="Send mig et link").click()
    other.get_by_role("heading", name="Tjek din mail").wait_for()
    late = (clock.now() + timedelta(minutes=16)).isoformat()
    monkeypatch.setenv("FORLOEB_NOW", late)
    other.goto(desk.link_for(LEADER))
    other.get_by_role("button", name="Log ind").click()
    assert "allerede brugt eller udløbet" in other.locator("main").inner_text()
    assert other.goto(f"{desk.url}/sager").url.endswith("/log-ind")  # not signed in


def test_bad_input_comes_back_in_danish_with_nothing_written(
    desk_server: DeskServer, new_page: Any
) -> None:
    desk = desk_server
    case_id = open_case(desk)
    page = new_page()
    sign_in(page, desk, LEADER)
    open_action(page, desk, case_id, title("convene"))
    submit(page, title("convene"))
    page.wait_for_url(f"**/sager/{case_id}?udfoert=convene")
    before = counts(desk.store.engine)

    # No time given: the form says so, on the field, in Danish.
    open_action(page, desk, case_id, title("schedule"))
    submit(page, title("schedule"))
    assert "Skriv både dato og klokkeslæt." in page.locator("main").inner_text() or (
        "Skal udfyldes." in page.locator("main").inner_text()
    )
    accessible(page)
    # A time in the past: the rule refuses it, in Danish, on the same form.
    page.locator('[name="start.date"]').fill("2020-01-06")
    page.locator('[name="start.time"]').fill("09:00")
    submit(page, title("schedule"))
    assert "Mødetidspunktet ligger i fortiden" in page.locator("main").inner_text()
    assert page.locator('[name="start.date"]').input_value() == "2020-01-06"  # kept
    accessible(page)
    # Too far out without a reason: the 7-working-day rule, in Danish.
    page.locator('[name="start.date"]').fill(working_day(12))
    submit(page, title("schedule"))
    assert "7 arbejdsdage" in page.locator("main").inner_text()
    # A minutes value that is no number.
    page.locator('[name="start.date"]').fill(working_day(3))
    page.locator('[name="minutes"]').fill("5")
    submit(page, title("schedule"))
    assert "Skal være mindst 15." in page.locator("main").inner_text()
    accessible(page)
    assert counts(desk.store.engine) == before
    assert desk.store.snapshot(case_id).state == "convened"


def test_an_action_plan_gets_as_many_rows_as_it_needs(
    desk_server: DeskServer, new_page: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = desk_server
    case_id = open_case(desk)
    drive_to(desk.store, case_id, "concluded")
    monkeypatch.setenv("FORLOEB_NOW", at("2027-01-05 12:00").isoformat())
    page = new_page()
    sign_in(page, desk, LEADER)
    leader = Mouse(page)
    plan = [
        (PRESENT[i % len(PRESENT)], f"Handling nummer {i + 1}.", f"2027-01-{11 + i}")
        for i in range(5)
    ]

    def fill_row(i: int) -> None:
        owner, action, due = plan[i]
        leader.choose(f'[name="items.{i}.owner"]', owner)
        leader.fill(f'[name="items.{i}.action"]', action)
        leader.fill(f'[name="items.{i}.due"]', due)

    act(leader, desk, case_id, "send_action_plan")
    assert page.locator('[name="items.3.action"]').count() == 0  # three rows at first
    for i in range(3):
        fill_row(i)
    before = counts(desk.store.engine)

    # More rows: the same form, as typed, with blank rows after; nothing is stored.
    leader.button("Flere rækker")
    page.locator('[name="items.5.action"]').wait_for()
    accessible(page)
    assert page.get_by_role("heading", name=title("send_action_plan"), exact=True).is_visible()
    for i in range(3):
        owner, action, due = plan[i]
        assert page.locator(f'[name="items.{i}.owner"]').input_value() == owner
        assert page.locator(f'[name="items.{i}.action"]').input_value() == action
        assert page.locator(f'[name="items.{i}.due"]').input_value() == due
    assert page.locator('[name="items.3.action"]').input_value() == ""
    # Each new row's fields have their labels, tied to their inputs.
    for name in ("owner", "action", "due"):
        assert page.locator(f'label[for="f-items-5-{name}"]').count() == 1
    assert counts(desk.store.engine) == before
    assert desk.store.snapshot(case_id).state == "concluded"

    fill_row(3)
    fill_row(4)
    done(leader, case_id, "send_action_plan")  # the form's token still holds
    stored = desk.store.show(case_id)["data"]["action_plan"]
    assert [(i["owner"], i["action"], i["due"]) for i in stored] == plan
