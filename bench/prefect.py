"""What Prefect costs: each figure beside the same work without Prefect, in the same run.

Against a real local ``prefect server start`` on SQLite (never Prefect's temporary
server), started as the embedded server of forloeb's database (a SQLite file) under a
scratch ``FORLOEB_HOME``, and stopped, with its runner, at the end. No SMTP server is
configured, so nothing is sent.

- per action: a ``case-event`` flow run (``convene`` with staged input, as the CLI does
  it) beside ``apply_action`` on the same database; the median of 20 after a warm-up,
  and what Prefect adds (the target is ≤ 120 ms) beside a bare async flow run against the
  same server; all in one warm process with one Prefect client (``launch.one_client``),
  as the warm runner runs them; and the CPU a flow run costs this process and the Prefect
  server, which a busy machine does not inflate as it does wall time;
- ``forloeb case fire`` as a whole process (the coordinator's wait), with the embedded
  server and the warm runner up, beside ``python -c pass`` and ``python -c "import
  prefect"`` and beside the same command with the flow in its own process
  (``FORLOEB_RUNNER=off``), all measured in the same run (the target is ≤ 1.2 s);
- the sweep: 1,000 due timers (of 10,000 open cases) in one ``sweep`` flow run beside
  ``CaseStore.sweep`` of an identical database (the target is ≤ 5 s);
- throughput: 20 runs of the ``case-event/coordinator-action`` deployment through two
  process workers (``--limit 2`` each), beside the same 20 flow runs called in-process,
  one after another. Every deployment run is a new Python process.

Prefect reads its settings once, at import: this module imports it only inside ``run()``,
after pointing the environment at the scratch server, and puts the environment back
afterwards. Prefect is given ids only (case and participant ids, event names, times).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from flows import launch, server
from flows.actions import CaseAction, apply_action
from persistence import CaseStore, make_engine, staging

from .common import Row
from .foundation import populate_open_cases
from .workload import CASE_FILE, LEADER, START

ROOT = Path(__file__).resolve().parent.parent  # where prefect.yaml is
RUNS = 20  # timed actions each way, after one warm-up each
THROUGHPUT_RUNS = 20
WORKERS = 2
WORKER_LIMIT = 2
POOL = "forloeb"
DEPLOYMENT = "case-event/coordinator-action"
OPEN_CASES, DUE_TIMERS = 10_000, 1_000
PROCESS_RUNS = 7  # whole-process timings each way, after a warm-up
CONVENE_AT = START + timedelta(hours=1)
SWEEP_AT = START + timedelta(days=10)  # 08:00 in Copenhagen: before the absence scan hour
IDLE_SECONDS = 2.0  # to measure the Prefect server's CPU when idle
WAIT_SECONDS = 150.0  # for the deployment runs to end; they take about a minute

#: What this module sets for its own process; put back as it was at the end.
_OWN_ENV = (
    "PREFECT_API_URL",
    "PREFECT_HOME",
    "PREFECT_SERVER_EPHEMERAL_ENABLED",
    "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL",
    "FORLOEB_DATABASE_URL",
    "FORLOEB_HOME",
    "FORLOEB_SMTP_HOST",
    *server.OFFLINE,
)


@contextlib.contextmanager
def _restored_environment() -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in _OWN_ENV}
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _sqlite(path: Path) -> str:
    return f"sqlite:///{path}"


def _open_cases(store: CaseStore, n: int) -> list[int]:
    return [store.open_case("samraad", CASE_FILE, START) for _ in range(n)]


def _leader_id(store: CaseStore, case_id: int) -> int:
    return next(
        int(p["id"]) for p in store.show(case_id)["participants"] if p["role"] == "school_leader"
    )


def _staged_convene(store: CaseStore, case_id: int) -> CaseAction:
    input_id = staging.stage_event(store.engine, case_id, "convene", LEADER, {}, CONVENE_AT)
    return CaseAction(
        case_id=case_id, event="convene", at=CONVENE_AT.isoformat(), input_id=input_id
    )


def _check(state: Any) -> None:
    if not state.is_completed():
        raise RuntimeError(f"flow run ended {state.name}: {state.message}")


# ------------------------------------------------------------------ subprocesses


def _prefect_cli(*args: str, cwd: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "prefect", *args],
        cwd=cwd,
        env=dict(os.environ),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
    )
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-2000:]
        raise RuntimeError(f"prefect {' '.join(args)} exited {done.returncode}:\n{tail}")


def _start_workers(scratch: Path) -> list[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_WORKER_PREFETCH_SECONDS": "1",
        "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "INFO",  # into the worker's log file
    }
    workers = []
    for i in range(1, WORKERS + 1):
        with open(scratch / f"worker-{i}.log", "wb") as log:
            workers.append(
                subprocess.Popen(
                    [
                        *(sys.executable, "-m", "prefect", "worker", "start"),
                        *("--pool", POOL, "--type", "process"),
                        *("--limit", str(WORKER_LIMIT), "--name", f"bench-worker-{i}"),
                    ],
                    cwd=scratch,  # not the project: the entrypoints are module paths
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # a process group of its own: its runs too
                )
            )
    return workers


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM (a worker stops in under a second), SIGKILL for what is left of its group."""
    for worker in workers:
        if worker.poll() is None:
            worker.terminate()
    deadline = time.monotonic() + 15
    for worker in workers:
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.wait(max(0.1, deadline - time.monotonic()))
    for worker in workers:  # the worker itself, or a flow-run process it left behind
        if worker.poll() is None or _group_alive(worker.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)
    left = [w.pid for w in workers if _group_alive(w.pid)]
    if left:
        raise RuntimeError(f"worker process groups still alive: {left}")


def _log_tail(scratch: Path) -> str:
    return "\n".join(
        f"--- {log.name}\n{log.read_text(errors='replace')[-1500:]}"
        for log in sorted(scratch.glob("worker-*.log"))
    )


# ------------------------------------------------------------------ the measurements


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of another process (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _per_action(flows: Any, bare: Any, store: CaseStore, server_pid: int) -> dict[str, float]:
    """Median ms of apply_action alone, of a case-event flow run and of a bare async flow
    run, alternating; and the CPU ms a flow run costs this process and the Prefect server
    (wall time on a busy machine includes waiting for a core; CPU time does not). The
    server's idle CPU (its loop services), measured just before, is taken off."""
    cases = _open_cases(store, 2 * (RUNS + 1))
    idle_started, idle_cpu = time.perf_counter(), _cpu_seconds(server_pid)
    await asyncio.sleep(IDLE_SECONDS)
    idle_rate = (_cpu_seconds(server_pid) - idle_cpu) / (time.perf_counter() - idle_started)
    plain: list[float] = []
    plain_cpu: list[float] = []
    under_prefect: list[float] = []
    bare_runs: list[float] = []
    cpu = server_cpu = loop_started = 0.0  # at the start of the timed runs
    other_cpu = 0.0  # this process's CPU outside the flow runs, within the timed loop
    for i in range(RUNS + 1):  # run 0 warms both paths up
        if i == 1:
            cpu, server_cpu = time.process_time(), _cpu_seconds(server_pid)
            loop_started = time.perf_counter()
        cpu_started = time.process_time()
        action = _staged_convene(store, cases[2 * i])
        started, cpu_applied = time.perf_counter(), time.process_time()
        apply_action(store, action, CONVENE_AT)
        elapsed, cpu_done = time.perf_counter() - started, time.process_time()
        action = _staged_convene(store, cases[2 * i + 1])
        if i:
            plain.append(elapsed)
            plain_cpu.append(cpu_done - cpu_applied)
            other_cpu += time.process_time() - cpu_started
        started = time.perf_counter()
        state = await flows.case_event(action, return_state=True)
        elapsed = time.perf_counter() - started
        _check(state)
        if i:
            under_prefect.append(elapsed)
        bare_started = time.perf_counter(), time.process_time()
        _check(await bare(return_state=True))
        if i:
            bare_runs.append(time.perf_counter() - bare_started[0])
            other_cpu += time.process_time() - bare_started[1]
    await asyncio.sleep(1)  # the server records the last run's events a little later
    client_cpu = time.process_time() - cpu - other_cpu
    server_cpu = _cpu_seconds(server_pid) - server_cpu
    server_cpu -= idle_rate * (time.perf_counter() - loop_started)
    return {
        "plain_ms": 1000 * statistics.median(plain),
        "flow_ms": 1000 * statistics.median(under_prefect),
        "bare_ms": 1000 * statistics.median(bare_runs),
        "plain_cpu_ms": 1000 * statistics.median(plain_cpu),
        "client_cpu_ms": 1000 * client_cpu / RUNS,
        "server_cpu_ms": 1000 * server_cpu / RUNS,
    }


async def _sweeps(flows: Any, scratch: Path) -> tuple[float, float]:
    """Seconds: CaseStore.sweep of 1,000 due timers, and the sweep flow run of an identical
    database. A sweep flow run with nothing due warms the flow and its tasks up first."""
    _check(await flows.sweep(at=CONVENE_AT.isoformat(), return_state=True))
    plain_url, flow_url = _sqlite(scratch / "sweep-plain.db"), _sqlite(scratch / "sweep-flow.db")
    for url in (plain_url, flow_url):
        populate_open_cases(url, OPEN_CASES, DUE_TIMERS)
    engine = make_engine(plain_url)
    started = time.perf_counter()
    report = CaseStore(engine).sweep(SWEEP_AT)
    plain = time.perf_counter() - started
    engine.dispose()
    assert report.total == DUE_TIMERS, report
    case_db = os.environ["FORLOEB_DATABASE_URL"]
    os.environ["FORLOEB_DATABASE_URL"] = flow_url  # the flow's store() reads it
    try:
        started = time.perf_counter()
        state = await flows.sweep(at=SWEEP_AT.isoformat(), return_state=True)
        under_prefect = time.perf_counter() - started
    finally:
        os.environ["FORLOEB_DATABASE_URL"] = case_db
    _check(state)
    fired = sum((await state.aresult())["fired"].values())
    assert fired == DUE_TIMERS, fired
    return plain, under_prefect


def _convene_by_id(store: CaseStore, case_id: int) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "event": "convene",
        "participant_id": _leader_id(store, case_id),
        "at": CONVENE_AT.isoformat(),
    }


async def _in_process_rate(flows: Any, store: CaseStore) -> float:
    """Flow runs a minute: THROUGHPUT_RUNS case-event runs called here, one after another."""
    actions = [_convene_by_id(store, c) for c in _open_cases(store, THROUGHPUT_RUNS)]
    started = time.perf_counter()
    for action in actions:
        _check(await flows.case_event(CaseAction(**action), return_state=True))
    return 60 * THROUGHPUT_RUNS / (time.perf_counter() - started)


async def _wait_for_workers(client: Any) -> None:
    names = {f"bench-worker-{i}" for i in range(1, WORKERS + 1)}
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        seen = {w.name for w in await client.read_workers_for_work_pool(POOL)}
        if names <= seen:
            return
        await asyncio.sleep(0.5)
    raise RuntimeError(f"the workers did not report to the pool {POOL!r} within 90 s")


async def _deployment_rate(store: CaseStore, scratch: Path) -> float:
    """Flow runs a minute through the server and two process workers, from the first
    submission until the last run is final."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.deployments import arun_deployment

    parameters = [_convene_by_id(store, c) for c in _open_cases(store, THROUGHPUT_RUNS)]
    async with get_client() as client:
        # The sweep deployment is scheduled every 5 minutes: its runs would take worker
        # slots. Pausing it deletes its scheduled runs.
        sweep = await client.read_deployment_by_name("sweep/sweep")
        await client.pause_deployment(sweep.id)
        workers = _start_workers(scratch)
        try:
            await _wait_for_workers(client)
            started = time.perf_counter()
            ids: list[UUID] = []
            for params in parameters:
                run = await arun_deployment(
                    DEPLOYMENT, parameters={"action": params}, timeout=0, as_subflow=False
                )
                ids.append(run.id)
            deadline = time.monotonic() + WAIT_SECONDS
            while True:
                runs = await client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids))
                )
                if len(runs) == len(ids) and all(r.state and r.state.is_final() for r in runs):
                    break
                if time.monotonic() > deadline:
                    done = sum(1 for r in runs if r.state and r.state.is_final())
                    raise RuntimeError(
                        f"{done} of {len(ids)} deployment runs ended within {WAIT_SECONDS:.0f} s"
                        f"\n{_log_tail(scratch)}"
                    )
                await asyncio.sleep(0.25)
            elapsed = time.perf_counter() - started
        finally:
            _stop_workers(workers)
    bad = [f"{r.name}: {r.state}" for r in runs if not (r.state and r.state.is_completed())]
    if bad:
        raise RuntimeError("deployment runs did not complete:\n" + "\n".join(bad))
    return 60 * len(ids) / elapsed


def _wall(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: {done.stderr[-2000:]}")
    return elapsed


def _whole_process(store: CaseStore) -> dict[str, float]:
    """Median seconds of whole processes, interleaved: ``python -c pass``, ``python -c
    "import prefect"``, ``forloeb case fire`` (embedded server, warm runner) and the same
    with the flow in the command's process (``FORLOEB_RUNNER=off``)."""
    forloeb = str(Path(sys.executable).with_name("forloeb"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["FORLOEB_NOW"] = CONVENE_AT.isoformat()  # as a coordinator's command: no Prefect set
    cases = iter(_open_cases(store, 2 * (PROCESS_RUNS + 1)))

    def fire(**extra: str) -> float:
        command = [forloeb, "case", "fire", str(next(cases)), "convene", "--by", LEADER]
        return _wall(command, env | extra)

    fire()  # starts the warm runner
    fire(FORLOEB_RUNNER="off")
    timings: dict[str, list[float]] = {"pass": [], "prefect": [], "fire": [], "fire_off": []}
    for _ in range(PROCESS_RUNS):
        timings["pass"].append(_wall([sys.executable, "-c", "pass"], env))
        timings["prefect"].append(_wall([sys.executable, "-c", "import prefect"], env))
        timings["fire"].append(fire())
        timings["fire_off"].append(fire(FORLOEB_RUNNER="off"))
    return {name: statistics.median(values) for name, values in timings.items()}


def _measure(scratch: Path, server_pid: int) -> list[Row]:
    if "prefect" in sys.modules:
        raise RuntimeError("bench.prefect must be the first to import prefect (settings)")
    server.configure()  # PREFECT_API_URL is set: nothing is started, the rest is quiet
    from prefect import flow, tags

    from flows import prefect_flows as flows

    @flow(name="bench-bare", flow_run_name="bench-bare", persist_result=False)
    async def bare() -> None:
        """What any async flow run costs on this server: the floor under case-event."""

    store = flows.store()

    async def in_process() -> tuple[dict[str, float], float, float, float]:
        async with launch.one_client():
            with tags("forloeb", "bench"):
                action = await _per_action(flows, bare, store, server_pid)
                plain_sweep, flow_sweep = await _sweeps(flows, scratch)
                rate = await _in_process_rate(flows, store)
        return action, plain_sweep, flow_sweep, rate

    try:
        action, plain_sweep, flow_sweep, in_process_rate = asyncio.run(in_process())
        processes = _whole_process(store)
        _prefect_cli("work-pool", "create", POOL, "--type", "process", "--overwrite", cwd=ROOT)
        _prefect_cli("--no-prompt", "deploy", "--all", cwd=ROOT)
        through_workers = asyncio.run(_deployment_rate(store, scratch))
    finally:
        launch.drain()
    plain = "apply_action alone, no Prefect (median)"
    python_pass = "python -c pass (median, same run)"
    return [
        (
            f"case-event flow run per action (median of {RUNS})",
            action["flow_ms"],
            "ms",
            plain,
            action["plain_ms"],
        ),
        (
            "  ms added by Prefect per action, warm process (target ≤ 120)",
            action["flow_ms"] - action["plain_ms"],
            "ms",
            "a bare async flow run, same server (median)",
            action["bare_ms"],
        ),
        (
            "  CPU ms per flow run in this process (mean)",
            action["client_cpu_ms"],
            "ms",
            "CPU ms of apply_action alone (median)",
            action["plain_cpu_ms"],
        ),
        (
            "  CPU ms per flow run in the Prefect server (mean)",
            action["server_cpu_ms"],
            "ms",
            "CPU ms of apply_action alone (median)",
            action["plain_cpu_ms"],
        ),
        (
            f"sweep flow run: {DUE_TIMERS:,} due of {OPEN_CASES:,} open (target ≤ 5 s)",
            flow_sweep,
            "s",
            "CaseStore.sweep of the same, no Prefect",
            plain_sweep,
        ),
        (
            "forloeb case fire, whole process, warm runner (target ≤ 1.2 s)",
            processes["fire"],
            "s",
            python_pass,
            processes["pass"],
        ),
        (
            "  the same with the flow in its own process (FORLOEB_RUNNER=off)",
            processes["fire_off"],
            "s",
            python_pass,
            processes["pass"],
        ),
        (
            '  python -c "import prefect"',
            processes["prefect"],
            "s",
            python_pass,
            processes["pass"],
        ),
        (
            f"deployment runs/min, {WORKERS} process workers, limit {WORKER_LIMIT} each",
            through_workers,
            "/min",
            f"the same {THROUGHPUT_RUNS} flow runs in-process, one by one",
            in_process_rate,
        ),
    ]


def run() -> list[Row]:
    with (
        _restored_environment(),
        tempfile.TemporaryDirectory(prefix="forloeb-bench-prefect-") as tmp,
    ):
        scratch = Path(tmp)
        os.environ.pop("FORLOEB_SMTP_HOST", None)  # nothing is delivered
        os.environ["FORLOEB_DATABASE_URL"] = _sqlite(scratch / "forloeb.db")
        os.environ["FORLOEB_HOME"] = str(scratch / "forloeb-home")
        home = server.home()  # the embedded server of that database, as `case fire` finds it
        info = server.start(home, ui=False)
        try:
            os.environ["PREFECT_API_URL"] = info.api_url
            os.environ["PREFECT_HOME"] = str(scratch / "prefect-client")
            return _measure(scratch, info.pid)
        finally:
            server.stop(home)
