import asyncio, time, sys
from prefect.deployments import run_deployment
from prefect.client.orchestration import get_client

async def main():
    t0 = time.perf_counter()
    # timeout=None waits until the run is final; poll_interval default 5 s -> set small
    fr = await run_deployment("case-event/samraad-action",
                              parameters={"action": {"case_id": 42, "event": "convene"}},
                              timeout=120, poll_interval=0.5, tags=["process:samraad", "case:42"])
    print(f"run {fr.name!r} -> {fr.state.type.value} {fr.state.message!r} in {time.perf_counter()-t0:.1f}s; tags={fr.tags}")
    fr = await run_deployment("case-event/samraad-action",
                              parameters={"action": {"case_id": 999, "event": "convene"}}, timeout=120, poll_interval=0.5)
    print(f"run {fr.name!r} -> {fr.state.type.value} {fr.state.message!r}")
    # schema enforcement: bad params are rejected at creation
    try:
        await run_deployment("case-event/samraad-action", parameters={"action": {"case_id": 1, "event": "nope"}}, timeout=0)
    except Exception as e:
        print("bad params rejected:", type(e).__name__, str(e)[:300])
    # timeout=0: returns immediately (fire and forget)
    fr = await run_deployment("sweep/sweep", timeout=0)
    print("sweep created", fr.state.name)
asyncio.run(main())
