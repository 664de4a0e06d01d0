"""The exit-code contract under fuzzing: whatever a coordinator (or an attacker) types into
``case fire`` and ``case open`` — odd events, odd ``--set`` values, odd times, odd case
files — the answer is exit 0, 2, 3 or 4; a refusal is one line on stderr that starts with
``error:`` and leaves every table as it was; nothing is a traceback.

Run in this process (``CliRunner``) with the flow in this process too, against the
session's Prefect server: a few hundred milliseconds per example.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows.cli import cli
from machines import get_process
from persistence import CaseStore, close_stores, ensure_schema, make_engine

from .cli_helpers import dump
from .conftest import LEADER, SAMRAAD_CASE, open_samraad

pytestmark = pytest.mark.xdist_group("prefect")

CONTRACT = {0, 2, 3, 4}
NOW = "2026-12-21T09:00:00+01:00"

#: Text that has broken parsers before: controls, bidi overrides, lone surrogates,
#: huge numbers, deep nesting, CPR-shaped values, SQL and header injection.
NASTY = st.sampled_from(
    [
        "",
        "\x00",
        "\x1b[2J",
        "\u202etxt.exe",
        "\ud800",
        "9" * 5000,
        "[" * 5000,
        "010203-1234",
        "'; DROP TABLE cases; --",
        "a\r\nBcc: x@example.dk",
        "9999-12-31T23:59+14:00",
        "0001-01-01T00:00+14:00",
        "2027-01-04T09:00:00+01:00",
        "nan",
        "-1",
        "true",
        '{"a": 1}',
    ]
)
VALUES = st.one_of(NASTY, st.text(max_size=300), st.integers().map(str))
EVENTS = st.one_of(st.sampled_from([e.name for e in get_process("samraad").events]), st.text())
KEYS = st.one_of(
    st.sampled_from(["start", "minutes", "notes", "reason", "late_reason", "outcome", "at"]),
    st.text(min_size=1, max_size=40),
)


def _invoke(db_url: str, args: list[str]) -> Any:
    close_stores()
    return CliRunner().invoke(
        cli,
        args,
        env={
            "FORLOEB_DATABASE_URL": db_url,
            "FORLOEB_NOW": NOW,
            "FORLOEB_SIMULATED_CLOCK": "1",
            "FORLOEB_RUNNER": "off",
        },
    )


def _holds_the_contract(db_url: str, args: list[str]) -> None:
    before = dump(db_url)
    result = _invoke(db_url, args)
    assert result.exit_code in CONTRACT, (args, result.exit_code, result.output)
    if result.exit_code != 0:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, result.stderr)
        assert "Traceback" not in result.output
        assert dump(db_url) == before, args


@pytest.fixture(scope="module")
def samraad_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, int]:
    db_url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'forloeb.db'}"
    engine = make_engine(db_url)
    ensure_schema(engine)
    case_id = open_samraad(CaseStore(engine))
    engine.dispose()
    return db_url, case_id


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    event=EVENTS,
    sets=st.lists(st.tuples(KEYS, VALUES), max_size=3),
    at=st.one_of(st.none(), VALUES),
    by=st.one_of(st.just(LEADER), VALUES),
)
def test_case_fire_holds_the_exit_code_contract(
    samraad_db: tuple[str, int],
    prefect_api: str,
    event: str,
    sets: list[tuple[str, str]],
    at: str | None,
    by: str,
) -> None:
    db_url, case_id = samraad_db
    args = ["case", "fire", str(case_id), event, "--by", by]
    for key, value in sets:
        args += ["--set", f"{key}={value}"]
    if at is not None:
        args += ["--at", at]
    _holds_the_contract(db_url, args)


PARTICIPANT = st.fixed_dictionaries(
    {"role": st.one_of(st.just("parent"), VALUES), "name": VALUES},
    optional={"email": VALUES, "key": VALUES},
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    changes=st.dictionaries(
        st.sampled_from(["title", "location", "participants", "pupil_ref", "extra"]),
        st.one_of(VALUES, st.lists(PARTICIPANT, max_size=3), st.integers(), st.none()),
        max_size=3,
    )
)
def test_case_open_holds_the_exit_code_contract(
    samraad_db: tuple[str, int],
    prefect_api: str,
    tmp_path: Path,
    changes: dict[str, Any],
) -> None:
    db_url, _ = samraad_db
    path = tmp_path / "case.json"
    path.write_text(json.dumps({**SAMRAAD_CASE, **changes}), encoding="utf-8")
    _holds_the_contract(db_url, ["case", "open", "samraad", "--file", str(path)])
