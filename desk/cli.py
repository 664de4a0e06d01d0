"""``forloeb desk``: serve the desk in the foreground; ``start`` / ``stop`` in the background.

The background desk (started by ``forloeb demo``) is one process with its pid and address
in ``$FORLOEB_HOME/desk/desk.json``, like the embedded Prefect server.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import click
import httpx

from machines import ForloebError

from .settings import desk_home

DEFAULT_PORT = 8765


@dataclass(frozen=True)
class Running:
    pid: int
    url: str


def _state_file() -> Path:
    return desk_home() / "desk.json"


def running() -> Running | None:
    try:
        raw = json.loads(_state_file().read_text())
        found = Running(int(raw["pid"]), str(raw["url"]))
    except (OSError, ValueError, KeyError):
        return None
    try:
        answered = httpx.get(f"{found.url}/log-ind", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        answered = False
    return found if answered else None


def serve(host: str, port: int) -> None:
    import uvicorn

    from .app import create_app

    os.environ.setdefault("FORLOEB_DESK_URL", f"http://{host}:{port}")
    app = create_app()
    app.state.desk.runner.start()  # Prefect once, before the first request
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def start_background(
    host: str = "127.0.0.1", port: int = DEFAULT_PORT, timeout: float = 60
) -> Running:
    """Start the desk as a background process unless it runs; returns its address."""
    found = running()
    if found is not None:
        return found
    home = desk_home()
    home.mkdir(parents=True, exist_ok=True)
    url = f"http://{host}:{port}"
    with open(home / "desk.log", "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "desk", "--host", host, "--port", str(port)],
            env={**os.environ, "FORLOEB_DESK_URL": os.environ.get("FORLOEB_DESK_URL", url)},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _state_file().write_text(json.dumps({"pid": process.pid, "url": url}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ForloebError(f"the desk did not start; see {home / 'desk.log'}")
        found = running()
        if found is not None:
            return found
        time.sleep(0.2)
    process.terminate()
    raise ForloebError(f"the desk did not answer within {timeout:.0f} s; see {home / 'desk.log'}")


def stop(timeout: float = 10.0) -> bool:
    try:
        raw = json.loads(_state_file().read_text())
        pid = int(raw["pid"])
    except (OSError, ValueError, KeyError):
        return False
    _state_file().unlink(missing_ok=True)
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return True


@click.group(invoke_without_command=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(1, 65535))
@click.pass_context
def desk(ctx: click.Context, host: str, port: int) -> None:
    """The coordinators' desk (web): serve it here, or start/stop it in the background."""
    ctx.ensure_object(dict)
    ctx.obj.update(host=host, port=port)
    if ctx.invoked_subcommand is None:
        click.echo(f"the desk at http://{host}:{port} (Ctrl-C stops it)")
        serve(host, port)


@desk.command("start")
@click.pass_context
def desk_start(ctx: click.Context) -> None:
    """Start the desk in the background (as forloeb demo does)."""
    found = start_background(ctx.obj["host"], ctx.obj["port"])
    click.echo(f"the desk at {found.url} (pid {found.pid}); forloeb desk stop stops it")


@desk.command("stop")
def desk_stop() -> None:
    """Stop the background desk."""
    click.echo("stopped the desk" if stop() else "the desk was not running")


def _port_free(host: str, port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def start_for_demo(database_url: str, coordinator: str) -> tuple[str, str]:
    """(the desk's address, a sign-in link for ``coordinator``) for ``forloeb demo``.

    A desk left by an earlier demo shows that demo's database: it is replaced.
    """
    from flows import clock
    from persistence import open_store

    from . import signin
    from .settings import DeskSettings

    stop()
    host = "127.0.0.1"
    port = DEFAULT_PORT if _port_free(host, DEFAULT_PORT) else 0
    if port == 0:
        import socket

        with socket.socket() as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
    os.environ["FORLOEB_DESK_URL"] = f"http://{host}:{port}"
    os.environ["FORLOEB_DATABASE_URL"] = database_url
    found = start_background(host, port)
    issued = signin.issue(
        open_store(database_url).engine, DeskSettings.from_env(), coordinator, "demo", clock.now()
    )
    assert issued.token is not None, "the demo coordinator is on the demo's cases"
    return found.url, f"{found.url}/log-ind/link/{issued.token}"
