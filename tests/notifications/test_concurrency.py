"""Several deliverers at once never send a row twice (FOR UPDATE SKIP LOCKED on PostgreSQL,
a conditional claim on SQLite); delivery also works when called inside an event loop."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter

from notifications import AioSmtpMailer, DeliveryReport, deliver_outbox
from persistence import CaseStore, make_engine

from .conftest import FAST, INVITED, ORGANIZER, Server, at, open_case, outbox, schedule


def test_two_deliverers_at_once_send_every_row_exactly_once(
    db_url: str, smtp_server: Server
) -> None:
    setup = make_engine(db_url)
    store = CaseStore(setup)
    for _ in range(4):
        schedule(store, open_case(store))
    now = at("2027-03-15 10:05")
    start = threading.Barrier(2)
    reports: list[DeliveryReport] = []

    def worker() -> None:
        engine = make_engine(db_url)
        start.wait()
        reports.append(
            deliver_outbox(
                engine,
                now,
                AioSmtpMailer(smtp_server.settings),
                batch=3,
                organizer=ORGANIZER,
                settings=FAST,
            )
        )
        engine.dispose()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    total = 4 * len(INVITED)
    assert sum(r.sent for r in reports) == total
    ids = Counter(r.message["Message-ID"] for r in smtp_server.recorder.received)
    assert len(ids) == total and set(ids.values()) == {1}
    assert {r.status for r in outbox(setup)} == {"sent"}
    setup.dispose()


def test_delivery_called_from_inside_a_running_event_loop(
    store: CaseStore, smtp_server: Server
) -> None:
    # Prefect's flows are async; a flow may call the (sync) delivery directly.
    schedule(store, open_case(store))

    async def flow() -> DeliveryReport:
        return deliver_outbox(
            store.engine,
            at("2027-03-15 10:05"),
            AioSmtpMailer(smtp_server.settings),
            organizer=ORGANIZER,
        )

    report = asyncio.run(flow())
    assert report.sent == len(INVITED) and report.ok
