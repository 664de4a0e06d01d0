import asyncio, time, statistics, collections
from prefect import flow, task
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

attempts = collections.Counter()

class SMTPDown(Exception): pass

@task(retries=3, retry_delay_seconds=0, persist_result=False)
async def deliver(msg_id: int, fail_times: int) -> int:
    attempts[msg_id] += 1
    if attempts[msg_id] <= fail_times:
        raise SMTPDown(f"temporary failure for message {msg_id}")
    return msg_id

@task(persist_result=False)
async def plain(i: int) -> int:
    return i

@flow(persist_result=False)
async def f_plain(n: int):
    for i in range(n): await plain(i)

@flow(persist_result=False)
async def f_retry(n: int, fail_times: int, offset: int):
    for i in range(n): await deliver(offset + i, fail_times)

@flow(persist_result=False)
async def f_gather(n: int):
    await asyncio.gather(*[plain(i) for i in range(n)])

@flow(persist_result=False)
async def f_always_fails():
    return await deliver(-1, 99)

async def timed(coro):
    t = time.perf_counter(); r = await coro; return time.perf_counter() - t, r

async def main():
    await f_plain(1)  # warm-up
    n = 50
    t_empty, _ = await timed(f_plain(0))
    t_plain, _ = await timed(f_plain(n))
    t_gather, _ = await timed(f_gather(n))
    t_retry, _ = await timed(f_retry(n, 2, 0))        # each task fails twice, succeeds on 3rd attempt
    print(f"empty flow {t_empty*1000:.0f} ms")
    print(f"{n} sequential tasks: {(t_plain-t_empty)/n*1000:.1f} ms/task")
    print(f"{n} gathered tasks:   {(t_gather-t_empty)/n*1000:.1f} ms/task")
    print(f"{n} tasks x 2 retries: {(t_retry-t_empty)/n*1000:.1f} ms/task ({(t_retry-t_plain)/(2*n)*1000:.1f} ms per retry); attempts={set(attempts[i] for i in range(n))}")
    st = await f_always_fails(return_state=True)
    print("always-failing task:", st.type.value, repr(st.message), "attempts:", attempts[-1])
asyncio.run(main())
