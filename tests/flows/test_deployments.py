"""Scale-out against the session's real Prefect server: ``prefect.yaml`` deployed with the
documented commands, two real process workers, and ``forloeb serve``.

Deployments and work pools are global on the session server, so every test here runs in
one xdist worker (``prefect-workers``), and each fixture deletes what it created. Because
``--dist loadgroup`` does not group tests with pytest 9.2 and xdist 3.8 (pytest-xdist
issue #1386), a file lock beside the session's server also keeps two xdist workers from
running these tests at the same time. The workers and ``forloeb serve`` share deployment
names (``case-event/coordinator-action``…): the worker class tears its workers and
deployments down before the serve test starts, and the serve test waits for its own sweep
interval (distinct from prefect.yaml's 300 s).

Each flow run through a worker or ``serve`` is a new Python process (about 3 s), so the
runs here are few. PostgreSQL only (``postgres_url``): workers on several machines need a
shared database, and CI sets FORLOEB_TEST_POSTGRES_URL.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from flows.server import database_tag
from persistence import CaseStore, make_engine

from .. import prefect_harness
from ..cli_helpers import Result, dump, run, write_json
from ..conftest import LEADER, drive_to, notes, open_samraad

pytestmark = pytest.mark.xdist_group("prefect-workers")

ROOT = Path(__file__).resolve().parents[2]  # where prefect.yaml is
BIN = Path(sys.executable).parent
NOW = "2026-12-21T09:00:00+01:00"  # workers and the CLI share one clock
POOL = "forloeb"
ACTION = "case-event/coordinator-action"
DEPLOYMENTS = (
    "sweep/sweep",
    ACTION,
    "open-case/open-case",
    "deliver-outbox/deliver-outbox",
)
SERVE_INTERVAL = 3600  # not prefect.yaml's 300: tells serve's deployments from the workers'
CONCLUDE = {
    "notes": notes(),
    "decisions": ["morning agreement"],
    "follow_up": {"start": "2027-02-01T09:00:00+01:00"},
}


# ------------------------------------------------------------------ processes


def _env(api_url: str, db_url: str | None = None, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("FORLOEB_SMTP_") and key != "FORLOEB_DEBUG"
    }
    env.update(PREFECT_API_URL=api_url, FORLOEB_NOW=NOW, COLUMNS="200", **extra)
    if db_url is not None:
        env["FORLOEB_DATABASE_URL"] = db_url
    return env


def _run(env: dict[str, str], *command: str) -> Result:
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    return Result(done.returncode, done.stdout, done.stderr)


# A pytest started as a background job of a non-interactive shell ignores SIGINT, and its
# children inherit that; Prefect turns SIGTERM into SIGINT, so they would never stop. This
# puts both back to the default, then execs the command (no preexec_fn: we have threads).
_DEFAULT_SIGNALS = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "signal.signal(signal.SIGTERM, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"
)


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-c", _DEFAULT_SIGNALS, *command],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its flow-run processes share its process group
        )


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop(process: subprocess.Popen[bytes], timeout: float = 30.0) -> int | None:
    """SIGTERM, then SIGKILL for the whole process group; the exit code of a clean stop.

    Afterwards nothing of its process group (its flow-run processes) is left.
    """
    code: int | None = None
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            code = process.wait(timeout)
    else:
        code = process.returncode
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # stray flow-run processes, or a hung one
    process.wait(10)
    deadline = time.monotonic() + 10
    while _group_alive(process.pid):  # killed orphans are reaped by init
        assert time.monotonic() < deadline, f"process group {process.pid} survived SIGKILL"
        time.sleep(0.1)
    return code


def _tail(log: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# ------------------------------------------------------------------ Prefect


def _client() -> Any:
    from prefect import get_client

    return get_client(sync_client=True)


def _deployment(name: str) -> Any:
    from prefect.exceptions import ObjectNotFound

    with _client() as client:
        try:
            return client.read_deployment_by_name(name)
        except ObjectNotFound:
            return None


def _delete_deployments() -> None:
    with _client() as client:
        for name in DEPLOYMENTS:
            found = _deployment(name)
            if found is not None:
                client.delete_deployment(found.id)  # and its scheduled runs


def _interval(deployment: Any) -> list[tuple[timedelta, bool]]:
    return [(s.schedule.interval, s.active) for s in deployment.schedules]


def _run_deployment(parameters: dict[str, Any], logs: list[Path]) -> Any:
    from prefect.deployments import run_deployment

    # In sync code run_deployment runs to the end and returns the FlowRun (async_dispatch).
    flow_run: Any = run_deployment(ACTION, parameters=parameters, timeout=180, poll_interval=0.5)
    assert flow_run.state is not None and flow_run.state.is_final(), (
        f"flow run {flow_run.name} is still {flow_run.state and flow_run.state.name}\n"
        + "\n".join(_tail(log) for log in logs)
    )
    return flow_run


def _tags(run: Any) -> set[str]:
    with _client() as client:
        return set(client.read_flow_run(run.id).tags)


def _wait(what: str, check: Callable[[], bool], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} within {timeout:.0f} s\n{_tail(log)}"
        time.sleep(0.5)


def _formats(node: dict[str, Any]) -> set[str]:
    """The formats a property may have (``str | None`` is an ``anyOf``)."""
    found = {node["format"]} if "format" in node else set()
    for branch in node.get("anyOf", []):
        found |= _formats(branch)
    return found


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        *_, section, name = node["$ref"].split("/")
        node = schema[section][name]
    if "allOf" in node and len(node["allOf"]) == 1:
        return _resolve(schema, node["allOf"][0])
    return node


# ------------------------------------------------------------------ forloeb


def _participant(store: CaseStore, case_id: int, role: str) -> int:
    (found,) = [p["id"] for p in store.show(case_id)["participants"] if p["role"] == role]
    return int(found)


@pytest.fixture(scope="module", autouse=True)
def one_xdist_worker_at_a_time() -> Iterator[None]:
    """The pool, the deployments and their workers are the session server's, not a test's."""
    home = Path(os.environ.get(prefect_harness.HOME) or tempfile.gettempdir())
    home.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + 900
    with open(home / "deployments-tests.lock", "w") as lock:
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                assert time.monotonic() < deadline, "another xdist worker kept the lock"
                time.sleep(0.5)
        yield


@pytest.fixture
def pg_store(postgres_url: str) -> Iterator[CaseStore]:
    engine = make_engine(postgres_url)
    yield CaseStore(engine)
    engine.dispose()


# ------------------------------------------------------------------ workers


class TestWorkers:
    """prefect.yaml deployed as documented, run by two `prefect worker start` processes."""

    @pytest.fixture(scope="class")
    @classmethod
    def deployed(cls, prefect_api: str) -> Iterator[dict[str, Any]]:
        """`prefect work-pool create` and `prefect deploy --all`, from the project root."""
        _delete_deployments()  # a leftover of an interrupted run
        env = _env(prefect_api)
        prefect = str(BIN / "prefect")
        try:
            pool = _run(
                env, prefect, "work-pool", "create", POOL, "--type", "process", "--overwrite"
            )
            deploy = _run(env, prefect, "--no-prompt", "deploy", "--all")
            found = {name: _deployment(name) for name in DEPLOYMENTS}
            sweep = found["sweep/sweep"]
            if sweep is not None:
                # The scheduled sweep would run against the tests' database (and write the
                # daily absence-scan claim): pause it; pausing drops its scheduled runs.
                with _client() as client:
                    client.pause_deployment(sweep.id)
            yield {"pool": pool, "deploy": deploy, "deployments": found}
        finally:
            _delete_deployments()
            with _client() as client, contextlib.suppress(Exception):
                client.delete_work_pool(POOL)

    @pytest.fixture(scope="class")
    @classmethod
    def workers(
        cls,
        deployed: dict[str, Any],
        prefect_api: str,
        postgres_url: str,
        tmp_path_factory: pytest.TempPathFactory,
    ) -> Iterator[list[Path]]:
        """Two process workers, --limit 2 each, on the tests' PostgreSQL database."""
        assert deployed["deploy"].code == 0, deployed["deploy"].err
        directory = tmp_path_factory.mktemp("workers")
        env = _env(
            prefect_api,
            postgres_url,
            PREFECT_WORKER_QUERY_SECONDS="1",
            PREFECT_WORKER_PREFETCH_SECONDS="1",
            PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL="INFO",
        )
        logs = [directory / f"worker-{n}.log" for n in (1, 2)]
        processes: list[subprocess.Popen[bytes]] = []
        try:
            for n, log in enumerate(logs, 1):
                command = [str(BIN / "prefect"), "worker", "start", "--pool", POOL]
                command += ["--type", "process", "--limit", "2", "--name", f"forloeb-test-{n}"]
                processes.append(_start(command, env, log))

            def online() -> bool:
                for process, log in zip(processes, logs, strict=True):
                    assert process.poll() is None, f"a worker exited\n{_tail(log)}"
                with _client() as client:
                    names = {w.name for w in client.read_workers_for_work_pool(POOL)}
                return {"forloeb-test-1", "forloeb-test-2"} <= names

            _wait("both workers polling the pool", online, 60, logs[0])
            yield logs
        finally:
            codes = [_stop(process) for process in processes]
            assert None not in codes, f"SIGTERM did not stop a worker: {codes}"

    def test_the_documented_commands_create_the_deployments(self, deployed: dict[str, Any]) -> None:
        assert deployed["pool"].code == 0, deployed["pool"].err + deployed["pool"].out
        assert deployed["deploy"].code == 0, deployed["deploy"].err + deployed["deploy"].out
        found = deployed["deployments"]
        assert all(found.values()), {name: bool(d) for name, d in found.items()}
        assert {d.work_pool_name for d in found.values()} == {POOL}
        assert _interval(found["sweep/sweep"]) == [(timedelta(seconds=300), True)]
        assert found["sweep/sweep"].global_concurrency_limit.limit == 1
        assert found[ACTION].enforce_parameter_schema
        assert found["open-case/open-case"].enforce_parameter_schema

        # A form in the UI: the event is a drop-down, the case id a positive number.
        schema = found[ACTION].parameter_openapi_schema
        action = _resolve(schema, schema["properties"]["action"])
        fields = action["properties"]
        assert "convene" in fields["event"]["enum"] and "conclude" in fields["event"]["enum"]
        assert fields["case_id"]["exclusiveMinimum"] == 0
        assert _formats(fields["at"]) == {"date-time"}
        assert action["required"] == ["case_id", "event"]

    def test_a_valid_action_runs_on_a_worker(
        self, workers: list[Path], pg_store: CaseStore
    ) -> None:
        case_id = open_samraad(pg_store)
        leader = _participant(pg_store, case_id, "school_leader")
        flow_run = _run_deployment(
            {"action": {"case_id": case_id, "event": "convene", "participant_id": leader}},
            workers,
        )
        assert flow_run.state.is_completed(), (flow_run.state.name, flow_run.state.message)
        assert pg_store.snapshot(case_id).state == "convened"
        assert flow_run.name == f"samraad/convene/case-{case_id}"
        assert {"process:samraad", f"case:{case_id}", "state:convened"} <= _tags(flow_run)
        # The database's tag, which a purge goes by, also on a run the UI started.
        assert database_tag(pg_store.engine.url.render_as_string(hide_password=False)) in _tags(
            flow_run
        )

    @pytest.mark.parametrize(
        "mistake", ["no such case", "not allowed now", "not a time", "no UTC offset"]
    )
    def test_bad_input_from_the_ui_fails_with_the_clis_line_and_writes_nothing(
        self,
        mistake: str,
        workers: list[Path],
        pg_store: CaseStore,
        postgres_url: str,
        tmp_path: Path,
    ) -> None:
        case_id = open_samraad(pg_store)
        leader = _participant(pg_store, case_id, "school_leader")
        action: dict[str, Any] = {"case_id": case_id, "event": "convene", "participant_id": leader}
        cli = ["case", "fire", str(case_id), "convene", "--by", LEADER]
        state, code, run_name = "Invalid input", 2, f"samraad/convene/case-{case_id}"
        if mistake == "no such case":
            action["case_id"], cli[2] = 999999, "999999"
            run_name = "no-such-case/convene/case-999999"
        elif mistake == "not allowed now":
            drive_to(pg_store, case_id, "convened")
            state, code, run_name = "Refused", 3, f"samraad/conclude/case-{case_id}"
            conclude = write_json(tmp_path, "conclude.json", CONCLUDE)
            cli = ["case", "fire", str(case_id), "conclude", "--by", LEADER, "--file", conclude]
        else:
            bad = "yesterday" if mistake == "not a time" else "2027-01-04T09:00"
            action["at"] = bad
            cli += ["--at", bad]
        before = dump(postgres_url)

        if mistake == "not allowed now":  # the UI's way: the input staged, its id to Prefect
            staged = run(postgres_url, "case", "stage", *cli[2:], now=NOW)
            assert staged.code == 0, staged.err
            action = {"case_id": case_id, "event": "conclude", "input_id": int(staged.out)}
        flow_run = _run_deployment({"action": action}, workers)
        assert flow_run.state.is_failed(), (flow_run.state.name, flow_run.state.message)
        assert flow_run.state.name == state
        assert flow_run.name == run_name
        assert dump(postgres_url) == before  # a staged input is discarded with the refusal

        refused = run(postgres_url, *cli, now=NOW)
        assert refused.code == code, refused.err
        assert refused.err.count("\n") == 1 and refused.err.startswith("error: "), refused.err
        line = refused.err.removeprefix("error: ").rstrip("\n")
        assert flow_run.state.message == line
        assert dump(postgres_url) == before

    def test_staged_input_from_the_cli_runs_on_a_worker(
        self, workers: list[Path], pg_store: CaseStore, postgres_url: str
    ) -> None:
        case_id = open_samraad(pg_store)
        drive_to(pg_store, case_id, "convened")
        staged = run(
            postgres_url,
            *("case", "stage", str(case_id), "schedule", "--by", LEADER),
            *("--set", "start=2027-01-04T09:00:00+01:00"),
            now=NOW,
        )
        assert staged.code == 0, staged.err
        input_id = int(staged.out)
        assert [row[0] for row in dump(postgres_url)["staged_inputs"]] == [input_id]

        flow_run = _run_deployment(
            {"action": {"case_id": case_id, "event": "schedule", "input_id": input_id}}, workers
        )
        assert flow_run.state.is_completed(), (flow_run.state.name, flow_run.state.message)
        assert flow_run.name == f"samraad/schedule/case-{case_id}"
        shown = pg_store.show(case_id)
        assert shown["state"] == "scheduled"
        assert shown["history"][-1]["actor"] == LEADER  # who acted came from the staged row
        assert dump(postgres_url)["staged_inputs"] == []


# ------------------------------------------------------------------ forloeb serve


@pytest.fixture
def served(
    prefect_api: str, postgres_url: str, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """`forloeb serve`; its deployments have the workers' names, so none may be left."""
    _delete_deployments()
    log = tmp_path / "serve.log"
    env = _env(prefect_api, postgres_url, PREFECT_RUNNER_POLL_FREQUENCY="1")
    command = [str(BIN / "forloeb"), "serve", "--limit", "2", "--interval", str(SERVE_INTERVAL)]
    process = _start(command, env, log)
    try:
        yield process, log
    finally:
        _stop(process)
        _delete_deployments()


def test_forloeb_serve_registers_the_deployments_and_runs_an_action(
    served: tuple[subprocess.Popen[bytes], Path], pg_store: CaseStore
) -> None:
    process, log = served

    def registered() -> bool:
        assert process.poll() is None, f"forloeb serve exited\n{_tail(log)}"
        found = [_deployment(name) for name in DEPLOYMENTS]
        return all(found) and _interval(found[0]) == [(timedelta(seconds=SERVE_INTERVAL), True)]

    _wait("forloeb serve registering its deployments", registered, 90, log)
    action = _deployment(ACTION)
    assert action.work_pool_name is None  # served, not a worker's
    assert action.enforce_parameter_schema

    case_id = open_samraad(pg_store)
    leader = _participant(pg_store, case_id, "school_leader")
    flow_run = _run_deployment(
        {"action": {"case_id": case_id, "event": "convene", "participant_id": leader}}, [log]
    )
    assert flow_run.state.is_completed(), (flow_run.state.name, flow_run.state.message, _tail(log))
    assert flow_run.name == f"samraad/convene/case-{case_id}"
    assert pg_store.snapshot(case_id).state == "convened"

    started = time.monotonic()
    code = _stop(process)
    output = log.read_text(errors="replace")
    assert code is not None, f"SIGTERM did not stop forloeb serve\n{_tail(log)}"
    assert "Traceback" not in output, output
    assert code == 0, (code, _tail(log))
    assert time.monotonic() - started < 30
