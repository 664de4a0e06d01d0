"""Read back everything a Prefect server holds, for the "Prefect sees ids, not people" tests.

List endpoints stop at 200 rows and events at 50 per page, so everything is paged; events
reach the database in batches (about every 5 s), so callers wait until the count is stable.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.sorting import LogSort
from prefect.events.filters import EventFilter, EventOccurredFilter

PAGE = 200


async def _read_all(read: Callable[..., Awaitable[list[Any]]], **kwargs: Any) -> list[Any]:
    rows: list[Any] = []
    while True:
        page = await read(limit=PAGE, offset=len(rows), **kwargs)
        rows += page
        if len(page) < PAGE:
            return rows


async def _events(client: PrefectClient, since: datetime) -> list[Any]:
    occurred = EventOccurredFilter(since=since, until=datetime.now(UTC) + timedelta(minutes=1))
    page = await client.read_events(filter=EventFilter(occurred=occurred), limit=50)
    events = list(page.events)
    while page.next_page:
        page = await page.get_next_page(client)
        events += page.events
    return events


async def snapshot(since: datetime) -> dict[str, list[str]]:
    """Every text Prefect holds, by kind: the haystack."""
    async with get_client() as client:
        runs = await _read_all(client.read_flow_runs)
        # Every state a recent run passed through, not only its last: a message that was
        # replaced by a later state is still stored.
        recent = [r for r in runs if r.created is None or r.created >= since]
        states = [s for r in recent for s in await client.read_flow_run_states(r.id)]
        tasks = await _read_all(client.read_task_runs)
        logs = await _read_all(client.read_logs, sort=LogSort.TIMESTAMP_ASC)
        artifacts = await _read_all(client.read_artifacts)
        deployments = await client.read_deployments()
        events = await _events(client, since)
    return {
        "flow runs": [
            f"{r.name} {r.parameters} {r.tags} {r.state and r.state.name} "
            f"{r.state and r.state.message}"
            for r in runs
        ],
        "flow run states": [f"{s.name} {s.message}" for s in states],
        "task runs": [f"{t.name} {t.tags} {t.state and t.state.message}" for t in tasks],
        "logs": [f"{log.name} {log.message}" for log in logs],
        "artifacts": [f"{a.key} {a.type} {a.description} {a.data}" for a in artifacts],
        "deployments": [f"{d.name} {d.parameters} {d.tags} {d.description}" for d in deployments],
        "events": [e.model_dump_json() for e in events],
    }


def settled_snapshot(since: datetime, timeout: float = 60.0) -> dict[str, list[str]]:
    """A snapshot once the event and log counts stopped growing (they arrive in batches)."""
    deadline = time.monotonic() + timeout
    previous: tuple[int, ...] = ()
    while True:
        time.sleep(6)  # the event persister flushes every 5 s
        shot = asyncio.run(snapshot(since))
        counts = tuple(len(v) for v in shot.values())
        if counts == previous or time.monotonic() > deadline:
            return shot
        previous = counts
