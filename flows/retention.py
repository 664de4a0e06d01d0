"""Retention as the CLI and the sweep run it: the database part (``persistence.retention``),
then, after a purge, the purged cases' flow runs out of Prefect (by their tag ``case:N``).

Prefect holds ids, not people, so its flow runs are removed for tidiness and so that a
purged case leaves no trace at all; that part never blocks or undoes the database purge,
and what it could not do is reported (and recorded with the run). Only a Prefect server
that is configured (``PREFECT_API_URL``) or already running (the embedded one) is asked:
a retention run never starts a server. Prefect's logs and artifacts of a deleted flow run
go at its own database vacuum (README: "Retention").

Nothing here imports Prefect at module level (``forloeb retention run`` must start fast
when there is nothing to remove from Prefect).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from machines import ConfigurationError
from persistence.retention import (
    RetentionReport,
    RetentionSettings,
    record_prefect,
    run_retention,
)

from . import server

if TYPE_CHECKING:
    from prefect.client.orchestration import PrefectClient
    from sqlalchemy import Engine

#: Case tags per flow-run query (a filter's list, not one query per case).
TAGS_PER_QUERY = 50
PAGE = 200


def prefect_api_url() -> str | None:
    """The Prefect server to clean up in: the configured one, or the embedded one if it is
    running; None when there is none (nothing is started for this)."""
    configured = os.environ.get("PREFECT_API_URL")
    if configured:
        return configured
    running = server.running()
    return running.api_url if running is not None else None


async def forget_flow_runs(client: PrefectClient, case_ids: Sequence[int]) -> dict[str, Any]:
    """Delete every flow run tagged ``case:N`` (and this database's ``db:`` tag) for the
    given cases.

    Returns counts and the ids of the cases whose flow runs could not be removed (the
    server failed or went away): ids only, as everything that reaches Prefect.
    """
    import httpx
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
    from prefect.exceptions import ObjectNotFound

    deleted, not_removed = 0, []
    for start in range(0, len(case_ids), TAGS_PER_QUERY):
        chunk = list(case_ids[start : start + TAGS_PER_QUERY])
        wanted = FlowRunFilter(
            tags=FlowRunFilterTags(
                all_=[server.database_tag()],  # this database's case N, not another's
                any_=[f"case:{i}" for i in chunk],
            )
        )
        seen: set[Any] = set()
        try:
            while True:
                page = await client.read_flow_runs(flow_run_filter=wanted, limit=PAGE)
                fresh = [run for run in page if run.id not in seen]
                if not fresh:
                    break  # none left (or only ones a delete did not remove: never loop)
                for run in fresh:
                    seen.add(run.id)
                    try:
                        await client.delete_flow_run(run.id)
                        deleted += 1
                    except ObjectNotFound:
                        pass  # removed by someone else meanwhile
        except (httpx.HTTPError, RuntimeError):
            not_removed.extend(chunk)
    return {"flow_runs_deleted": deleted, "cases_not_removed": not_removed}


def forget_flow_runs_now(case_ids: Sequence[int]) -> dict[str, Any]:
    """``forget_flow_runs`` from outside a flow: against the configured or running server."""
    if not case_ids:
        return {"flow_runs_deleted": 0, "cases_not_removed": []}
    api_url = prefect_api_url()
    if api_url is None:
        return {
            "flow_runs_deleted": 0,
            "cases_not_removed": list(case_ids),
            "skipped": "no Prefect server configured or running",
        }
    for key, value in server.OFFLINE.items():
        os.environ.setdefault(key, value)
    os.environ["PREFECT_API_URL"] = api_url  # read by Prefect once, at import

    async def go() -> dict[str, Any]:
        from prefect import get_client

        async with get_client() as client:
            if await client.api_healthcheck() is not None:
                return {
                    "flow_runs_deleted": 0,
                    "cases_not_removed": list(case_ids),
                    "skipped": "the Prefect server did not answer",
                }
            return await forget_flow_runs(client, case_ids)

    return asyncio.run(go())


async def daily_retention(engine: Engine, now: datetime) -> dict[str, Any]:
    """The sweep's daily retention run. A malformed setting is reported in the result (the
    setting's name and what is wrong), never a failed sweep: the timers still fire."""
    try:
        settings = RetentionSettings.from_env()
    except ConfigurationError as exc:
        return {"error": str(exc)}
    report = await asyncio.to_thread(run_retention, engine, now, settings)
    result: dict[str, Any] = {**report.as_dict(), "prefect": None}
    if report.purged_case_ids:
        from prefect import get_client

        async with get_client() as client:  # the flow run's own server
            result["prefect"] = await forget_flow_runs(client, report.purged_case_ids)
        await asyncio.to_thread(finish, engine, report, result["prefect"])
    return result


def finish(engine: Engine, report: RetentionReport, prefect: dict[str, Any]) -> None:
    """Record what the Prefect part did with the run (counts and case ids, no names)."""
    if report.run_id is not None:
        record_prefect(engine, report.run_id, prefect)
