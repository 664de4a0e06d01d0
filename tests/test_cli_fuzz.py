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
#: After the last event of the handover and the learning group below.
LATER = "2027-03-01T11:00:00+01:00"

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


def _invoke(db_url: str, args: list[str], now: str = NOW) -> Any:
    close_stores()
    return CliRunner().invoke(
        cli,
        args,
        env={
            "FORLOEB_DATABASE_URL": db_url,
            "FORLOEB_NOW": now,
            "FORLOEB_SIMULATED_CLOCK": "1",
            "FORLOEB_RUNNER": "off",
        },
    )


def _holds_the_contract(db_url: str, args: list[str], now: str = NOW) -> None:
    before = dump(db_url)
    result = _invoke(db_url, args, now)
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


#: A mapping typed by someone, keyed by what may be a name, a CPR number or control text.
TYPED_MAPPINGS = st.dictionaries(st.one_of(NASTY, st.text(max_size=40)), VALUES, max_size=3).map(
    json.dumps
)


@pytest.fixture(scope="module")
def other_processes_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, int]]:
    """A handover at its form (sections keyed by name) and a running learning group (notes
    keyed by wheel area, recurring sessions): the inputs the samråd has not."""
    from .test_handover_rules import drive, open_handover
    from .test_learning_group_rules import running

    db_url = f"sqlite:///{tmp_path_factory.mktemp('fuzz-all') / 'forloeb.db'}"
    engine = make_engine(db_url)
    ensure_schema(engine)
    store = CaseStore(engine)
    handover = open_handover(store)
    drive(store, handover, "home_visit_scheduled")
    cases = {"handover": handover, "learning_group": running(store)}
    engine.dispose()
    return db_url, cases


def _fields(process: str) -> list[str]:
    return sorted(
        {name for e in get_process(process).events if e.input for name in e.input.model_fields}
    )


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_every_process_holds_the_exit_code_contract(
    other_processes_db: tuple[str, dict[str, int]], prefect_api: str, data: st.DataObject
) -> None:
    from .test_handover_rules import NURSE
    from .test_learning_group_rules import PEDAGOGUE

    db_url, cases = other_processes_db
    process = data.draw(st.sampled_from(sorted(cases)))
    # Its own events and fields: odd event names and keys are the samråd test's part.
    event = data.draw(st.sampled_from([e.name for e in get_process(process).events]))
    keys = st.sampled_from(_fields(process))
    sets = data.draw(st.lists(st.tuples(keys, st.one_of(TYPED_MAPPINGS, VALUES)), max_size=3))
    by = data.draw(st.one_of(st.sampled_from([NURSE, PEDAGOGUE]), VALUES))
    args = ["case", "fire", str(cases[process]), event, "--by", by]
    for key, value in sets:
        args += ["--set", f"{key}={value}"]
    _holds_the_contract(db_url, args, LATER)


def test_a_section_typed_as_a_name_and_a_header_is_one_line_that_repeats_neither(
    other_processes_db: tuple[str, dict[str, int]], prefect_api: str
) -> None:
    # Found by hand, too rare for the examples above: a key of the handover form.
    from .test_handover_rules import NURSE

    db_url, cases = other_processes_db
    typed = json.dumps({"Ida Æblegaard 010203-1234\r\nBcc: x@example.dk": "y"})
    args = ["case", "fire", str(cases["handover"]), "complete_form", "--by", NURSE]
    _holds_the_contract(db_url, [*args, "--set", f"sections={typed}"], LATER)
    said = _invoke(db_url, [*args, "--set", f"sections={typed}"], LATER).stderr
    assert "Æblegaard" not in said and "010203" not in said and "Bcc" not in said
