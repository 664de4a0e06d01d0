"""Test-fixture prototype: real `prefect server start` (PostgreSQL or SQLite) + process workers."""
from __future__ import annotations
import os, signal, socket, subprocess, sys, time
from pathlib import Path
import httpx

PREFECT = [sys.executable, "-m", "prefect"]
OFFLINE = {"DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_SERVER_UI_ENABLED": "false"}

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]

def start_server(home: Path, db_url: str | None = None, timeout: float = 120) -> tuple[subprocess.Popen, str, float]:
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {**os.environ, **OFFLINE, "PREFECT_HOME": str(home)}
    env.pop("PREFECT_API_URL", None)
    env["PREFECT_API_DATABASE_CONNECTION_URL"] = db_url or f"sqlite+aiosqlite:///{home}/prefect.db"
    t0 = time.monotonic()
    proc = subprocess.Popen([*PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                            env=env, stdout=open(home / "server.log", "wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    api = f"http://127.0.0.1:{port}/api"
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError((home / "server.log").read_text())
        try:
            if httpx.get(f"{api}/ready", timeout=1).status_code == 200:   # /ready also checks the DB
                return proc, api, time.monotonic() - t0
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop(proc); raise TimeoutError("server not ready")

def start_worker(api: str, home: Path, pool: str = "forloeb", name: str = "w", cwd: str | None = None, limit: int | None = None) -> subprocess.Popen:
    env = {**os.environ, **OFFLINE, "PREFECT_HOME": str(home), "PREFECT_API_URL": api,
           "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "1"}
    return subprocess.Popen([*PREFECT, "worker", "start", "--pool", pool, "--name", name, "--type", "process", *(["--limit", str(limit)] if limit else [])],
                            env=env, cwd=cwd, stdout=open(home / f"worker-{name}.log", "wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)

def stop(proc: subprocess.Popen, timeout: float = 20) -> float:
    """SIGTERM (Prefect forwards it gracefully), SIGKILL the group after `timeout`. Returns seconds."""
    t0 = time.monotonic()
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL); proc.wait()
    return time.monotonic() - t0
