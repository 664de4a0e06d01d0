"""On-demand local Prefect server for the no-PREFECT_API_URL case.

Started once by the CLI (detached, own session), SQLite in a known dir, output to a log file,
reused by later CLI calls, stopped by `stop_server()` (e.g. `forloeb server stop` / end of `make demo`).
"""
from __future__ import annotations
import fcntl, json, os, signal, socket, subprocess, sys, time
from pathlib import Path
import httpx

OFFLINE_ENV = {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_UI_ENABLED": "false",   # optional; set true to get the UI at http://127.0.0.1:<port>
}

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]

def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False

def ensure_server(home: Path, timeout: float = 60.0) -> str:
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "server.lock", "w") as lock:      # two CLI calls at once start ONE server
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _ensure_server_locked(home, timeout)

def _ensure_server_locked(home: Path, timeout: float) -> str:
    state = home / "server.json"
    if state.exists():
        info = json.loads(state.read_text())
        if _healthy(info["api_url"]):
            return info["api_url"]
    port = _free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, **OFFLINE_ENV,
           "PREFECT_HOME": str(home),
           "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}"}
    env.pop("PREFECT_API_URL", None)
    log = open(home / "server.log", "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)          # survives the CLI process, no SIGINT from the terminal
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"Prefect server exited with {proc.returncode}; see {home/'server.log'}")
        if _healthy(api_url):
            state.write_text(json.dumps({"pid": proc.pid, "api_url": api_url}))
            return api_url
        time.sleep(0.2)
    proc.terminate()
    raise RuntimeError(f"Prefect server did not become healthy in {timeout}s; see {home/'server.log'}")

def stop_server(home: Path, timeout: float = 15.0) -> bool:
    state = home / "server.json"
    if not state.exists():
        return False
    info = json.loads(state.read_text())
    try:
        os.kill(info["pid"], signal.SIGTERM)
    except ProcessLookupError:
        state.unlink(); return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(info["pid"], 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(info["pid"], signal.SIGKILL)
    state.unlink()
    return True
