"""The desk: an action through the web (HTTP POST to the redirect, the local Prefect
server behind it) with 20 people acting at once, beside ``apply_action`` alone, and how
long after the last answer the actions' flow runs were all recorded; and
*Mine sager* and a case page with 10,000 cases in the database.

The desk runs on a real uvicorn in this process, as ``forloeb desk`` runs it; the people
are signed-in sessions (the cookie made with the desk's own codec: signing in by mail is
not what is measured). SQLite; no SMTP server, so nothing is sent.
"""

from __future__ import annotations

import os
import re
import socket
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from flows import server
from flows.actions import CaseAction, apply_action
from persistence import CaseStore, make_engine, staging

from .common import Row
from .foundation import populate_open_cases
from .prefect import _restored_environment
from .workload import CASE_FILE, LEADER, START

USERS = 20  # acting at once
ROUNDS = 3  # each user fires once per round, on a case of their own
OPEN_CASES = 10_000
PAGE_RUNS = 20
COORDINATOR = "tovholder@kommune.example.dk"  # on 1,000 of the 10,000 cases
ADMIN = "drift@kommune.example.dk"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _session_cookie(app: Any, email: str) -> tuple[str, str]:
    from desk.security import Session, SessionCodec

    session = Session.new(email)
    codec = SessionCodec(app.state.desk.settings)
    return codec.serializer.dumps(session.dump()), session.csrf


def _measure(scratch: Path) -> list[Row]:
    # The cases are opened at START (2027); the desk acts an hour later on the simulated
    # clock (a time before a case's last event is refused: history is in order).
    os.environ["FORLOEB_NOW"] = (START + timedelta(hours=1)).isoformat()
    server.configure()
    from desk.app import create_app
    from desk.settings import DeskSettings

    url = os.environ["FORLOEB_DATABASE_URL"]
    populate_open_cases(url, OPEN_CASES, 1_000)
    store = CaseStore(make_engine(url))
    ours = [store.open_case("samraad", CASE_FILE, START) for _ in range(USERS * ROUNDS + 20)]
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    settings = DeskSettings(secret="b" * 48, base_url=base, admins=frozenset({ADMIN}))
    app = create_app(settings, store=store)
    app.state.desk.runner.start()
    import uvicorn

    web = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=web.run, daemon=True)
    thread.start()
    while not web.started:
        time.sleep(0.05)
    try:
        cookie, csrf = _session_cookie(app, LEADER)

        def act(case_id: int) -> float:
            with httpx.Client(
                base_url=base, cookies={"forloeb_desk": cookie}, timeout=300
            ) as client:
                began = time.perf_counter()
                answer = client.post(
                    f"/sager/{case_id}/handling/convene",
                    data={"csrf": csrf},
                    follow_redirects=True,
                )
                took = time.perf_counter() - began
            if answer.status_code != 200 or "udfoert=convene" not in str(answer.url):
                said = re.search(r'alert-heading">([^<]*)', answer.text)
                log = Path(os.environ["FORLOEB_HOME"]) / "log" / "forloeb.log"
                why = log.read_text()[-3000:] if log.exists() else "(no forloeb log)"
                raise RuntimeError(
                    f"the desk's action failed: {answer.status_code} "
                    f"{said.group(1) if said else ''}\nforloeb's log ends:\n{why}"
                )
            return took * 1000

        act(ours[-1])  # warm-up: the first flow run pays for Prefect's first connection
        desk_ms: list[float] = []
        with ThreadPoolExecutor(USERS) as pool:
            for r in range(ROUNDS):
                desk_ms += pool.map(act, ours[r * USERS : (r + 1) * USERS])
        # Each answer came when its decision was stored; the flow runs are recorded after.
        began = time.perf_counter()
        if not app.state.desk.runner.drain(600):
            raise RuntimeError("the desk's flow runs were not all recorded within 10 minutes")
        recorded_after = time.perf_counter() - began

        plain_ms = []
        for case_id in ours[USERS * ROUNDS : USERS * ROUNDS + 19]:
            input_id = staging.stage_event(store.engine, case_id, "convene", LEADER, {}, START)
            action = CaseAction(
                case_id=case_id,
                event="convene",
                at=(START + timedelta(hours=1)).isoformat(),
                input_id=input_id,
            )
            began = time.perf_counter()
            apply_action(store, action, START + timedelta(hours=1))
            plain_ms.append((time.perf_counter() - began) * 1000)

        def page_ms(email: str, path: str) -> float:
            cookie_, _ = _session_cookie(app, email)
            with httpx.Client(
                base_url=base, cookies={"forloeb_desk": cookie_}, timeout=60
            ) as client:
                client.get(path)  # warm-up
                times = []
                for _ in range(PAGE_RUNS):
                    began = time.perf_counter()
                    answer = client.get(path)
                    times.append((time.perf_counter() - began) * 1000)
                    if answer.status_code != 200:
                        raise RuntimeError(f"{path}: {answer.status_code}")
            return statistics.median(times)

        leader_list = page_ms(LEADER, "/sager")
        coordinator_list = page_ms(COORDINATOR, "/sager")
        admin_list = page_ms(ADMIN, "/sager")
        case_page = page_ms(LEADER, f"/sager/{ours[0]}")
    finally:
        web.should_exit = True
        thread.join(10)
        app.state.desk.runner.stop()
    plain = statistics.median(plain_ms)
    baseline = "apply_action alone, no Prefect (median)"
    return [
        (
            f"desk action, {USERS} users at once: p50",
            statistics.median(desk_ms),
            "ms",
            baseline,
            plain,
        ),
        (
            f"desk action, {USERS} users at once: p95",
            _percentile(desk_ms, 95),
            "ms",
            baseline,
            plain,
        ),
        (
            f"  their {USERS * ROUNDS} flow runs all recorded, s after the last answer",
            recorded_after,
            "s",
            "apply_action alone, no Prefect (median, s)",
            plain / 1000,
        ),
        (
            f"Mine sager, {len(ours)} of {OPEN_CASES:,} cases (median)",
            leader_list,
            "ms",
            "a case page (median)",
            case_page,
        ),
        (
            f"Mine sager, 1,000 of {OPEN_CASES:,} cases (median)",
            coordinator_list,
            "ms",
            "a case page (median)",
            case_page,
        ),
        (
            f"admin's Alle sager, all {OPEN_CASES:,} cases (median)",
            admin_list,
            "ms",
            "a case page (median)",
            case_page,
        ),
    ]


def run() -> list[Row]:
    saved_home = os.environ.get("FORLOEB_HOME")
    try:
        return _run()
    finally:
        if saved_home is None:
            os.environ.pop("FORLOEB_HOME", None)
        else:
            os.environ["FORLOEB_HOME"] = saved_home


def _run() -> list[Row]:
    with (
        _restored_environment(),
        tempfile.TemporaryDirectory(prefix="forloeb-bench-desk-") as tmp,
    ):
        scratch = Path(tmp)
        home = scratch / "prefect-server"
        os.environ.pop("FORLOEB_SMTP_HOST", None)
        os.environ["FORLOEB_DATABASE_URL"] = f"sqlite:///{scratch / 'forloeb.db'}"
        os.environ["FORLOEB_HOME"] = str(scratch / "home")
        info = server.start(home, ui=False)
        try:
            os.environ["PREFECT_API_URL"] = info.api_url
            os.environ["PREFECT_HOME"] = str(scratch / "prefect-client")
            return _measure(scratch)
        finally:
            server.stop(home)
