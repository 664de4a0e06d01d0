"""Read EVERYTHING back from a Prefect server (for the 'no personal data anywhere' test)."""
import asyncio, datetime as dt, httpx, os
from prefect.client.orchestration import get_client
from prefect.client.schemas.sorting import LogSort, FlowRunSort, ArtifactSort
from prefect.events.filters import EventFilter, EventOccurredFilter

PAGE = 200   # server caps every list endpoint at PREFECT_SERVER_API_DEFAULT_LIMIT (200)

async def read_all(fn, **kw):
    out, offset = [], 0
    while True:
        page = await fn(limit=PAGE, offset=offset, **kw)
        out += page
        if len(page) < PAGE:
            return out
        offset += PAGE

async def all_events(c, since, until):
    page = await c.read_events(filter=EventFilter(occurred=EventOccurredFilter(since=since, until=until)), limit=50)  # events: limit <= 50
    evs = list(page.events)
    while page.next_page:
        page = await page.get_next_page(c)
        evs += page.events
    return evs, page.total

async def main():
    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=2)
    until = dt.datetime.now(dt.timezone.utc)
    async with get_client() as c:
        print("read_logs() without limit returns", len(await c.read_logs()))
        logs = await read_all(c.read_logs, sort=LogSort.TIMESTAMP_ASC)
        runs = await read_all(c.read_flow_runs, sort=FlowRunSort.EXPECTED_START_TIME_ASC)
        tasks = await read_all(c.read_task_runs)
        arts = await read_all(c.read_artifacts, sort=ArtifactSort.CREATED_DESC)
        deps = await c.read_deployments()
        evs, total = await all_events(c, since, until)
        print(f"logs={len(logs)} flow_runs={len(runs)} task_runs={len(tasks)} artifacts={len(arts)} deployments={len(deps)} events={len(evs)} (total reported {total})")
        # the haystack to search for names/e-mails/notes:
        hay = "\n".join([*(l.message for l in logs), *(f"{r.name} {r.parameters} {r.tags} {r.state.message}" for r in runs),
                         *(f"{t.name} {t.state and t.state.message}" for t in tasks),
                         *(f"{a.key} {a.description} {a.data}" for a in arts),
                         *(e.model_dump_json() for e in evs)])
        print("haystack chars:", len(hay), "| contains 'secret-ish'?", "secret-ish" in hay)
    # the same with plain httpx (what the client does)
    api = os.environ["PREFECT_API_URL"]
    with httpx.Client(base_url=api) as h:
        body = {"filter": {"occurred": {"since": since.isoformat(), "until": until.isoformat()}}, "limit": 50}
        r = h.post("/events/filter", json=body).json(); n = len(r["events"]); pages = 1
        while r.get("next_page"):
            r = h.get(r["next_page"]).json(); n += len(r["events"]); pages += 1
        print(f"httpx: {n} events in {pages} pages (total={r['total']})")
        print("httpx logs page:", len(h.post("/logs/filter", json={"limit": 200, "offset": 0, "sort": "TIMESTAMP_ASC"}).json()))
asyncio.run(main())
