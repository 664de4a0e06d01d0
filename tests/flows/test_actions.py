"""Coordinator actions without Prefect in the way: staged input, who acts, what ops see."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from flows.actions import CaseAction, OpenCase, apply_action, id_only, open_case
from flows.prefect_flows import EXIT_CODES, case_markdown, failed, sweep_table
from machines import Conflict, GuardRejected, InvalidInput, TransitionNotAllowed
from notifications import DeliveryReport
from persistence import CaseStore, SweepReport, staging
from persistence.staging import StagedInputRow

from ..conftest import LEADER, SAMRAAD_CASE, at, open_samraad

NOW = at("2026-12-21 09:00")


def _staged_rows(store: CaseStore) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(StagedInputRow)).scalar_one())


def _leader_id(store: CaseStore, case_id: int) -> int:
    people = store.show(case_id)["participants"]
    return next(p["id"] for p in people if p["email"] == LEADER)


def test_the_ui_form_is_typed_ids_and_times_only() -> None:
    schema = CaseAction.model_json_schema()["properties"]
    assert set(schema) == {"case_id", "event", "at", "input_id", "participant_id"}
    assert schema["case_id"]["exclusiveMinimum"] == 0
    assert "convene" in schema["event"]["enum"] and "deadline_passed" not in schema["event"]["enum"]
    assert schema["at"]["anyOf"][0]["format"] == "date-time"
    assert OpenCase.model_json_schema()["properties"]["process"]["enum"] == [
        "coaching",
        "consultation",
        "handover",
        "learning_group",
        "room_meetings",
        "samraad",
    ]


def test_an_action_by_participant_id_and_its_outcome(store: CaseStore) -> None:
    case_id = open_samraad(store)
    action = CaseAction(case_id=case_id, event="convene", participant_id=_leader_id(store, case_id))
    done = apply_action(store, action, NOW)
    assert (done.process, done.source, done.dest, done.version) == (
        "samraad",
        "concern",
        "convened",
        2,
    )
    assert done.next_timer is not None and done.next_timer["event"] == "deadline_warning"
    markdown = case_markdown(done)
    assert f"samraad case {case_id}" in markdown and "`concern` → `convened`" in markdown
    assert "deadline_warning" in markdown and "2026-12-30 08:00" in markdown
    assert "```mermaid\nstateDiagram-v2" in markdown and "class convened current" in markdown


def test_staged_input_is_used_once_and_a_refusal_leaves_nothing(store: CaseStore) -> None:
    case_id = open_samraad(store)

    def stage(event: str, payload: dict[str, str]) -> int:
        return staging.stage_event(store.engine, case_id, event, LEADER, payload, NOW)

    used = stage("convene", {})
    apply_action(store, CaseAction(case_id=case_id, event="convene", input_id=used), NOW)
    assert _staged_rows(store) == 0
    with pytest.raises(InvalidInput, match=f"staged input {used} does not exist"):
        apply_action(store, CaseAction(case_id=case_id, event="convene", input_id=used), NOW)

    past = {"start": (NOW - timedelta(hours=1)).isoformat()}
    refused = stage("schedule", past)
    with pytest.raises(GuardRejected, match="in the past"):
        apply_action(store, CaseAction(case_id=case_id, event="schedule", input_id=refused), NOW)
    assert _staged_rows(store) == 0  # a refusal does not leave the input lying around

    other = stage("schedule", past)
    with pytest.raises(InvalidInput, match="was staged for event 'schedule'"):
        apply_action(store, CaseAction(case_id=case_id, event="dismiss", input_id=other), NOW)
    assert _staged_rows(store) == 0


def test_who_acts_must_be_said_and_be_on_the_case(store: CaseStore) -> None:
    case_id = open_samraad(store)
    with pytest.raises(InvalidInput, match="say who acts"):
        apply_action(store, CaseAction(case_id=case_id, event="convene"), NOW)
    with pytest.raises(InvalidInput, match=f"case {case_id} has no participant 999999"):
        apply_action(
            store, CaseAction(case_id=case_id, event="convene", participant_id=999999), NOW
        )
    with pytest.raises(InvalidInput, match="there is no case 424242"):
        apply_action(store, CaseAction(case_id=424242, event="convene", participant_id=1), NOW)
    with pytest.raises(InvalidInput, match="has no UTC offset"):
        apply_action(
            store,
            CaseAction(case_id=case_id, event="convene", participant_id=1, at="2027-01-04T09:00"),
            NOW,
        )


def test_opening_from_a_staged_case_file(store: CaseStore) -> None:
    staged = staging.stage_case_file(store.engine, "samraad", LEADER, SAMRAAD_CASE, NOW)
    opened = open_case(store, OpenCase(process="samraad", input_id=staged), NOW)
    assert store.show(opened.case_id)["state"] == "concern" == opened.state
    assert _staged_rows(store) == 0
    wrong = staging.stage_case_file(store.engine, "handover", LEADER, SAMRAAD_CASE, NOW)
    with pytest.raises(InvalidInput, match="was staged for open 'handover'"):
        open_case(store, OpenCase(process="samraad", input_id=wrong), NOW)
    assert _staged_rows(store) == 0


def test_stale_staged_input_is_purged(store: CaseStore) -> None:
    staging.stage_case_file(store.engine, "samraad", LEADER, {}, NOW)
    assert staging.purge_stale(store.engine, NOW + timedelta(hours=23)) == 0
    assert staging.purge_stale(store.engine, NOW + timedelta(days=1, seconds=1)) == 1


def test_failed_states_keep_the_cli_exit_codes_and_drop_addresses() -> None:
    refused = failed(TransitionNotAllowed("conclude", "scheduled", ["cancel"]))
    assert (refused.name, EXIT_CODES[refused.name]) == ("Refused", 3)
    assert refused.message == TransitionNotAllowed("conclude", "scheduled", ["cancel"]).args[0]
    assert EXIT_CODES[failed(InvalidInput("x")).name] == 2
    assert EXIT_CODES[failed(Conflict(4)).name] == 4
    assert id_only("cannot send to ida@example.dk: 550") == "cannot send to <address>: 550"


def test_the_sweep_table_counts_by_process_and_kind() -> None:
    report = SweepReport(fired={"samraad/deadline_passed": 2, "coaching/idle_reminder": 1})
    rows = sweep_table(report, DeliveryReport(sent=5, failed=1), {"samraad": 2})
    assert {"process": "samraad", "what": "timer fired: deadline_passed", "count": 2} in rows
    assert {"process": "all", "what": "messages failed", "count": 1} in rows
    assert {"process": "samraad", "what": "cases overdue", "count": 2} in rows


def test_a_staged_id_is_never_given_twice(store: CaseStore) -> None:
    """Two people act at once: the first action's clean-up (discard its id) must not hit
    the second action's input, which SQLite would otherwise have given the same id."""
    first = open_samraad(store)
    second = open_samraad(store)
    used = staging.stage_event(store.engine, first, "convene", LEADER, {}, at("2026-12-21 09:00"))
    apply_action(
        store,
        CaseAction(case_id=first, event="convene", at=at("2026-12-21 09:00").isoformat(),
                   input_id=used),
        at("2026-12-21 09:00"),
    )  # fmt: skip
    waiting = staging.stage_event(
        store.engine, second, "convene", LEADER, {}, at("2026-12-21 09:00")
    )
    assert waiting != used
    staging.discard(store.engine, used)  # the first action's clean-up, after the fact
    assert _staged_rows(store) == 1


def test_a_sweep_or_delivery_may_not_run_as_of_a_later_time_on_a_real_clock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Typed into the Prefect UI, a year ahead would fire deadlines early and let retention
    # purge cases before their time; a past time only catches up.
    from flows.actions import when

    monkeypatch.delenv("FORLOEB_SIMULATED_CLOCK", raising=False)
    with pytest.raises(InvalidInput, match="more than an hour ahead"):
        when("2099-01-01T03:00:00+01:00", NOW)
    assert when((NOW - timedelta(days=3)).isoformat(), NOW) == NOW - timedelta(days=3)
    assert when((NOW + timedelta(minutes=30)).isoformat(), NOW) == NOW + timedelta(minutes=30)
    assert when(None, NOW) == NOW
