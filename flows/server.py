"""Where Prefect runs when nobody said: a local ``prefect server start``, started on demand.

With ``PREFECT_API_URL`` set, flows report to that server and nothing here starts one.
Without it, the first command that runs a flow starts a real Prefect server on a free
loopback port with its own SQLite under ``$FORLOEB_HOME/prefect/<database key>`` (default
``~/.forloeb/prefect/…``) and leaves it running for the next command; ``forloeb server stop``
stops it. The key is derived from forloeb's own database (``FORLOEB_DATABASE_URL``, resolved):
two checkouts or two databases on one machine each get a server of their own, and one's
``server stop`` never stops the other's. Why not Prefect's temporary server: it is started
and killed around every command (5–17 s each here), and killing it while its event
pipeline still holds task-run events loses them and logs tracebacks
(docs/prefect-research/NOTES.md §1).

``configure()`` must run before ``prefect`` is imported: Prefect reads its settings once.
Nothing in this module imports prefect.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from machines import ForloebError
from persistence.database import database_url as resolved_database_url

#: The machines have no internet: no telemetry from the client or the server.
OFFLINE = {"DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
START_TIMEOUT = 120.0  # a first start runs Prefect's migrations: 7–17 s on a busy machine


@dataclass(frozen=True)
class ServerInfo:
    pid: int
    api_url: str
    home: Path

    @property
    def ui_url(self) -> str:
        return self.api_url.removesuffix("/api")


def base() -> Path:
    return Path(os.environ.get("FORLOEB_HOME") or "~/.forloeb").expanduser()


def database_key(url: str | None = None) -> str:
    """``forloeb-3f9c1a2b7d4e``: which forloeb database a server belongs to, as a name.

    A SQLite file is known by its absolute path (``sqlite:///forloeb.db`` in two checkouts
    is two databases); any other database by its URL without the password. The readable
    part is only a label: the hash tells them apart.
    """
    resolved = resolved_database_url(url)
    try:
        parsed = make_url(resolved)
    except ArgumentError:
        identity, label = resolved, "database"
    else:
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            path = Path(str(parsed.database)).expanduser().resolve()
            identity, label = f"sqlite:{path}", path.stem
        else:
            identity = parsed.render_as_string(hide_password=True)
            label = parsed.database or parsed.get_backend_name()
    digest = hashlib.sha256(identity.encode()).hexdigest()[:12]
    return f"{re.sub(r'[^A-Za-z0-9_-]+', '-', label)[:24] or 'database'}-{digest}"


def database_tag(url: str | None = None) -> str:
    """``db:3f9c1a2b7d4e``: the tag every flow run gets for the database it worked on.

    Case ids are per database; where several databases share one Prefect server (a test
    suite, a shared server for staging and training), a purge must delete the runs of
    *its* ``case:N`` only. A hash, so no path or host name reaches Prefect.
    """
    return "db:" + database_key(url).rsplit("-", 1)[1]


def home(database_url: str | None = None) -> Path:
    """The embedded server's directory for this forloeb database (``FORLOEB_DATABASE_URL``)."""
    return base() / "prefect" / database_key(database_url)


def healthy(api_url: str, timeout: float = 1.0) -> bool:
    try:
        return httpx.get(f"{api_url}/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _read_state(directory: Path) -> ServerInfo | None:
    try:
        raw = json.loads((directory / "server.json").read_text())
        return ServerInfo(int(raw["pid"]), str(raw["api_url"]), directory)
    except (OSError, ValueError, KeyError):
        return None


def _is_our_process(info: ServerInfo) -> bool:
    """The recorded pid still runs the server on the recorded port.

    After a crash or a reboot the port (or the pid) may belong to someone else, e.g. the
    server of another database: answering its /health must not make it ours to use or stop.
    """
    port = info.api_url.rsplit(":", 1)[-1].split("/", 1)[0]
    try:
        cmdline = Path(f"/proc/{info.pid}/cmdline").read_bytes().split(b"\0")
    except FileNotFoundError:
        return False
    except OSError:  # no /proc (not Linux): the pid alone
        try:
            os.kill(info.pid, 0)
        except ProcessLookupError:
            return False
        return True
    return b"server" in cmdline and port.encode() in cmdline


def running(directory: Path | None = None) -> ServerInfo | None:
    """The embedded server, if it is up."""
    directory = directory or home()
    info = _read_state(directory)
    if info is None or not _is_our_process(info):
        return None
    return info if healthy(info.api_url) else None


def start(
    directory: Path | None = None,
    *,
    database_url: str | None = None,
    ui: bool = True,
    port: int | None = None,
    timeout: float = START_TIMEOUT,
) -> ServerInfo:
    """Start the embedded server unless it is up; two commands at once start one server.

    ``database_url``: the server's own database (``sqlite+aiosqlite:///…`` by default,
    ``postgresql+asyncpg://…`` for a shared one); never forloeb's database.
    """
    directory = directory or home()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        lock = open(directory / "server.lock", "w")  # noqa: SIM115 (closed by the with below)
    except OSError as exc:
        raise ForloebError(
            f"cannot use {directory} for the Prefect server ({exc.strerror}); "
            "set FORLOEB_HOME to a writable directory, or PREFECT_API_URL to a server"
        ) from None
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        info = running(directory)
        if info is not None:
            return info
        port = port or _free_port()
        api_url = f"http://127.0.0.1:{port}/api"
        env = {
            **os.environ,
            **OFFLINE,
            "PREFECT_HOME": str(directory),
            "PREFECT_API_DATABASE_CONNECTION_URL": database_url
            or f"sqlite+aiosqlite:///{directory / 'prefect.db'}",
            "PREFECT_SERVER_UI_ENABLED": "true" if ui else "false",
            # The UI asks its own server for the API's address (/ui-settings); unset, it
            # says Prefect's default port 4200, not the free port chosen here.
            "PREFECT_SERVER_UI_API_URL": api_url,
            "PREFECT_SERVER_API_HOST": "127.0.0.1",
            "PREFECT_SERVER_API_PORT": str(port),
        }
        env.pop("PREFECT_API_URL", None)
        with open(directory / "server.log", "ab") as log:
            command = [sys.executable, "-m", "prefect", "server", "start"]
            process = subprocess.Popen(
                [*command, "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,  # never the user's terminal
                stderr=subprocess.STDOUT,
                start_new_session=True,  # outlives this command; not killed by its Ctrl-C
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ForloebError(
                    f"the Prefect server did not start; see {directory / 'server.log'}"
                )
            if healthy(api_url):
                info = ServerInfo(process.pid, api_url, directory)
                (directory / "server.json").write_text(
                    json.dumps({"pid": info.pid, "api_url": info.api_url})
                )
                return info
            time.sleep(0.2)
        process.terminate()
        raise ForloebError(
            f"the Prefect server did not answer within {timeout:.0f} s; "
            f"see {directory / 'server.log'}"
        )


def stop(directory: Path | None = None, timeout: float = 20.0) -> bool:
    """Stop the embedded server (SIGTERM lets it flush its events). False: none was running."""
    directory = directory or home()
    from . import runner

    runner.stop(directory)  # it runs flows against this server: it goes first
    info = _read_state(directory)
    if info is None:
        return False
    (directory / "server.json").unlink(missing_ok=True)
    if not _is_our_process(info):
        return False  # it died earlier; its pid and port may be someone else's now
    try:
        os.kill(info.pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(info.pid, 0)
        except ProcessLookupError:
            return True
        with contextlib.suppress(ChildProcessError):
            os.waitpid(info.pid, os.WNOHANG)  # reap it when it is our own child
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(info.pid, signal.SIGKILL)
    return True


def configure(*, quiet: bool = True, directory: Path | None = None) -> str:
    """Point this process's Prefect client at a server; returns the API URL.

    Call before importing prefect. ``quiet``: Prefect's own console output is kept off
    the coordinator's terminal (the logs still go to the server, for ops).
    """
    for key, value in OFFLINE.items():
        os.environ.setdefault(key, value)
    # Never Prefect's temporary server (slow, and it loses events when it is killed).
    os.environ["PREFECT_SERVER_EPHEMERAL_ENABLED"] = "false"
    if quiet and os.environ.get("FORLOEB_DEBUG") != "1":
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    # "Still processing items: N" at exit is benign: the queue is drained before exit.
    logging.getLogger("EventsWorker").setLevel(logging.ERROR)
    # Our own warnings (e.g. "sending without TLS") still reach stderr: Prefect's console
    # handler on the root logger, which would carry them, is quiet.
    ours = logging.getLogger("forloeb")
    if not ours.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler.setLevel(logging.WARNING)
        ours.addHandler(handler)
        ours.propagate = False
    url = os.environ.get("PREFECT_API_URL")
    if not url:
        info = start(directory)
        url = os.environ["PREFECT_API_URL"] = info.api_url
        os.environ.setdefault("PREFECT_HOME", str(info.home))
        os.environ.setdefault("PREFECT_UI_URL", info.ui_url)  # the links in Prefect's logs
    return url
