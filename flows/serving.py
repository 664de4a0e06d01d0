"""``forloeb serve``: every deployment from one process, for a municipality on one machine.

Scale-out uses ``prefect.yaml`` and ``prefect worker start --pool forloeb`` instead (README).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from prefect.flows import aserve

from .prefect_flows import case_event, deliver_outbox_flow, open_case_flow, sweep


async def _serve(limit: int, interval: int) -> None:
    await aserve(
        await sweep.ato_deployment(
            name="sweep",
            interval=timedelta(seconds=interval),
            tags=["forloeb", "sweep"],
            concurrency_limit=1,
        ),
        await case_event.ato_deployment(
            name="coordinator-action", tags=["forloeb"], enforce_parameter_schema=True
        ),
        await open_case_flow.ato_deployment(
            name="open-case", tags=["forloeb"], enforce_parameter_schema=True
        ),
        await deliver_outbox_flow.ato_deployment(name="deliver-outbox", tags=["forloeb"]),
        limit=limit,
    )


def serve_all(limit: int = 4, interval: int = 300) -> None:
    asyncio.run(_serve(limit, interval))
