"""The commands: one real subprocess end to end, and the one-line errors via CliRunner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from flows.cli import cli as forloeb
from tests.cli_helpers import dump

from .conftest import DIRECTORY, csv_text

STREAK = [("p-1", "vest", 8, f"2026-03-0{d}", "morning", "U") for d in range(2, 7)]


def run(
    db_url: str, *args: str, now: str = "2026-03-06T18:00+01:00"
) -> subprocess.CompletedProcess[str]:
    code = "import sys; from flows.cli import main; main(sys.argv[1:])"
    env = {**os.environ, "FORLOEB_DATABASE_URL": db_url, "FORLOEB_NOW": now}
    env.pop("FORLOEB_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=Path(__file__).parents[2],
    )


def test_import_and_scan_in_a_subprocess(db_url: str, tmp_path: Path) -> None:
    (tmp_path / "schools.csv").write_text(DIRECTORY, encoding="utf-8")
    (tmp_path / "absence.csv").write_text(csv_text(STREAK), encoding="utf-8")
    done = run(db_url, "schools", "import", str(tmp_path / "schools.csv"))
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        "imported 2 schools and 2 teachers\n",
        "",
    )
    done = run(db_url, "absence", "import", str(tmp_path / "absence.csv"))
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "imported 5 rows from absence.csv, 2026-03-02 … 2026-03-06: 5 new or changed, "
        "0 unchanged; new pupils: 1\n"
    )
    assert done.stderr == ""  # no progress bar when stderr is not a terminal
    done = run(db_url, "absence", "scan", "--json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["as_of"] == "2026-03-06"
    assert [(c["pupil_ref"], c["status"], c["thresholds"]) for c in found["cases"]] == [
        ("p-1", "case_opened", ["streak"])
    ]
    assert [(t["kind"], t["quarter"], t["u_days"]) for t in found["tasks"]] == [
        ("contact_parents", "2026Q1", 5.0)
    ]
    done = run(db_url, "absence", "scan")
    assert done.returncode == 0
    assert done.stdout.startswith("scanned 1 pupils as of 2026-03-06")
    assert "0 samråd cases opened" in done.stdout


@pytest.fixture
def cli(db_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("FORLOEB_DATABASE_URL", db_url)
    monkeypatch.setenv("FORLOEB_NOW", "2026-03-06T18:00+01:00")
    monkeypatch.delenv("FORLOEB_DEBUG", raising=False)
    monkeypatch.delenv("FORLOEB_ABSENCE_THRESHOLDS", raising=False)
    return CliRunner()


def one_line(text: str) -> str:
    assert text.endswith("\n") and text.count("\n") == 1, text
    assert text.startswith("error: ")
    return text


def test_a_malformed_file_is_one_line_and_exit_2(
    cli: CliRunner, db_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(csv_text([*STREAK, ("p-1", "vest", 8, "2026-03-09", "morning", "Q")]))
    cli.invoke(forloeb, ["absence", "scan"])  # the schema exists
    before = dump(db_url)
    result = cli.invoke(forloeb, ["absence", "import", str(path)])
    assert result.exit_code == 2
    assert "line 7: code 'Q' is not one of S, L, U, F, T" in one_line(result.stderr)
    assert result.stdout == ""
    assert dump(db_url) == before


def test_a_row_for_another_school_names_the_option(
    cli: CliRunner, db_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "vest.csv"
    path.write_text(csv_text([STREAK[0], ("p-2", "oest", 2, "2026-03-02", "morning", "S")]))
    cli.invoke(forloeb, ["absence", "scan"])  # the schema exists
    before = dump(db_url)
    result = cli.invoke(forloeb, ["absence", "import", str(path), "--school", "vest"])
    assert result.exit_code == 2
    assert "line 3: school 'oest' is not 'vest' (--school)" in one_line(result.stderr)
    assert dump(db_url) == before


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["import", "nowhere.csv"], {}, "cannot read nowhere.csv"),
        (["scan"], {"FORLOEB_NOW": "010203-1234"}, "FORLOEB_NOW is not an ISO 8601 time"),
        (["scan"], {"FORLOEB_ABSENCE_THRESHOLDS": "short=7/x"}, "FORLOEB_ABSENCE_THRESHOLDS"),
        (["scan", "--since", "010203-1234"], {}, "--since is not a date"),
        (["scan", "--since", "0001-01-01"], {}, "--since must lie between the years 2000"),
        (["scan", "--since", "9999-12-31"], {}, "--since must lie between the years 2000"),
        (["scan", "--school", "nord"], {}, "there is no school 'nord'"),
        (
            ["import", __file__, "--school", "a b"],
            {},
            "--school: school 'a b' is not a school code",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    cli: CliRunner,
    args: list[str],
    env: dict[str, str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    result = cli.invoke(forloeb, ["absence", *args])
    assert result.exit_code == 2
    assert message in one_line(result.stderr)
    assert "010203" not in result.stderr  # a CPR number typed for a time or day: not repeated


def test_calendar_and_schools_import_json(cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "cal.csv").write_text("school,first_day,last_day\n*,2026-02-09,2026-02-13\n")
    (tmp_path / "schools.csv").write_text(DIRECTORY)
    result = cli.invoke(forloeb, ["calendar", "import", str(tmp_path / "cal.csv"), "--json"])
    assert (result.exit_code, json.loads(result.stdout)) == (
        0,
        {"periods": 1, "schools": ["*"], "replaced": 0},
    )
    result = cli.invoke(forloeb, ["schools", "import", str(tmp_path / "schools.csv"), "--json"])
    assert (result.exit_code, json.loads(result.stdout)) == (0, {"schools": 2, "teachers": 2})
