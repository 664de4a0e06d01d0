import asyncio, time
from prefect import flow, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact, create_table_artifact

@task(persist_result=False, retries=3, retry_delay_seconds=0)
async def fire_batch(ids: list[int]) -> int:
    await asyncio.sleep(0)          # stands for: claim rows FOR UPDATE SKIP LOCKED, fire, commit
    return len(ids)

@flow(persist_result=False, flow_run_name="sweep/{n}")
async def sweep(n: int, batch: int = 100) -> int:
    pid = await create_progress_artifact(progress=0.0, description="sweep")
    done = 0
    for i in range(0, n, batch):
        done += await fire_batch(list(range(i, min(i + batch, n))))
        await update_progress_artifact(artifact_id=pid, progress=100 * done / n)
    await create_table_artifact(key="sweep-summary", table=[{"fired": done}])
    return done

async def main():
    await sweep(10)
    for n, b in [(1000, 100), (1000, 1000), (1000, 10)]:
        t = time.perf_counter(); await sweep(n, b); print(f"sweep n={n} batch={b}: {time.perf_counter()-t:.2f}s (Prefect overhead only)")
asyncio.run(main())
