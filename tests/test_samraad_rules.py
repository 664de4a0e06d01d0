"""The samråd rules of DOMAIN.md §1, one test each, run against the real case store."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from machines import GuardRejected, InvalidInput, NotPermitted, TransitionNotAllowed
from persistence import CaseStore

from .conftest import COORDINATOR, LEADER, PPR, SAMRAAD_CASE, at, drive_to, notes, open_samraad

TEACHER = "jens@skole.example.dk"

# (state, event, actor) → the state after, or the refusal raised. Inputs are the happy ones.
TABLE: list[tuple[str, str, str, str | type[Exception]]] = [
    ("concern", "convene", LEADER, "convened"),
    ("concern", "convene", COORDINATOR, "convened"),
    ("concern", "convene", TEACHER, NotPermitted),
    ("concern", "dismiss", LEADER, "dismissed"),
    ("concern", "schedule", LEADER, TransitionNotAllowed),
    ("convened", "schedule", LEADER, "scheduled"),
    ("convened", "schedule", PPR, NotPermitted),
    ("convened", "start_meeting", PPR, TransitionNotAllowed),
    ("convened", "dismiss", LEADER, TransitionNotAllowed),
    ("scheduled", "reschedule", LEADER, "scheduled"),
    ("scheduled", "cancel", COORDINATOR, "cancelled"),
    ("scheduled", "start_meeting", PPR, "round_1"),
    ("scheduled", "start_meeting", LEADER, "round_1"),
    ("scheduled", "start_meeting", TEACHER, NotPermitted),
    ("scheduled", "next_round", PPR, TransitionNotAllowed),
    ("round_1", "next_round", PPR, "round_2"),
    ("round_1", "conclude", LEADER, TransitionNotAllowed),
    ("round_2", "next_round", "signe@ppr.example.dk", "round_3"),
    ("round_3", "conclude", LEADER, "concluded"),
    ("round_3", "conclude", PPR, NotPermitted),
    ("round_3", "next_round", PPR, TransitionNotAllowed),
    ("concluded", "send_action_plan", LEADER, "follow_up_pending"),
    ("concluded", "send_action_plan", PPR, NotPermitted),
    ("follow_up_pending", "hold_follow_up", LEADER, "closed"),
    ("closed", "convene", LEADER, TransitionNotAllowed),
    ("convened", "deadline_passed", LEADER, NotPermitted),  # timer events: the sweep only
]

INPUTS: dict[str, dict[str, Any]] = {
    "dismiss": {"reason": "absence explained by hospital stay"},
    "schedule": {"start": "2027-01-04T09:00:00+01:00"},
    "reschedule": {"start": "2027-01-05T13:00:00+01:00"},
    "cancel": {"reason": "the family moved"},
    "next_round": {"notes": notes()},
    "conclude": {
        "notes": notes(),
        "decisions": ["morning agreement"],
        "follow_up": {"start": "2027-02-01T09:00:00+01:00"},
    },
    "send_action_plan": {"items": [{"owner": "laerer", "action": "call", "due": "2027-01-08"}]},
    "hold_follow_up": {"outcome": "close"},
}


@pytest.mark.parametrize(("state", "event", "actor", "expected"), TABLE)
def test_transition_table(
    store: CaseStore, state: str, event: str, actor: str, expected: str | type[Exception]
) -> None:
    case_id = open_samraad(store)
    drive_to(store, case_id, state)
    assert store.snapshot(case_id).state == state
    now = at("2027-01-04 09:00") if state != "concern" else at("2026-12-21 09:00")
    if state in ("convened", "concern"):
        now = at("2026-12-22 09:00")
    # History is in order: an event happens after the case's last one.
    last = datetime.fromisoformat(store.show(case_id)["history"][-1]["at"])
    now = max(now, last + timedelta(minutes=5))
    if isinstance(expected, str):
        decision = store.fire(case_id, event, actor, INPUTS.get(event, {}), now)
        assert decision.dest == expected
        assert store.snapshot(case_id).state == expected
    else:
        before = store.show(case_id)
        with pytest.raises(expected):
            store.fire(case_id, event, actor, INPUTS.get(event, {}), now)
        assert store.show(case_id) == before  # a refusal writes nothing


def test_wrong_state_refusal_names_the_events_allowed_now(store: CaseStore) -> None:
    case_id = open_samraad(store)
    with pytest.raises(TransitionNotAllowed) as refusal:
        store.fire(case_id, "schedule", LEADER, INPUTS["schedule"], at("2026-12-21 09:00"))
    assert "events allowed now: add_participant, convene, dismiss" in str(refusal.value)


def test_permission_refusal_names_the_roles_that_may(store: CaseStore) -> None:
    case_id = open_samraad(store)
    with pytest.raises(NotPermitted, match="coordinator or school_leader"):
        store.fire(case_id, "convene", TEACHER, {}, at("2026-12-21 09:00"))


def test_rule_1_the_meeting_must_start_within_7_working_days(store: CaseStore) -> None:
    case_id = open_samraad(store)
    store.fire(case_id, "convene", LEADER, {}, at("2026-12-21 09:00"))
    late = {"start": "2027-01-06T09:00:00+01:00"}
    with pytest.raises(GuardRejected, match="must start by 2027-01-05"):
        store.fire(case_id, "schedule", LEADER, late, at("2026-12-22 09:00"))
    in_time = {"start": "2027-01-05T14:00:00+01:00"}
    assert (
        store.fire(case_id, "schedule", LEADER, in_time, at("2026-12-22 09:00")).dest == "scheduled"
    )


def test_rule_1_a_later_meeting_needs_a_reason_which_is_recorded(store: CaseStore) -> None:
    case_id = open_samraad(store)
    store.fire(case_id, "convene", LEADER, {}, at("2026-12-21 09:00"))
    late = {"start": "2027-01-06T09:00:00+01:00", "reason": "PPR ill over Christmas"}
    store.fire(case_id, "schedule", LEADER, late, at("2026-12-22 09:00"))
    last = store.show(case_id)["history"][-1]
    assert last["event"] == "schedule"
    assert last["details"] == {"late_reason": "PPR ill over Christmas"}


def test_rule_1_deadline_passed_moves_to_overdue_and_alerts_the_coordinator(
    store: CaseStore,
) -> None:
    case_id = open_samraad(store)
    store.fire(case_id, "convene", LEADER, {}, at("2026-12-21 09:00"))
    assert store.sweep(at("2027-01-05 23:00")).fired == {"samraad/deadline_warning": 1}
    assert store.snapshot(case_id).state == "convened"
    report = store.sweep(at("2027-01-06 00:00"))
    assert report.fired == {"samraad/deadline_passed": 1}
    shown = store.show(case_id)
    assert shown["state"] == "overdue"
    assert [(o["template"], o["to"]) for o in shown["outbox"]][-1] == ("escalation", COORDINATOR)
    # From overdue the leader can still schedule, with a reason.
    with pytest.raises(GuardRejected, match="give a 'reason'"):
        store.fire(
            case_id,
            "schedule",
            LEADER,
            {"start": "2027-01-08T09:00:00+01:00"},
            at("2027-01-06 09:00"),
        )
    ok = {"start": "2027-01-08T09:00:00+01:00", "reason": "parents abroad"}
    assert store.fire(case_id, "schedule", LEADER, ok, at("2027-01-06 09:00")).dest == "scheduled"


def test_rule_1_the_leader_is_warned_two_working_days_before_the_deadline(store: CaseStore) -> None:
    case_id = open_samraad(store)
    store.fire(case_id, "convene", LEADER, {}, at("2026-12-21 09:00"))
    assert store.sweep(at("2026-12-30 07:59")).total == 0
    assert store.sweep(at("2026-12-30 08:00")).fired == {"samraad/deadline_warning": 1}
    outbox = store.show(case_id)["outbox"]
    assert [(o["template"], o["to"]) for o in outbox] == [("deadline_warning", LEADER)]


def test_all_required_roles_must_be_on_the_case_before_schedule(store: CaseStore) -> None:
    without = [
        p for p in SAMRAAD_CASE["participants"] if p["role"] not in ("teacher", "ppr_referent")
    ]
    case_id = open_samraad(store, participants=without)
    store.fire(case_id, "convene", LEADER, {}, at("2026-12-21 09:00"))
    with pytest.raises(GuardRejected, match="needs teacher, ppr_referent"):
        store.fire(case_id, "schedule", LEADER, INPUTS["schedule"], at("2026-12-22 09:00"))
    for key, role in (("laerer", "teacher"), ("ppr-r", "ppr_referent")):
        person = {"key": key, "role": role, "name": f"Ny {role}", "email": f"{key}@example.dk"}
        store.fire(case_id, "add_participant", LEADER, person, at("2026-12-22 09:00"))
    assert (
        store.fire(case_id, "schedule", LEADER, INPUTS["schedule"], at("2026-12-22 09:05")).dest
        == "scheduled"
    )


def test_a_person_added_needs_a_known_role_and_a_free_key(store: CaseStore) -> None:
    case_id = open_samraad(store)
    version = store.snapshot(case_id).version
    taken = SAMRAAD_CASE["participants"][0]["key"]
    with pytest.raises(InvalidInput, match=r"1 participant key\(s\) given already on the case"):
        person = {"key": taken, "role": "teacher", "name": "Ny lærer"}
        store.fire(case_id, "add_participant", LEADER, person, at("2026-12-21 09:00"))
    with pytest.raises(InvalidInput, match="role: not a role of samråd; roles are: pupil"):
        convened = {"participants": [{"role": "janitor", "name": "Pedel"}]}
        store.fire(case_id, "convene", LEADER, convened, at("2026-12-21 09:00"))
    assert store.snapshot(case_id).version == version


def test_convene_may_add_the_people_convened(store: CaseStore) -> None:
    without = [p for p in SAMRAAD_CASE["participants"] if p["role"] != "school_social_worker"]
    case_id = open_samraad(store, participants=without)
    extra = {"participants": [{"role": "school_social_worker", "name": "Aylin", "email": None}]}
    store.fire(case_id, "convene", LEADER, extra, at("2026-12-21 09:00"))
    added = store.snapshot(case_id).with_role("school_social_worker")
    assert [(p.key, p.email) for p in added] == [("school-social-worker", None)]


def test_rule_2_the_meeting_lasts_90_minutes_at_the_school(store: CaseStore) -> None:
    case_id = open_samraad(store)
    drive_to(store, case_id, "scheduled")
    (meeting,) = store.show(case_id)["meetings"]
    assert meeting["end"] == "2027-01-04T10:30:00+01:00"
    assert meeting["location"] == SAMRAAD_CASE["location"]
    # Everyone but the coordinator (who receives escalations) is invited.
    assert meeting["participants"] == ["elev", "mor", "leder", "laerer", "ppr-i", "ppr-r", "soc"]


def test_a_meeting_in_the_past_is_refused(store: CaseStore) -> None:
    case_id = open_samraad(store)
    store.fire(case_id, "convene", LEADER, {}, at("2026-12-21 09:00"))
    with pytest.raises(GuardRejected, match="in the past"):
        store.fire(
            case_id,
            "schedule",
            LEADER,
            {"start": "2026-12-21T08:00:00+01:00"},
            at("2026-12-21 09:00"),
        )


def test_a_naive_time_is_invalid_input(store: CaseStore) -> None:
    case_id = open_samraad(store)
    store.fire(case_id, "convene", LEADER, {}, at("2026-12-21 09:00"))
    with pytest.raises(InvalidInput, match="start: Input should have timezone info"):
        store.fire(
            case_id, "schedule", LEADER, {"start": "2027-01-04T09:00:00"}, at("2026-12-21 09:00")
        )


def test_reschedule_moves_the_meeting_and_raises_its_sequence(store: CaseStore) -> None:
    case_id = open_samraad(store)
    drive_to(store, case_id, "scheduled")
    uid = store.show(case_id)["meetings"][0]["uid"]
    store.fire(case_id, "reschedule", LEADER, INPUTS["reschedule"], at("2026-12-22 11:00"))
    (meeting,) = store.show(case_id)["meetings"]
    assert (meeting["uid"], meeting["sequence"], meeting["start"]) == (
        uid,
        1,
        "2027-01-05T13:00:00+01:00",
    )
    templates = [o["template"] for o in store.show(case_id)["outbox"]]
    assert templates.count("invitation") == 7 and templates.count("update") == 7


def test_cancel_sends_cancellations_and_ends_the_case(store: CaseStore) -> None:
    case_id = open_samraad(store)
    drive_to(store, case_id, "scheduled")
    store.fire(case_id, "cancel", LEADER, {"reason": "moved away"}, at("2026-12-23 09:00"))
    shown = store.show(case_id)
    assert shown["meetings"][0]["status"] == "cancelled"
    assert shown["meetings"][0]["sequence"] == 1
    assert [o["template"] for o in shown["outbox"]].count("cancellation") == 7
    assert not [t for t in shown["timers"] if t["status"] == "pending"]


def test_rule_4_next_round_only_when_every_present_participant_is_heard(store: CaseStore) -> None:
    case_id = open_samraad(store)
    drive_to(store, case_id, "scheduled")
    store.fire(
        case_id,
        "start_meeting",
        PPR,
        {"present": ["elev", "mor", "leder", "ppr-i"]},
        at("2027-01-04 09:00"),
    )
    with pytest.raises(GuardRejected, match="round 1 is not finished: no note yet for mor"):
        store.fire(
            case_id,
            "next_round",
            PPR,
            {"notes": notes(["elev", "leder", "ppr-i"])},
            at("2027-01-04 09:20"),
        )
    with pytest.raises(GuardRejected, match="not present: 1 of the keys given; present are: "):
        store.fire(
            case_id,
            "next_round",
            PPR,
            {"notes": notes(["elev", "mor", "leder", "ppr-i", "laerer"])},
            at("2027-01-04 09:20"),
        )
    heard = {"notes": notes(["elev", "mor", "leder", "ppr-i"])}
    assert store.fire(case_id, "next_round", PPR, heard, at("2027-01-04 09:20")).dest == "round_2"


def test_rule_5_conclude_needs_a_decision_and_a_follow_up_time(store: CaseStore) -> None:
    case_id = open_samraad(store)
    drive_to(store, case_id, "round_3")
    with pytest.raises(GuardRejected, match="at least one decision"):
        store.fire(
            case_id, "conclude", LEADER, {"notes": notes(), "decisions": []}, at("2027-01-04 10:20")
        )
    with pytest.raises(GuardRejected, match="give 'follow_up'"):
        store.fire(
            case_id,
            "conclude",
            LEADER,
            {"notes": notes(), "decisions": ["x"]},
            at("2027-01-04 10:20"),
        )
    with pytest.raises(GuardRejected, match="no note yet"):
        store.fire(
            case_id, "conclude", LEADER, {**INPUTS["conclude"], "notes": {}}, at("2027-01-04 10:20")
        )
    store.fire(case_id, "conclude", LEADER, INPUTS["conclude"], at("2027-01-04 10:20"))
    shown = store.show(case_id)
    follow_up = [m for m in shown["meetings"] if m["key"] == "follow-up-1"]
    assert follow_up and follow_up[0]["start"] == "2027-02-01T09:00:00+01:00"
    assert shown["data"]["decisions"] == ["morning agreement"]


def test_rule_6_action_plan_reminder_then_escalation(store: CaseStore) -> None:
    case_id = open_samraad(store)
    drive_to(store, case_id, "concluded")  # concluded Monday 4 January 10:20
    # Deadline: end of Wednesday 6 January; reminder that morning; escalation after it.
    assert store.sweep(at("2027-01-06 07:59")).fired == {}
    assert store.sweep(at("2027-01-06 08:00")).fired == {"samraad/action_plan_reminder": 1}
    assert store.sweep(at("2027-01-07 00:00")).fired == {"samraad/action_plan_overdue": 1}
    outbox = [(o["template"], o["to"]) for o in store.show(case_id)["outbox"]]
    assert outbox[-2:] == [("reminder", LEADER), ("escalation", COORDINATOR)]
    assert store.snapshot(case_id).state == "concluded"


def test_rule_6_the_action_plan_goes_to_all_participants(store: CaseStore) -> None:
    case_id = open_samraad(store)
    drive_to(store, case_id, "follow_up_pending")
    shown = store.show(case_id)
    sent = sorted(o["to"] for o in shown["outbox"] if o["template"] == "action_plan")
    invited = sorted(p["email"] for p in shown["participants"] if p["role"] != "coordinator")
    assert sent == invited
    assert not [
        t
        for t in shown["timers"]
        if t["event"].startswith("action_plan") and t["status"] == "pending"
    ]


def test_rule_6_action_items_name_owners_on_the_case(store: CaseStore) -> None:
    case_id = open_samraad(store)
    drive_to(store, case_id, "concluded")
    bad = {"items": [{"owner": "nobody", "action": "x", "due": "2027-01-08"}]}
    with pytest.raises(GuardRejected, match="not on the case: 1 of the keys given"):
        store.fire(case_id, "send_action_plan", LEADER, bad, at("2027-01-05 09:00"))
    with pytest.raises(GuardRejected, match="at least one action"):
        store.fire(case_id, "send_action_plan", LEADER, {"items": []}, at("2027-01-05 09:00"))


@pytest.mark.parametrize(
    ("outcome", "extra", "dest"),
    [
        ("close", {}, "closed"),
        (
            "continue",
            {"next_follow_up": {"start": "2027-03-01T09:00:00+01:00"}},
            "follow_up_pending",
        ),
        ("reconvene", {}, "convened"),
    ],
)
def test_rule_7_the_follow_up_closes_continues_or_reconvenes(
    store: CaseStore, outcome: str, extra: dict[str, Any], dest: str
) -> None:
    case_id = open_samraad(store)
    drive_to(store, case_id, "follow_up_pending")
    decision = store.fire(
        case_id, "hold_follow_up", LEADER, {"outcome": outcome, **extra}, at("2027-02-01 10:00")
    )
    assert decision.dest == dest
    shown = store.show(case_id)
    if outcome == "continue":
        assert [m["key"] for m in shown["meetings"]][-1] == "follow-up-2"
    if outcome == "reconvene":
        assert shown["data"]["meeting_deadline"].startswith("2027-02-10")
        assert {t["event"] for t in shown["timers"] if t["status"] == "pending"} == {
            "deadline_warning",
            "deadline_passed",
        }


def test_rule_7_continue_needs_the_next_follow_up_time(store: CaseStore) -> None:
    case_id = open_samraad(store)
    drive_to(store, case_id, "follow_up_pending")
    with pytest.raises(GuardRejected, match="next_follow_up"):
        store.fire(
            case_id, "hold_follow_up", LEADER, {"outcome": "continue"}, at("2027-02-01 10:00")
        )


def test_a_reminder_goes_to_the_attendees_two_working_days_before_each_meeting(
    store: CaseStore,
) -> None:
    case_id = open_samraad(store)
    store.fire(case_id, "convene", LEADER, {}, at("2026-12-21 09:00"))
    store.fire(
        case_id, "schedule", LEADER, {"start": "2027-01-05T09:00:00+01:00"}, at("2026-12-21 10:00")
    )
    # Two working days before Tuesday 5 January is Monday 4 ← ... → Wednesday 30 December.
    assert store.sweep(at("2026-12-30 08:00")).fired.get("samraad/meeting_reminder") == 1
    reminders = [o for o in store.show(case_id)["outbox"] if o["template"] == "reminder"]
    assert len(reminders) == 7


def test_a_participant_without_email_stays_on_the_case_but_gets_no_mail(store: CaseStore) -> None:
    people = [
        dict(p, email=None) if p["key"] == "elev" else p for p in SAMRAAD_CASE["participants"]
    ]
    case_id = open_samraad(store, participants=people)
    drive_to(store, case_id, "scheduled")
    shown = store.show(case_id)
    assert "elev" in shown["meetings"][0]["participants"]
    assert len([o for o in shown["outbox"] if o["template"] == "invitation"]) == 6
