"""One real ``prefect server start`` per test session, shared by the xdist workers.

The controller picks the server's home and port in ``pytest_configure`` and puts
``PREFECT_API_URL`` in the environment before any worker or test imports prefect (Prefect
reads its settings once). The server itself starts on first use (``ensure()``; a file lock
makes the workers start one), on PostgreSQL when ``FORLOEB_TEST_POSTGRES_URL`` is set (as
in CI), else on SQLite; the controller stops it and drops its database at the end.
"""

from __future__ import annotations

import os
import socket
import tempfile
import uuid
from pathlib import Path

import psycopg

from flows import server

HOME = "FORLOEB_TEST_PREFECT_HOME"
DATABASE = "FORLOEB_TEST_PREFECT_DATABASE"


def configure_session() -> None:
    """In the controller: choose where the session's server lives (workers inherit it)."""
    home = Path(tempfile.mkdtemp(prefix="forloeb-prefect-"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    os.environ[HOME] = str(home)
    os.environ["PREFECT_API_URL"] = f"http://127.0.0.1:{port}/api"
    os.environ["PREFECT_HOME"] = str(home / "client")
    os.environ["PREFECT_SERVER_EPHEMERAL_ENABLED"] = "false"
    os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] = "CRITICAL"
    for key, value in server.OFFLINE.items():
        os.environ[key] = value
    pg = os.environ.get("FORLOEB_TEST_POSTGRES_URL")
    if pg:
        name = f"forloeb_prefect_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(pg, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        base = pg.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
        os.environ[DATABASE] = f"{base}/{name}"


def ensure() -> str:
    """The session's Prefect API URL, the server started if it is not up yet."""
    home = Path(os.environ[HOME])
    port = int(os.environ["PREFECT_API_URL"].rsplit(":", 1)[1].split("/")[0])
    info = server.start(home, database_url=os.environ.get(DATABASE), ui=False, port=port)
    return info.api_url


def finish_session() -> None:
    """In the controller, after every worker is done."""
    home = os.environ.get(HOME)
    if home:
        server.stop(Path(home))
    database = os.environ.get(DATABASE)
    pg = os.environ.get("FORLOEB_TEST_POSTGRES_URL")
    if database and pg:
        name = database.rsplit("/", 1)[1]
        with psycopg.connect(pg, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
