"""The sweep and delivery flows under stress: two sweeps at once, a sweep killed halfway,
SMTP failing under Prefect task retries. PostgreSQL (production's database), the session's
real Prefect server, and aiosmtpd with STARTTLS."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from persistence import CaseStore, HistoryRow, OutboxRow, TimerRow, make_engine
from tests.conftest import LEADER, _truncate, at, open_samraad
from tests.notifications.conftest import Server

from ..cli_helpers import FORLOEB

DUE = 1000
SWEEP_AT = "2026-12-30T09:00:00+01:00"  # each convened case's deadline warning is due


@pytest.fixture
def pg_store(postgres_url: str) -> Iterator[CaseStore]:
    engine = make_engine(postgres_url)
    _truncate(engine)
    yield CaseStore(engine)
    engine.dispose()


def convened_cases(store: CaseStore, count: int) -> None:
    """``count`` samråd cases, each with one timer (the leader's warning) due at SWEEP_AT."""
    for _ in range(count):
        case_id = open_samraad(store, at("2026-12-21 08:00"))
        store.fire(case_id, "convene", LEADER, {}, at("2026-12-21 09:00"))


def smtp_env(server: Server) -> dict[str, str]:
    return {
        "FORLOEB_SMTP_HOST": "localhost",
        "FORLOEB_SMTP_PORT": str(server.port),
        "FORLOEB_SMTP_TLS": "starttls",
        "FORLOEB_SMTP_CA_FILE": str(server.settings.ca_file),
    }


def start_sweep(db_url: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [FORLOEB, "sweep", "--batch-size", "50"],
        env={**os.environ, **env, "FORLOEB_DATABASE_URL": db_url, "FORLOEB_NOW": SWEEP_AT},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def fired_per_case(engine: Engine) -> Counter[int]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(HistoryRow.case_id).where(HistoryRow.event == "deadline_warning")
        ).all()
    return Counter(r.case_id for r in rows)


def assert_each_timer_fired_and_each_message_sent_once(store: CaseStore, server: Server) -> None:
    fired = fired_per_case(store.engine)
    assert len(fired) == DUE and set(fired.values()) == {1}
    with store.engine.connect() as conn:
        assert conn.execute(
            select(func.count()).select_from(TimerRow).where(TimerRow.status == "pending",
                                                             TimerRow.event == "deadline_warning")
        ).scalar_one() == 0  # fmt: skip
        statuses = Counter(conn.execute(select(OutboxRow.status)).scalars())
    assert statuses == {"sent": DUE}
    ids = Counter(str(r.message["Message-ID"]) for r in server.recorder.received)
    assert len(ids) == DUE and set(ids.values()) == {1}, "a message was sent twice"
    assert all(r.rcpt_tos == [LEADER] for r in server.recorder.received)


@pytest.mark.xdist_group("heavy-sweeps")
def test_two_sweeps_at_the_same_moment_fire_each_timer_and_send_each_message_once(
    pg_store: CaseStore, postgres_url: str, smtp_server: Server, prefect_api: str
) -> None:
    convened_cases(pg_store, DUE)
    sweeps = [start_sweep(postgres_url, smtp_env(smtp_server)) for _ in range(2)]
    results = [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in sweeps]  # type: ignore[union-attr]
    assert [code for code, _, _ in results] == [0, 0], results
    fired = [int(out.split(" timer(s)")[0].split()[-1]) for _, out, _ in results]
    assert sum(fired) == DUE, results  # shared between them, none twice
    assert_each_timer_fired_and_each_message_sent_once(pg_store, smtp_server)


@pytest.mark.xdist_group("heavy-sweeps")
def test_a_sweep_killed_halfway_and_run_again_loses_nothing_and_doubles_nothing(
    pg_store: CaseStore, postgres_url: str, smtp_server: Server, prefect_api: str
) -> None:
    convened_cases(pg_store, DUE)
    sweep = start_sweep(postgres_url, smtp_env(smtp_server))
    deadline = time.monotonic() + 120
    while sum(fired_per_case(pg_store.engine).values()) < 100:
        assert sweep.poll() is None, sweep.stderr.read()  # type: ignore[union-attr]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    sweep.send_signal(signal.SIGKILL)  # the process ends, no clean-up of any kind
    sweep.wait(timeout=30)
    at_kill = sum(fired_per_case(pg_store.engine).values())
    assert 100 <= at_kill < DUE, "the sweep was not stopped halfway"
    assert not smtp_server.recorder.received  # delivery comes after the timers

    again = start_sweep(postgres_url, smtp_env(smtp_server))
    code = again.wait(timeout=300)
    assert code == 0, again.stderr.read()  # type: ignore[union-attr]
    assert_each_timer_fired_and_each_message_sent_once(pg_store, smtp_server)


def test_deliver_outbox_retries_through_prefect_task_retries_without_sending_twice(
    pg_store: CaseStore,
    postgres_url: str,
    smtp_server: Server,
    prefect_api: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    convened_cases(pg_store, 8)
    pg_store.sweep(at("2026-12-30 09:00"))  # 8 warnings queued for the leader
    for key, value in {
        **smtp_env(smtp_server),
        "FORLOEB_DATABASE_URL": postgres_url,
        "FORLOEB_DELIVERY_RETRIES": "4",
        "FORLOEB_DELIVERY_RETRY_SECONDS": "1",
        "FORLOEB_OUTBOX_RETRY_SECONDS": "1",  # the message cut mid-DATA is due again soon
    }.items():
        monkeypatch.setenv(key, value)
    recorder = smtp_server.recorder
    recorder.vanish_after = 3  # 3 arrive, the 4th is cut off, then the server is down

    def come_back() -> None:  # after the first attempt failed, the server returns
        deadline = time.monotonic() + 60
        while not recorder.down and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        recorder.down = False

    helper = threading.Thread(target=come_back)
    helper.start()
    from flows.prefect_flows import deliver_outbox_flow

    state = asyncio.run(deliver_outbox_flow(at="2026-12-30T09:00:05+01:00", return_state=True))
    helper.join()
    assert state.is_completed(), state.message
    runs = asyncio.run(_task_runs(state.state_details.flow_run_id))
    delivery = [t for t in runs if t.name.startswith("deliver-outbox")]
    assert len(delivery) == 1 and delivery[0].run_count >= 2  # retried by Prefect
    # 3 before the cut, 4 after the server came back; the one cut off mid-DATA may or may
    # not have arrived, so it waits for its own backoff rather than risk a double.
    assert len(recorder.received) == 7
    with pg_store.engine.connect() as conn:
        statuses = Counter(conn.execute(select(OutboxRow.status)).scalars())
    assert statuses == {"sent": 7, "pending": 1}

    later = asyncio.run(deliver_outbox_flow(at="2026-12-30T09:01:00+01:00", return_state=True))
    assert later.is_completed(), later.message
    ids = Counter(str(r.message["Message-ID"]) for r in recorder.received)
    assert len(ids) == 8 and set(ids.values()) == {1}


async def _task_runs(flow_run_id: Any) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async with get_client() as client:
        for _ in range(50):  # task runs are recorded from events, a moment later
            runs = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
            if runs and all(r.state and r.state.is_final() for r in runs):
                return runs
            await asyncio.sleep(0.2)
    return runs
