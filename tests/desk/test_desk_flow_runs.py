"""An action on the desk is stored before the person gets the answer, and recorded as its
``case-event`` flow run just after: the CLI's flow, name, tags and artifact, ids only. With
the Prefect server gone the decision still stands, and the missed run is in forloeb's log.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
    FlowRunFilter,
    FlowRunFilterTags,
)

from desk.runner import FlowRunner
from flows import clock, logs, server
from flows.actions import OpenOutcome
from persistence import CaseStore
from tests.conftest import LEADER, SAMRAAD_CASE

from .conftest import DeskServer
from .helpers import signed_in

#: What must never reach Prefect: every name, address and place of the case file.
PERSONAL = [
    SAMRAAD_CASE["title"],
    SAMRAAD_CASE["location"],
    *(p["name"] for p in SAMRAAD_CASE["participants"]),
    *(p["email"] for p in SAMRAAD_CASE["participants"] if p.get("email")),
]


def _convened_on_the_desk(desk: DeskServer) -> tuple[int, httpx.Response]:
    """A new samråd, and the school leader's answer to convening it on the desk."""
    case_id = desk.store.open_case("samraad", SAMRAAD_CASE, clock.now())
    cookies, csrf = signed_in(desk, LEADER)
    with httpx.Client(base_url=desk.url, cookies=cookies, timeout=120) as client:
        answer = client.post(f"/sager/{case_id}/handling/convene", data={"csrf": csrf})
    assert answer.status_code == 303, answer.text[:500]
    return case_id, answer


async def _runs_and_artifacts(case_id: int) -> tuple[list[Any], list[Any]]:
    """This database's runs of the case, and their artifacts (the session's Prefect server is
    shared: other tests' databases have a case of the same id and key)."""
    async with get_client() as client:
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                tags=FlowRunFilterTags(all_=[f"case:{case_id}", server.database_tag()])
            )
        )
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[f"case-{case_id}"]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[run.id for run in runs]),
            )
        )
    return runs, artifacts


def test_an_action_is_stored_at_once_and_recorded_as_its_case_event_flow_run(
    desk_server: DeskServer, runner: FlowRunner
) -> None:
    case_id, answer = _convened_on_the_desk(desk_server)
    assert answer.headers["location"] == f"/sager/{case_id}?udfoert=convene"
    assert desk_server.store.snapshot(case_id).state == "convened"  # stored when answered

    assert runner.drain(120), "the desk did not record its flow run"
    runs, artifacts = asyncio.run(_runs_and_artifacts(case_id))
    assert [run.name for run in runs] == [f"samraad/convene/case-{case_id}"]
    run = runs[0]
    assert run.state is not None and run.state.is_completed(), run.state
    assert {"desk", "process:samraad", f"case:{case_id}", "state:convened"} <= set(run.tags)
    assert run.parameters["outcome"]["source"] == "concern"
    assert run.parameters["outcome"]["dest"] == "convened"
    assert len(artifacts) == 1 and "`concern` → `convened`" in str(artifacts[0].data)
    prefect_saw = json.dumps(run.parameters, ensure_ascii=False) + str(artifacts[0].data)
    assert not [text for text in PERSONAL if text in prefect_saw]


def test_with_prefect_gone_the_decision_stands_and_the_missed_run_is_logged(
    desk_server: DeskServer, runner: FlowRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows import prefect_flows

    async def server_gone(*_: Any, **__: Any) -> Any:
        # What Prefect's client raises when nothing listens at its API address.
        raise httpx.ConnectError("All connection attempts failed")

    monkeypatch.setattr(prefect_flows, "decided_case_event", server_gone)
    case_id, _ = _convened_on_the_desk(desk_server)
    assert desk_server.store.snapshot(case_id).state == "convened"
    assert runner.drain(120)
    logged = logs.log_path().read_text()
    assert f"unexpected ConnectError in recording case {case_id}'s flow run" in logged


def test_an_unexpected_failure_is_a_danish_line_and_its_text_only_in_forloebs_log(
    desk_server: DeskServer, runner: FlowRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "Ida Æblegaard 010203-1234"

    def fails(*_: Any, **__: Any) -> Any:
        raise RuntimeError(f"cannot store {secret}")

    monkeypatch.setattr(CaseStore, "fire", fails)
    desk = desk_server
    case_id = desk.store.open_case("samraad", SAMRAAD_CASE, clock.now())
    cookies, csrf = signed_in(desk, LEADER)
    with httpx.Client(base_url=desk.url, cookies=cookies, timeout=120) as client:
        answer = client.post(f"/sager/{case_id}/handling/convene", data={"csrf": csrf})
    assert answer.status_code == 500
    assert "Handlingen kunne ikke gennemføres" in answer.text and secret not in answer.text
    assert desk.store.snapshot(case_id).state == "concern"
    assert secret in logs.log_path().read_text()


def test_a_case_opened_on_the_desk_is_recorded_as_its_open_case_flow_run(
    desk_server: DeskServer, runner: FlowRunner
) -> None:
    desk = desk_server
    cookies, csrf = signed_in(desk, LEADER)
    form = {"csrf": csrf, "title": SAMRAAD_CASE["title"], "location": SAMRAAD_CASE["location"]}
    for i, person in enumerate(SAMRAAD_CASE["participants"][:3]):
        form |= {f"participants.{i}.{k}": person[k] for k in ("role", "name", "email")}
    with httpx.Client(base_url=desk.url, cookies=cookies, timeout=120) as client:
        answer = client.post("/ny/samraad", data=form)
    assert answer.status_code == 303, answer.text[:500]
    case_id = int(answer.headers["location"].rsplit("/", 1)[1])
    assert desk.store.snapshot(case_id).state == "concern"  # opened when answered

    assert runner.drain(120), "the desk did not record its flow run"
    runs, _ = asyncio.run(_runs_and_artifacts(case_id))
    assert [run.name for run in runs] == ["samraad/open"]
    run = runs[0]
    assert run.state is not None and run.state.is_completed(), run.state
    assert {"desk", "process:samraad", f"case:{case_id}", "state:concern"} <= set(run.tags)
    assert run.parameters["outcome"]["case_id"] == case_id
    prefect_saw = json.dumps(run.parameters, ensure_ascii=False)
    assert not [text for text in PERSONAL if text in prefect_saw]


def test_a_capacity_warnings_participant_key_stays_out_of_the_open_case_run(
    desk_server: DeskServer, runner: FlowRunner
) -> None:
    # A key is typed by a person (on the CLI's case file), so it may be a name: the run's
    # parameters, which Prefect keeps, carry the warning's role and counts only.
    warning = {"role": "coach", "key": "ida-aeblegaard", "started_12_months": 52, "capacity": 50}
    opened = OpenOutcome(
        case_id=7, process="coaching", state="referred", capacity_warnings=[warning]
    )
    runner.record(opened, "process:coaching", "case:7", "state:referred")
    assert runner.drain(120), "the desk did not record its flow run"
    runs, _ = asyncio.run(_runs_and_artifacts(7))
    assert [run.name for run in runs] == ["coaching/open"]
    recorded = runs[0].parameters["outcome"]["capacity_warnings"]
    assert recorded == [{"role": "coach", "started_12_months": 52, "capacity": 50}]
    assert "ida-aeblegaard" not in json.dumps(runs[0].parameters)
