"""A sweep tells Prefect about its escalations in one event, not one per case: what an
automation needs (how many, of which process and topic, which case ids) and no more."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
from prefect.events.filters import (
    EventFilter,
    EventNameFilter,
    EventOccurredFilter,
    EventRelatedFilter,
)

from persistence import open_store

from ..cli_helpers import run
from ..conftest import LEADER, at, open_samraad

SWEPT_AT = "2027-01-06T00:47:00+01:00"  # the three meetings' deadline has passed
RUN_NAME = "sweep/2027-01-06 00:47"  # no other test sweeps at this minute


async def _escalation_events(since: datetime) -> list[Any]:
    async with get_client() as client:
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[RUN_NAME]))
        )
        assert len(runs) == 1, [r.name for r in runs]
        page = await client.read_events(
            filter=EventFilter(
                occurred=EventOccurredFilter(
                    since=since, until=datetime.now(UTC) + timedelta(minutes=1)
                ),
                event=EventNameFilter(name=["forloeb.case.escalated"]),
                related=EventRelatedFilter(id=[f"prefect.flow-run.{runs[0].id}"]),
            ),
            limit=50,
        )
        return list(page.events)


def test_a_sweep_emits_one_aggregate_escalation_event(tmp_path: Path, prefect_api: str) -> None:
    db = f"sqlite:///{tmp_path / 'forloeb.db'}"
    store = open_store(db)
    cases = [open_samraad(store) for _ in range(3)]
    for case_id in cases:
        store.fire(case_id, "convene", LEADER, {}, at("2026-12-21 09:00"))
    since = datetime.now(UTC) - timedelta(minutes=1)

    swept = run(db, "sweep", "--json", now=SWEPT_AT)
    assert swept.code == 0, swept.err
    escalations = swept.json()["escalations"]
    assert escalations >= len(cases)

    deadline = time.monotonic() + 60  # the server stores events in batches, every ~5 s
    events: list[Any] = []
    while not events and time.monotonic() < deadline:
        time.sleep(2)
        events = asyncio.run(_escalation_events(since))
    time.sleep(6)  # had there been one event per case, they would all be here by now
    events = asyncio.run(_escalation_events(since))
    assert len(events) == 1, [e.payload for e in events]
    (event,) = events
    assert event.resource.id == "forloeb.sweep.escalations"
    payload = event.payload
    assert payload["escalations"] == escalations
    assert payload["case_ids"] == sorted(cases) and payload["case_ids_left_out"] == 0
    counts = payload["by_process_topic"]
    assert sum(counts.values()) == escalations
    assert all(key.startswith("samraad/") for key in counts), counts
