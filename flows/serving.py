"""The deployments of one machine: ``forloeb serve`` runs them; the demo registers them.

``forloeb serve``: every deployment from one process, for a municipality on one machine.
Scale-out uses ``prefect.yaml`` and ``prefect worker start --pool forloeb`` instead (README).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from uuid import UUID

from prefect.deployments.runner import RunnerDeployment
from prefect.flows import aserve

from .prefect_flows import case_event, deliver_outbox_flow, open_case_flow, sweep

__all__ = ["DEPLOYMENTS", "deployments", "register", "serve_all"]

#: Their full names in the Prefect UI (flow/deployment).
DEPLOYMENTS = (
    "sweep/sweep",
    "case-event/coordinator-action",
    "open-case/open-case",
    "deliver-outbox/deliver-outbox",
)


async def deployments(interval: int = 300, *, sweep_paused: bool = False) -> list[RunnerDeployment]:
    """The four deployments; ``sweep_paused``: the sweep's schedule registered but paused."""
    return [
        await sweep.ato_deployment(
            name="sweep",
            interval=timedelta(seconds=interval),
            tags=["forloeb", "sweep"],
            concurrency_limit=1,
            paused=sweep_paused or None,
        ),
        await case_event.ato_deployment(
            name="coordinator-action", tags=["forloeb"], enforce_parameter_schema=True
        ),
        await open_case_flow.ato_deployment(
            name="open-case", tags=["forloeb"], enforce_parameter_schema=True
        ),
        await deliver_outbox_flow.ato_deployment(name="deliver-outbox", tags=["forloeb"]),
    ]


async def register(interval: int = 300) -> list[UUID]:
    """Create (or update) the deployments without serving them, so the UI shows them and
    their Run forms; their runs wait until ``forloeb serve`` starts. The sweep's schedule is
    paused (``forloeb serve`` resumes it): otherwise it would pile up late runs."""
    return [await d.aapply() for d in await deployments(interval, sweep_paused=True)]


async def _serve(limit: int, interval: int) -> None:
    await aserve(*await deployments(interval), limit=limit)


def serve_all(limit: int = 4, interval: int = 300) -> None:
    asyncio.run(_serve(limit, interval))
