"""consultation (issue 14): social workers in daycare. The fixed monthly meeting as one
monthly series with only counts and topics recorded; the dialogue meeting only after the
parents' consent, cancelled when it is withdrawn; the parent's booking within five working
days; an underretning told to the social worker the same day. On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from machines import GuardRejected, InvalidInput, Series, TransitionNotAllowed, get_process
from machines.consultation import read_records
from machines.recurring import stored_occurrences
from persistence import CaseStore

from .cli_helpers import dump
from .conftest import at

WORKER = "sara@familie.example.dk"
LEADER = "leder@solsikken.example.dk"
STAFF = "ole@solsikken.example.dk"
PARENT = "mor@example.dk"
PPR = "ppr@example.dk"

BASE: dict[str, Any] = {
    "title": "Børnehuset Solsikken",
    "location": "Børnehuset Solsikken, personalerummet",
    "daycare": "dt-solsikken",
}
WORKER_P = {"key": "sr", "role": "social_worker", "name": "Sara Socialrådgiver", "email": WORKER}
LEADER_P = {"key": "leder", "role": "leader", "name": "Lone Leder", "email": LEADER}
STAFF_P = {"key": "ole", "role": "staff", "name": "Ole Olsen", "email": STAFF}
PARENT_P = {"key": "mor", "role": "parent", "name": "Mette Mor", "email": PARENT}
PPR_P = {"key": "ppr", "role": "ppr", "name": "Per Psykolog", "email": PPR}

MONTHLY = {**BASE, "kind": "monthly", "participants": [WORKER_P, LEADER_P]}
DIALOGUE = {
    **BASE,
    "kind": "dialogue",
    "child_ref": "barn-k7",
    "participants": [WORKER_P, LEADER_P, STAFF_P, PARENT_P, PPR_P],
}
# Monday 1 March 2027, 09:00: the parent asks; five working days later is Monday 8 March.
BOOKING = {
    **BASE,
    "kind": "booking",
    "meeting_form": "phone",
    "requested_at": "2027-03-01T09:00:00+01:00",
    "participants": [WORKER_P, PARENT_P],
}
# The second Tuesday of each month at 09:00, January–June 2027; 13 April is a closure day.
PLAN = {
    "first": "2027-01-12T09:00:00+01:00",
    "until": "2027-06-30",
    "closure_days": ["2027-04-13"],
}
OPENED = at("2027-01-04 09:00")


def monthly(store: CaseStore) -> int:
    case_id = store.open_case("consultation", MONTHLY, OPENED)
    store.fire(case_id, "plan_monthly", WORKER, PLAN, at("2027-01-04 10:00"))
    return case_id


def outbox(store: CaseStore, case_id: int) -> list[tuple[str, str]]:
    return [(o["template"], o["to"]) for o in store.show(case_id)["outbox"]]


def test_the_definition_is_valid_and_titled_in_danish() -> None:
    process = get_process("consultation")
    assert process.title == "Socialrådgiver i dagtilbud"
    assert process.state_title("consented") == "Forældrene har givet samtykke"
    assert process.event_title("record_notification") == "Registrér underretning"


def test_the_case_file_fits_its_kind(store: CaseStore, db_url: str) -> None:
    with pytest.raises(InvalidInput, match="anonymously: remove 'child_ref'"):
        store.open_case("consultation", {**MONTHLY, "child_ref": "barn-k7"}, OPENED)
    with pytest.raises(InvalidInput, match="about one child: give 'child_ref'"):
        store.open_case("consultation", {**DIALOGUE, "child_ref": None}, OPENED)
    with pytest.raises(InvalidInput, match="'meeting_form'"):
        store.open_case("consultation", {**BOOKING, "meeting_form": None}, OPENED)
    assert dump(db_url)["cases"] == []


# ------------------------------------------------------------------ a. the monthly meeting


def test_monthly_meetings_are_one_series_on_the_same_weekday_and_week(store: CaseStore) -> None:
    case_id = monthly(store)
    snapshot = store.snapshot(case_id)
    (meeting,) = snapshot.meetings
    series = Series.from_json(meeting.series or {})
    assert series.rule.freq == "MONTHLY" and series.rule.byday == (2, 1)  # BYDAY=2TU
    starts = [o.start.date().isoformat() for o in stored_occurrences(snapshot)]
    # The second Tuesdays, without the closure day 13 April.
    assert starts == ["2027-01-12", "2027-02-09", "2027-03-09", "2027-05-11", "2027-06-08"]
    assert all(o.start.hour == 9 for o in stored_occurrences(snapshot))  # across DST
    assert sorted(outbox(store, case_id)) == [("invitation", LEADER), ("invitation", WORKER)]


def test_the_monthly_series_is_sent_with_byday_and_expands_alike() -> None:
    import recurring_ical_events
    from icalendar import Calendar

    from machines.consultation import PlanMonthlyIn, monthly_series
    from machines.workdays import WorkingCalendar
    from notifications import Attendee, CalendarUser, MeetingInvite, build_invite, recurrence_of

    series = monthly_series(PlanMonthlyIn.model_validate(PLAN), WorkingCalendar())
    invite = MeetingInvite(
        uid="m@forloeb.example",
        sequence=0,
        start=series.start,
        end=series.end,
        summary="Månedligt møde",
        location="Solsikken",
        organizer=CalendarUser("forloeb@example.dk", "Forløb"),
        attendees=(Attendee(WORKER, "Sara"),),
        recurrence=recurrence_of(series),
        exdates=tuple(sorted(series.exdates)),
    )
    ics = build_invite(invite, at("2027-01-04 10:00"))
    assert b"BYDAY=2TU" in ics
    expanded = recurring_ical_events.of(Calendar.from_ical(ics)).between(
        at("2027-01-01 00:00"), at("2027-12-31 00:00")
    )
    assert sorted(e["DTSTART"].dt for e in expanded) == [o.start for o in series.held_or_planned()]


def test_the_record_holds_only_counts_and_topics(store: CaseStore, db_url: str) -> None:
    case_id = monthly(store)
    session = "2027-01-12T09:00:00+01:00"
    after = at("2027-01-12 12:00")
    before = dump(db_url)
    bad: list[tuple[dict[str, Any], str]] = [
        (
            {"session": session, "children": 2, "families": 1, "note": "Emil slår"},
            "anonymous: its record holds only 'children', 'families'",
        ),
        ({"session": session, "children": -1, "families": 1}, "children"),
        ({"session": session, "children": 51, "families": 1}, "children"),
        ({"session": session, "children": 1, "families": 1, "topics": ["Emil"]}, "fixed list"),
        ({"session": session, "children": 1, "families": 1, "topics": ["sprog", "sprog"]}, "twice"),
        ({"session": "2027-01-13T09:00:00+01:00", "children": 1, "families": 1}, "nothing is"),
    ]
    for payload, message in bad:
        with pytest.raises(InvalidInput, match=message) as refused:
            store.fire(case_id, "record_meeting", WORKER, payload, after)
        assert "\n" not in str(refused.value) and "Emil" not in str(refused.value)
    with pytest.raises(GuardRejected, match="has not been held yet"):
        store.fire(
            case_id,
            "record_meeting",
            WORKER,
            {"session": session, "children": 1, "families": 1},
            at("2027-01-12 08:00"),
        )
    assert dump(db_url) == before

    record = {"session": session, "children": 3, "families": 2, "topics": ["sprog", "trivsel"]}
    store.fire(case_id, "record_meeting", WORKER, record, after)
    assert store.snapshot(case_id).data["records"] == {
        session: {"children": 3, "families": 2, "topics": ["sprog", "trivsel"]}
    }
    assert read_records(store.snapshot(case_id), LEADER) == {
        session: "børn: 3, familier: 2, emner: sprog, trivsel"
    }


def test_one_monthly_meeting_moves_on_its_own(store: CaseStore) -> None:
    case_id = monthly(store)
    store.fire(
        case_id,
        "move_meeting",
        LEADER,
        {"session": "2027-03-09T09:00:00+01:00", "start": "2027-03-10T09:00:00+01:00"},
        at("2027-02-01 10:00"),
    )
    starts = [o.start.date().isoformat() for o in stored_occurrences(store.snapshot(case_id))]
    assert "2027-03-10" in starts and "2027-03-09" not in starts
    assert [t for t, _ in outbox(store, case_id)][-2:] == ["update", "update"]


# ------------------------------------------------------------------ b. the dialogue meeting


def test_the_social_worker_takes_part_only_after_consent(store: CaseStore) -> None:
    case_id = store.open_case("consultation", DIALOGUE, OPENED)
    meeting = {"start": "2027-01-20T13:00:00+01:00"}
    with pytest.raises(TransitionNotAllowed):
        store.fire(case_id, "schedule_dialogue", LEADER, meeting, at("2027-01-05 10:00"))
    store.fire(case_id, "give_consent", PARENT, {"scope": ["deltagelse"]}, at("2027-01-05 10:00"))
    consent = store.snapshot(case_id).data["consent"]
    assert consent == {"by": PARENT, "at": "2027-01-05T10:00:00+01:00", "scope": ["deltagelse"]}
    store.fire(case_id, "schedule_dialogue", LEADER, meeting, at("2027-01-05 11:00"))
    invited = {to for template, to in outbox(store, case_id) if template == "invitation"}
    assert invited == {WORKER, LEADER, STAFF, PARENT}  # PPR: not in the consent's scope


def test_withdrawing_consent_cancels_the_meeting_for_everyone(store: CaseStore) -> None:
    case_id = store.open_case("consultation", DIALOGUE, OPENED)
    store.fire(
        case_id, "give_consent", LEADER, {"scope": ["deltagelse", "ppr"]}, at("2027-01-05 10:00")
    )
    store.fire(
        case_id,
        "schedule_dialogue",
        WORKER,
        {"start": "2027-01-20T13:00:00+01:00"},
        at("2027-01-05 11:00"),
    )
    store.fire(case_id, "withdraw_consent", PARENT, {}, at("2027-01-06 09:00"))
    shown = store.show(case_id)
    assert shown["state"] == "withdrawn"
    cancelled = {to for template, to in outbox(store, case_id) if template == "cancellation"}
    assert cancelled == {WORKER, LEADER, STAFF, PARENT, PPR}
    consent = store.snapshot(case_id).data["consent"]
    assert consent["withdrawn"] is True and "scope" not in consent


# ------------------------------------------------------------------ c. the parent's booking


def test_a_parent_books_one_of_the_proposed_slots(store: CaseStore, db_url: str) -> None:
    case_id = store.open_case("consultation", BOOKING, at("2027-03-01 09:00"))
    now = at("2027-03-01 10:00")
    before = dump(db_url)
    for slots, message in [
        (["2027-03-09T09:00:00+01:00"], "after the deadline"),
        (["2027-03-02T07:00:00+01:00"], "outside working hours"),
        (["2027-03-02T15:00:00+01:00"], "outside working hours"),  # would end 15:45
        (["2027-03-06T10:00:00+01:00"], "not a working day"),
        (["2027-02-26T10:00:00+01:00"], "in the past"),
    ]:
        with pytest.raises(GuardRejected, match=message):
            store.fire(case_id, "propose_slots", WORKER, {"slots": slots}, now)
    assert dump(db_url) == before

    slots = ["2027-03-03T10:00:00+01:00", "2027-03-08T14:00:00+01:00"]
    store.fire(case_id, "propose_slots", WORKER, {"slots": slots}, now)
    with pytest.raises(InvalidInput, match="was not proposed"):
        store.fire(case_id, "pick_slot", WORKER, {"start": "2027-03-04T10:00:00+01:00"}, now)
    store.fire(case_id, "pick_slot", WORKER, {"start": slots[0]}, now)
    shown = store.show(case_id)
    assert shown["state"] == "booked"
    assert sorted(outbox(store, case_id)) == [("invitation", PARENT), ("invitation", WORKER)]
    assert shown["meetings"][0]["location"] == "Telefonisk rådgivning"


def test_no_free_slot_tells_the_social_worker(store: CaseStore) -> None:
    case_id = store.open_case("consultation", BOOKING, at("2027-03-01 09:00"))
    store.fire(case_id, "report_no_slot", WORKER, {}, at("2027-03-01 10:00"))
    assert outbox(store, case_id) == [("escalation", WORKER)]
    # The deadline passing without a booked meeting tells the social worker again.
    timers = [t for t in store.show(case_id)["timers"] if t["status"] == "pending"]
    assert [t["event"] for t in timers] == ["booking_overdue"]
    store.sweep(at("2027-03-09 00:30"))
    assert outbox(store, case_id) == [("escalation", WORKER), ("escalation", WORKER)]


# ------------------------------------------------------------------ d. underretning


def test_an_underretning_is_told_to_the_social_worker_without_the_child(
    store: CaseStore,
) -> None:
    from notifications import Notification, Organizer, compose
    from notifications.messages import RenderCache

    case_id = store.open_case("consultation", DIALOGUE, OPENED)
    sent = "2027-01-05T09:30:00+01:00"
    store.fire(case_id, "record_notification", LEADER, {"sent_at": sent}, at("2027-01-05 10:00"))
    assert outbox(store, case_id) == [("reminder", WORKER)]
    snapshot = store.snapshot(case_id)
    assert snapshot.data["notifications"] == [{"at": sent, "by": LEADER}]
    worker = snapshot.participant("sr")
    assert worker is not None
    composed = compose(
        Notification(1, "reminder", "underretning", snapshot, worker, at("2027-01-05 10:00")),
        Organizer.from_env({}),
        at("2027-01-05 10:00"),
        RenderCache(),
    )
    assert "underretning" in composed.subject.lower()
    assert "barn-k7" not in composed.subject and "Mette" not in composed.subject
    assert composed.calendar is None
    with pytest.raises(InvalidInput, match="not permitted"):
        store.fire(
            case_id,
            "record_notification",
            LEADER,
            {"sent_at": sent, "text": "hvad der skete"},
            at("2027-01-05 10:00"),
        )


COVER = {
    "session": "2027-02-09T09:00:00+01:00",
    "start": "2027-02-09T09:00:00+01:00",
    "worker": {"name": "Sune Socialrådgiver", "email": "sune@familie.example.dk"},
}


def test_another_social_worker_covers_one_monthly_meeting(store: CaseStore, db_url: str) -> None:
    case_id = monthly(store)
    store.fire(case_id, "cover_meeting", LEADER, COVER, at("2027-01-05 09:00"))
    case = store.snapshot(case_id)
    (sune,) = case.with_role("substitute")
    assert sune.email == COVER["worker"]["email"]
    (series,) = [Series.from_json(m.series) for m in case.meetings if m.series]
    override = series.overrides[at("2027-02-09 09:00")]
    assert override.attendees == (sune.key, "leder") and override.sequence == 1
    assert outbox(store, case_id)[-3:] == [
        ("update", COVER["worker"]["email"]),
        ("update", LEADER),
        ("cancellation", WORKER),
    ]
    # The same worker again (another month) is the same participant; they record it.
    store.fire(
        case_id,
        "cover_meeting",
        LEADER,
        {**COVER, "session": "2027-03-09T09:00:00+01:00", "start": "2027-03-09T11:00:00+01:00"},
        at("2027-01-05 09:10"),
    )
    assert len(store.snapshot(case_id).with_role("substitute")) == 1
    record = {"session": "2027-02-09T09:00:00+01:00", "children": 2, "families": 1}
    store.fire(case_id, "record_meeting", COVER["worker"]["email"], record, at("2027-02-09 12:00"))
    # Back to the fixed social worker: the series' attendees again, the cover is told.
    back = {**COVER, "session": "2027-03-09T09:00:00+01:00", "start": "2027-03-09T09:00:00+01:00"}
    back["worker"] = {"name": "Sara Socialrådgiver", "email": WORKER}
    store.fire(case_id, "cover_meeting", LEADER, back, at("2027-02-10 09:00"))
    case = store.snapshot(case_id)
    (series,) = [Series.from_json(m.series) for m in case.meetings if m.series]
    assert series.overrides[at("2027-03-09 09:00")].attendees is None
    assert outbox(store, case_id)[-3:] == [
        ("update", WORKER),
        ("update", LEADER),
        ("cancellation", COVER["worker"]["email"]),
    ]


def test_a_meeting_already_begun_is_not_covered(store: CaseStore, db_url: str) -> None:
    case_id = monthly(store)
    before = dump(db_url)
    with pytest.raises(GuardRejected, match="has begun"):
        store.fire(case_id, "cover_meeting", LEADER, COVER, at("2027-02-09 09:30"))
    with pytest.raises(InvalidInput, match="nothing is planned"):
        store.fire(
            case_id, "cover_meeting", LEADER, {**COVER, "session": "2027-02-10T09:00:00+01:00"},
            at("2027-01-05 09:00"),
        )  # fmt: skip
    assert dump(db_url) == before
