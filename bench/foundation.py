"""Issue 2's figures: persisted events per second, and the sweep against open cases.

- events/s: complete samråd lifecycles (8 events each: fire + guards + history + timers
  + outbox, one transaction per event), beside raw in-memory pytransitions.
- sweep: N open cases with a pending timer each, 1,000 of them due; the sweep's time
  beside a plain SQL select+update of the same 1,000 timers, and its growth from 10k to
  100k to 1M open cases. Peak memory of the 100k sweep is read from its own process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import insert, text
from transitions import Machine

from machines import get_process
from persistence import CaseStore, ensure_schema, make_engine
from persistence.models import CaseRow, ParticipantRow, TimerRow

from .common import Row, postgres_available, scratch_database
from .workload import CASE_FILE, START, lifecycle

LIFECYCLES = 250  # x 8 events


def raw_transitions_per_second() -> float:
    """The floor: pytransitions alone, in memory, the samråd states, no rules, no I/O."""
    process = get_process("samraad")

    class Model:
        state: str

    model = Model()
    Machine(
        model=model,
        states=list(process.states),
        initial="round_1",
        transitions=[
            {"trigger": "forward", "source": "round_1", "dest": "round_2"},
            {"trigger": "back", "source": "round_2", "dest": "round_1"},
        ],
        auto_transitions=False,
    )
    n = 50_000
    started = time.perf_counter()
    for _ in range(n):
        model.forward()  # type: ignore[attr-defined]
        model.back()  # type: ignore[attr-defined]
    return 2 * n / (time.perf_counter() - started)


def persisted_events_per_second(url: str, clients: int = 1) -> float:
    """Complete lifecycles, each client on its own cases, one transaction per event.

    One lifecycle on a case of its own runs first, untimed: what a process does once (load
    the holiday calendar, prepare the statements) is not a cost per event.
    """
    engine = make_engine(url)
    ensure_schema(engine)
    store = CaseStore(engine)
    ids = [store.open_case("samraad", CASE_FILE, START) for _ in range(LIFECYCLES + 1)]
    steps = lifecycle()
    warm_up = ids.pop()
    for event, actor, payload, now in steps:
        store.fire(warm_up, event, actor, payload, now)

    def work(mine: list[int]) -> None:
        for case_id in mine:
            for event, actor, payload, now in steps:
                store.fire(case_id, event, actor, payload, now)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(work, [ids[i::clients] for i in range(clients)]))
    elapsed = time.perf_counter() - started
    engine.dispose()
    return LIFECYCLES * len(steps) / elapsed


def bare_commits_per_second(url: str) -> float:
    """The floor of durable writes: one-row INSERT + COMMIT in a loop, same database."""
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE bench_floor (x INTEGER)"))
    n = 500
    started = time.perf_counter()
    with engine.connect() as conn:
        for i in range(n):
            conn.execute(text("INSERT INTO bench_floor VALUES (:x)"), {"x": i})
            conn.commit()
    elapsed = time.perf_counter() - started
    engine.dispose()
    return n / elapsed


def populate_open_cases(url: str, open_cases: int, due: int) -> None:
    """Open cases waiting in ``convened``: each has a pending deadline timer; ``due`` of
    them are past due. Bulk-inserted: this is the setting, not the measurement."""
    engine = make_engine(url)
    ensure_schema(engine)
    deadline = START + timedelta(days=9)
    data = {"convened_at": START.isoformat(), "meeting_deadline": deadline.isoformat()}
    chunk = 50_000
    with engine.begin() as conn:
        for first in range(1, open_cases + 1, chunk):
            ids = range(first, min(first + chunk, open_cases + 1))
            conn.execute(
                insert(CaseRow.__table__),
                [
                    {
                        "id": i,
                        "process": "samraad",
                        "state": "convened",
                        "version": 2,
                        "title": "Skolen",
                        "location": "Skolen",
                        "data": data,
                        "created_at": START,
                        "updated_at": START,
                    }
                    for i in ids
                ],
            )
            conn.execute(
                insert(TimerRow.__table__),
                [
                    {
                        "case_id": i,
                        "event": "deadline_passed",
                        "status": "pending",
                        # Spread due times: the first `due` cases are past due at the sweep.
                        "due": deadline if i <= due else deadline + timedelta(days=30 + i % 300),
                    }
                    for i in ids
                ],
            )
        conn.execute(
            insert(ParticipantRow.__table__),
            [
                {
                    "case_id": i,
                    "key": "tov",
                    "role": "coordinator",
                    "name": "Tovholder",
                    "email": "tovholder@kommune.example.dk",
                }
                for i in range(1, due + 1)
            ],
        )
        if engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE"))
    engine.dispose()


def sweep_in_child(url: str) -> dict[str, float]:
    now = (START + timedelta(days=10)).isoformat()
    done = subprocess.run(
        [sys.executable, "-m", "bench.sweep_child", url, now],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(done.stdout))


def raw_sql_due_timers(url: str, due: int) -> float:
    """Baseline: one plain SELECT of the due timers and one UPDATE marking them fired."""
    engine = make_engine(url)
    now = START + timedelta(days=10)
    started = time.perf_counter()
    with engine.begin() as conn:
        ids = (
            conn.execute(
                text(
                    "SELECT id FROM timers WHERE status = 'pending' AND due <= :now "
                    "ORDER BY due, id"
                ),
                {
                    "now": now.astimezone().replace(tzinfo=None)
                    if engine.dialect.name == "sqlite"
                    else now
                },
            )
            .scalars()
            .all()
        )
        conn.execute(
            text("UPDATE timers SET status = 'bench' WHERE id = :id"), [{"id": i} for i in ids]
        )
        elapsed = time.perf_counter() - started
        conn.rollback()
    engine.dispose()
    return elapsed


def run() -> list[Row]:
    rows: list[Row] = []
    raw = raw_transitions_per_second()
    with scratch_database("sqlite") as url:
        events, floor = persisted_events_per_second(url), bare_commits_per_second(url)
        name = "persisted events/s, SQLite file"
        rows.append((name, events, "/s", "raw pytransitions in memory", raw))
        rows.append((name, events, "/s", "bare INSERT+COMMIT loop, same file", floor))
    if postgres_available():
        with scratch_database("postgresql") as url:
            events, floor = persisted_events_per_second(url), bare_commits_per_second(url)
            name = "persisted events/s, PostgreSQL, 1 client"
            rows.append((name, events, "/s", "raw pytransitions in memory", raw))
            rows.append((name, events, "/s", "bare INSERT+COMMIT loop, same server", floor))
        with scratch_database("postgresql") as url:
            events = persisted_events_per_second(url, clients=4)
            name = "persisted events/s, PostgreSQL, 4 clients"
            rows.append((name, events, "/s", "bare INSERT+COMMIT loop, 1 client", floor))
    sweeps: dict[int, dict[str, float]] = {}
    for open_cases in (10_000, 100_000, 1_000_000):
        with scratch_database("sqlite") as url:
            populate_open_cases(url, open_cases, 1_000)
            baseline = raw_sql_due_timers(url, 1_000)
            sweeps[open_cases] = result = sweep_in_child(url)
            assert result["fired"] == 1_000, result
            rows.append(
                (
                    f"sweep: 1,000 due of {open_cases:,} open (SQLite)",
                    result["seconds"],
                    "s",
                    "plain SQL select+update of them",
                    baseline,
                )
            )
    rows.append(
        (
            "sweep growth 10k → 1M open",
            sweeps[1_000_000]["seconds"],
            "s",
            "the same sweep at 10k open",
            sweeps[10_000]["seconds"],
        )
    )
    rows.append(
        (
            "peak memory of the 100k sweep",
            sweeps[100_000]["max_rss_mb"],
            "MB",
            "bare interpreter with forloeb imported",
            sweeps[100_000]["import_rss_mb"],
        )
    )
    return rows
