"""Without PREFECT_API_URL the CLI starts its own Prefect server on first use, quietly,
once, and leaves it for the next command; ``forloeb server stop`` stops it cleanly. One
server per forloeb database, its UI talking to its own API; the demo leaves its flow runs
and the deployments there. The flows of ``case fire`` run in the warm runner."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from flows import runner, server
from flows.serving import DEPLOYMENTS

from ..cli_helpers import FORLOEB, write_json
from ..conftest import LEADER, SAMRAAD_CASE


def _forloeb(
    home: Path, db: str, *args: str, now: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PREFECT_")  # as on a fresh machine: no Prefect settings at all
        # Nor a simulated clock: the demo must set its own (it once failed on a real one).
        and key not in ("FORLOEB_DEBUG", "FORLOEB_RUNNER", "FORLOEB_SIMULATED_CLOCK")
    }
    env |= {"FORLOEB_HOME": str(home), "FORLOEB_DATABASE_URL": db}
    if now is not None:
        env |= {"FORLOEB_NOW": now, "FORLOEB_SIMULATED_CLOCK": "1"}
    return subprocess.run([FORLOEB, *args], env=env, capture_output=True, text=True, timeout=600)


def _server_home(home: Path, db: str) -> Path:
    return home / "prefect" / server.database_key(db)


def _runner_pids(directory: Path) -> list[int]:
    return [json.loads(p.read_text())["pid"] for p in directory.glob("runner-*.json")]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in _proc_state(pid)


def _proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def _ask_runner(directory: Path, **request: object) -> dict[str, object]:
    (state_file,) = directory.glob("runner-*.json")
    state = json.loads(state_file.read_text())
    with socket.create_connection(("127.0.0.1", state["port"]), timeout=10) as sock:
        sock.sendall(json.dumps({"secret": state["secret"], **request}).encode() + b"\n")
        return dict(json.loads(sock.makefile("rb").readline()))


@pytest.mark.xdist_group("embedded-server")
def test_the_first_commands_start_one_server_quietly_and_stop_cleanly(tmp_path: Path) -> None:
    home, db = tmp_path / "home", f"sqlite:///{tmp_path / 'forloeb.db'}"
    case_file = write_json(tmp_path, "case.json", SAMRAAD_CASE)
    opened = _forloeb(home, db, "case", "open", "samraad", "--file", case_file,
                      now="2026-12-21T08:30:00+01:00")  # fmt: skip
    assert (opened.returncode, opened.stderr) == (0, ""), opened.stderr
    case_id = opened.stdout.strip()
    directory = _server_home(home, db)
    info = server.running(directory)
    assert info is not None
    (runner_pid,) = _runner_pids(directory)  # the flow ran in the warm runner

    # Two commands at once reuse that server (the lock and the state file), quietly.
    def convene(_: int) -> subprocess.CompletedProcess[str]:
        fire = ("case", "fire", case_id, "convene", "--by", LEADER)
        return _forloeb(home, db, *fire, now="2026-12-21T09:00:00+01:00")

    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(convene, range(2)))
    codes = sorted(r.returncode for r in runs)
    assert codes in ([0, 3], [0, 4]), [r.stderr for r in runs]  # one wins; no traceback
    assert all("Traceback" not in r.stderr for r in runs)
    assert server.running(directory) == info
    assert _runner_pids(directory) == [runner_pid]  # the same runner served both

    # It serves only requests with its secret and for its own settings.
    (key,) = [p.stem.removeprefix("runner-") for p in directory.glob("runner-*.json")]
    wrong_secret = _ask_runner(directory, secret="0" * 64, key=key, flow="sweep")
    assert "without its secret" in str(wrong_secret["error"])
    other_settings = _ask_runner(directory, key="0" * 16, flow="sweep", parameters={})
    assert "for other settings" in str(other_settings["error"])

    stopped = _forloeb(home, db, "server", "stop", now="2026-12-21T09:05:00+01:00")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert server.running(directory) is None
    assert not _alive(runner_pid) and _runner_pids(directory) == []
    log = (directory / "server.log").read_text()
    assert "Traceback" not in log and "database is locked" not in log
    assert "Traceback" not in (directory / "runner.log").read_text()


def test_a_server_that_cannot_start_is_one_line(tmp_path: Path) -> None:
    home, db = tmp_path / "home", f"sqlite:///{tmp_path / 'db.sqlite'}"
    directory = _server_home(home, db)
    directory.mkdir(parents=True)
    (directory / "server.lock").mkdir()  # cannot be opened as the lock file
    case_file = write_json(tmp_path, "case.json", SAMRAAD_CASE)
    result = _forloeb(home, db, "case", "open", "samraad",
                      "--file", case_file, now="2026-12-21T08:30:00+01:00")  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert f"cannot use {directory} for the Prefect server" in result.stderr


def _post(api_url: str, path: str) -> Any:
    response = httpx.post(f"{api_url}{path}", json={}, timeout=30)
    response.raise_for_status()
    return response.json()


@pytest.mark.xdist_group("embedded-server")
def test_the_demo_leaves_runs_and_deployments_in_a_ui_that_talks_to_its_own_server(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    demo_db = f"sqlite:///{home / 'demo' / 'demo.db'}"
    demo = _forloeb(home, demo_db, "demo", "--mail-dir", str(tmp_path / "mail"))
    assert demo.returncode == 0, demo.stderr
    info = server.running(_server_home(home, demo_db))
    assert info is not None and info.ui_url in demo.stdout
    try:
        # The UI asks the server that serves it where the API is: that same server.
        settings = httpx.get(f"{info.ui_url}/ui-settings", timeout=10).json()
        assert settings["api_url"] == info.api_url
        page = httpx.get(
            f"{info.ui_url}/", headers={"Accept": "text/html"}, timeout=10, follow_redirects=True
        )
        assert page.status_code == 200 and "<html" in page.text.lower()

        deployments = _post(info.api_url, "/deployments/filter")
        flows = {f["id"]: f["name"] for f in _post(info.api_url, "/flows/filter")}
        names = {f"{flows[d['flow_id']]}/{d['name']}" for d in deployments}
        assert names == set(DEPLOYMENTS)
        paused = {d["name"]: d["paused"] for d in deployments}
        assert paused["sweep"] and not paused["coordinator-action"]  # no late sweeps pile up
        assert int(_post(info.api_url, "/flow_runs/count")) > 30

        # Another database on the same machine, same FORLOEB_HOME: a server of its own,
        # and stopping it leaves the demo's server alone.
        other_db = f"sqlite:///{tmp_path / 'other.db'}"
        case_file = write_json(tmp_path, "case.json", SAMRAAD_CASE)
        opened = _forloeb(home, other_db, "case", "open", "samraad", "--file", case_file,
                          now="2026-12-21T08:30:00+01:00")  # fmt: skip
        assert opened.returncode == 0, opened.stderr
        other = server.running(_server_home(home, other_db))
        assert other is not None and other.api_url != info.api_url
        assert _forloeb(home, other_db, "server", "stop").returncode == 0
        assert server.running(_server_home(home, other_db)) is None
        assert server.running(_server_home(home, demo_db)) == info
    finally:
        stopped = _forloeb(home, demo_db, "server", "stop")
        assert stopped.returncode == 0 and "stopped" in stopped.stdout
        server.stop(_server_home(home, f"sqlite:///{tmp_path / 'other.db'}"))
    assert server.running(_server_home(home, demo_db)) is None


def test_each_database_has_its_own_server_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a").mkdir()
    relative = server.database_key("sqlite:///forloeb.db")
    assert relative == server.database_key(f"sqlite:///{tmp_path / 'a' / '..' / 'forloeb.db'}")
    assert relative.startswith("forloeb-")
    monkeypatch.chdir(tmp_path / "a")  # another checkout: the same URL, another file
    assert server.database_key("sqlite:///forloeb.db") != relative
    # A password is not part of a database's identity (nor written into a directory name).
    first = server.database_key("postgresql://forloeb:secret@db.example/forloeb")
    assert first == server.database_key("postgresql://forloeb:other@db.example/forloeb")
    assert "secret" not in first
    assert first != server.database_key("postgresql://forloeb@db.example/forloeb_test")
    monkeypatch.setenv("FORLOEB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FORLOEB_DATABASE_URL", "sqlite:///x.db")
    assert server.home() == tmp_path / "home" / "prefect" / server.database_key("sqlite:///x.db")


def test_a_runner_is_keyed_by_every_setting_that_changes_a_flow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base = {"FORLOEB_DATABASE_URL": "sqlite:///a.db", "HOME": "/root"}
    key = runner.settings_key("http://127.0.0.1:1/api", base)
    assert key == runner.settings_key("http://127.0.0.1:1/api", base | {"HOME": "/elsewhere"})
    assert key == runner.settings_key("http://127.0.0.1:1/api", base | {"FORLOEB_NOW": "x"})
    for changed in (
        {"FORLOEB_DATABASE_URL": "sqlite:///b.db"},
        {"FORLOEB_EXTRA_DAYS_OFF": "2027-01-04"},
        {"FORLOEB_SMTP_HOST": "mail.example"},
        {"PREFECT_LOGGING_LEVEL": "DEBUG"},
    ):
        assert runner.settings_key("http://127.0.0.1:1/api", base | changed) != key
    assert runner.settings_key("http://127.0.0.1:2/api", base) != key  # another server
