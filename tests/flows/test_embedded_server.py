"""Without PREFECT_API_URL the CLI starts its own Prefect server on first use, quietly,
once, and leaves it for the next command; ``forloeb server stop`` stops it cleanly."""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from flows import server

from ..cli_helpers import FORLOEB, write_json
from ..conftest import LEADER, SAMRAAD_CASE


def _forloeb(home: Path, db: str, *args: str, now: str) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PREFECT_")  # as on a fresh machine: no Prefect settings at all
    }
    env |= {"FORLOEB_HOME": str(home), "FORLOEB_DATABASE_URL": db, "FORLOEB_NOW": now}
    return subprocess.run([FORLOEB, *args], env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.xdist_group("embedded-server")
def test_the_first_commands_start_one_server_quietly_and_stop_cleanly(tmp_path: Path) -> None:
    home, db = tmp_path / "home", f"sqlite:///{tmp_path / 'forloeb.db'}"
    case_file = write_json(tmp_path, "case.json", SAMRAAD_CASE)
    opened = _forloeb(home, db, "case", "open", "samraad", "--file", case_file,
                      now="2026-12-21T08:30:00+01:00")  # fmt: skip
    assert (opened.returncode, opened.stderr) == (0, ""), opened.stderr
    case_id = opened.stdout.strip()
    info = server.running(home / "prefect")
    assert info is not None

    # Two commands at once reuse that server (the lock and the state file), quietly.
    def convene(_: int) -> subprocess.CompletedProcess[str]:
        fire = ("case", "fire", case_id, "convene", "--by", LEADER)
        return _forloeb(home, db, *fire, now="2026-12-21T09:00:00+01:00")

    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(convene, range(2)))
    codes = sorted(r.returncode for r in runs)
    assert codes in ([0, 3], [0, 4]), [r.stderr for r in runs]  # one wins; no traceback
    assert all("Traceback" not in r.stderr for r in runs)
    assert server.running(home / "prefect") == info

    stopped = _forloeb(home, db, "server", "stop", now="2026-12-21T09:05:00+01:00")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert server.running(home / "prefect") is None
    log = (home / "prefect" / "server.log").read_text()
    assert "Traceback" not in log and "database is locked" not in log


def test_a_server_that_cannot_start_is_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "prefect").mkdir(parents=True)
    (home / "prefect" / "server.lock").mkdir()  # cannot be opened as the lock file
    case_file = write_json(tmp_path, "case.json", SAMRAAD_CASE)
    result = _forloeb(home, f"sqlite:///{tmp_path / 'db.sqlite'}", "case", "open", "samraad",
                      "--file", case_file, now="2026-12-21T08:30:00+01:00")  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert f"cannot use {home / 'prefect'} for the Prefect server" in result.stderr
