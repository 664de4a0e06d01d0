"""A series on the desk: its sessions are chosen from a list, not typed as a date and time,
and its answers are on the case page — who declined one session alone, with its date, as
long as that session is as they answered it."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from flows import demo
from persistence import replies
from persistence.models import MeetingRow
from tests.conftest import at
from tests.notifications.test_replies import DAYCARE_LEADER, MONTHLY_CASE, PLAN, WORKER

from .conftest import DeskServer
from .helpers import signed_in

FEBRUARY = at("2027-02-09 09:00")


def _monthly_meetings(desk: DeskServer) -> int:
    """A daycare's monthly meetings with the social worker, January to June 2027."""
    case_id = desk.store.open_case("consultation", MONTHLY_CASE, at("2027-01-04 09:00"))
    desk.store.fire(case_id, "plan_monthly", WORKER, PLAN, at("2027-01-04 10:00"))
    return case_id


def _decline_one_session(desk: DeskServer, case_id: int) -> None:
    with desk.store.engine.connect() as conn:
        uid, token = conn.execute(
            select(MeetingRow.uid, MeetingRow.reply_token).where(MeetingRow.case_id == case_id)
        ).one()
    answer = replies.Answer(
        message_key="<one-session@client>",
        token=token,
        sender=DAYCARE_LEADER,
        method="REPLY",
        uid=uid,
        sequence=0,
        attendee=DAYCARE_LEADER,
        partstat="DECLINED",
        stamp=at("2027-01-05 10:00"),
        recurrence_id=FEBRUARY,
    )
    outcome = desk.store.record_reply(answer, at("2027-01-05 12:00"))
    assert outcome.outcome == "applied", outcome


def test_a_declined_session_is_shown_with_its_date(
    desk_server: DeskServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = desk_server
    case_id = _monthly_meetings(desk)
    monkeypatch.setenv("FORLOEB_NOW", at("2027-01-06 09:00").isoformat())
    cookies, _ = signed_in(desk, WORKER)
    with httpx.Client(base_url=desk.url, cookies=cookies, timeout=60) as client:
        before = client.get(f"/sager/{case_id}").text
        _decline_one_session(desk, case_id)
        after = client.get(f"/sager/{case_id}").text
    assert "Svar til enkelte gange" not in before
    assert "Svar til enkelte gange" in after
    assert "Lone Leder (daginstitutionsleder), 9. feb. 2027 kl. 09:00: har meldt afbud" in after

    # Moved, the session is no longer as she answered it: her answer no longer stands.
    desk.store.fire(
        case_id,
        "move_meeting",
        WORKER,
        {"session": FEBRUARY.isoformat(), "start": at("2027-02-10 09:00").isoformat()},
        at("2027-01-06 10:00"),
    )
    monkeypatch.setenv("FORLOEB_NOW", at("2027-01-06 11:00").isoformat())
    with httpx.Client(base_url=desk.url, cookies=cookies, timeout=60) as client:
        moved = client.get(f"/sager/{case_id}").text
    assert "Svar til enkelte gange" not in moved


def test_a_session_is_chosen_from_the_series_and_a_moved_one_says_so(
    desk_server: DeskServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = desk_server
    case_id = _monthly_meetings(desk)
    moved = {"session": FEBRUARY.isoformat(), "start": at("2027-02-10 09:00").isoformat()}
    desk.store.fire(case_id, "move_meeting", WORKER, moved, at("2027-01-04 11:00"))
    monkeypatch.setenv("FORLOEB_NOW", at("2027-02-10 11:00").isoformat())
    cookies, csrf = signed_in(desk, WORKER)
    with httpx.Client(base_url=desk.url, cookies=cookies, timeout=60) as client:
        form = client.get(f"/sager/{case_id}/handling/record_meeting").text
        # A list of the sessions, by their time now; the value is the time the rule gave.
        assert '<select class="form-select" id="f-session" name="session"' in form
        assert 'name="session.date"' not in form
        assert (
            f'<option value="{FEBRUARY.isoformat()}">10. feb. 2027 kl. 09:00 '
            "(flyttet fra 9. feb. 2027 kl. 09:00)</option>"
        ) in form
        answer = client.post(
            f"/sager/{case_id}/handling/record_meeting",
            data={"csrf": csrf, "session": FEBRUARY.isoformat(), "children": "4", "families": "3"},
        )
    assert answer.status_code == 303, answer.text[:300]
    records = desk.store.snapshot(case_id).data["records"]
    assert list(records) == [FEBRUARY.isoformat()]


def test_a_note_is_written_for_a_child_and_a_session_chosen_from_the_group(
    desk_server: DeskServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = desk_server
    pedagogue = demo.PEDAGOGUE
    case_id = desk.store.open_case(
        "learning_group", demo.LEARNING_GROUP_CASE, at("2027-01-04 09:00")
    )
    plan = {"first": "2027-01-11T10:00:00+01:00", "weeks": 12, "closure_days": ["2027-02-15"]}
    desk.store.fire(case_id, "plan_sessions", pedagogue, plan, at("2027-01-04 10:00"))
    monkeypatch.setenv("FORLOEB_NOW", at("2027-01-11 11:00").isoformat())
    first = at("2027-01-11 10:00").isoformat()
    cookies, csrf = signed_in(desk, pedagogue)
    with httpx.Client(base_url=desk.url, cookies=cookies, timeout=60) as client:
        form = client.get(f"/sager/{case_id}/handling/write_note").text
        # The group's children and the development wheel's areas, nothing to type but notes.
        for child in demo.LEARNING_GROUP_CASE["children"]:
            assert f'<option value="{child}">{child}</option>' in form
        assert '<label class="form-label" for="f-wheel-sociale_kompetencer">' in form
        note = {"session": first, "child": "barn-demo-b", "wheel.leg": "Venter på sin tur"}
        answer = client.post(f"/sager/{case_id}/handling/write_note", data={"csrf": csrf, **note})
    assert answer.status_code == 303, answer.text[:300]
    notes = desk.store.snapshot(case_id).data["notes"]
    assert notes == {first: {"barn-demo-b": {"leg": "Venter på sin tur"}}}
