"""The CLI contract: exit codes, one-line errors, and nothing written on bad input."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from persistence import CaseRow, make_engine

from .cli_helpers import dump, run, write_json
from .conftest import LEADER, SAMRAAD_CASE

NOW = "2026-12-21T09:00:00+01:00"


def _open(db_url: str, tmp_path: Path) -> int:
    result = run(
        db_url,
        "case",
        "open",
        "samraad",
        "--file",
        write_json(tmp_path, "case.json", SAMRAAD_CASE),
        now=NOW,
    )
    assert result.code == 0, result.err
    return int(result.out)


def _one_line_error(result: Any, code: int, *fragments: str) -> None:
    assert result.code == code, (result.code, result.out, result.err)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.err
    for fragment in fragments:
        assert fragment in lines[0]


def test_open_prints_the_new_case_id_and_show_json_has_the_contract_fields(
    db_url: str, tmp_path: Path
) -> None:
    case_id = _open(db_url, tmp_path)
    # The leader, a participant, sees the whole history; the operator's view has no context.
    shown = run(db_url, "case", "show", str(case_id), "--by", LEADER, "--json").json()
    assert {
        "id",
        "process",
        "state",
        "version",
        "participants",
        "meetings",
        "timers",
        "history",
        "outbox",
    } <= set(shown)
    assert shown["state"] == "concern" and shown["version"] == 1
    assert shown["history"] == [
        {"at": NOW, "event": "open", "source": None, "dest": "concern", "actor": "cli",
         "context": {"os_user": getpass.getuser(), "simulated_clock": True}}
    ]  # fmt: skip
    listed = run(db_url, "case", "list", "--json").json()
    assert [(c["id"], c["state"]) for c in listed] == [(case_id, "concern")]


def test_fire_with_set_values_and_a_file(db_url: str, tmp_path: Path) -> None:
    case_id = _open(db_url, tmp_path)
    fired = run(db_url, "case", "fire", str(case_id), "convene", "--by", LEADER, now=NOW)
    assert fired.code == 0, fired.err
    assert fired.out.startswith(
        f"case {case_id}: concern → convened (convene); next: deadline_warning"
    )
    fired = run(
        db_url,
        "case",
        "fire",
        str(case_id),
        "schedule",
        "--by",
        LEADER,
        "--set",
        "start=2027-01-04T09:00:00+01:00",
        "--set",
        "minutes=60",
        now=NOW,
    )
    assert fired.code == 0, fired.err
    meeting = run(db_url, "case", "show", str(case_id), "--json").json()["meetings"][0]
    assert (meeting["start"], meeting["end"]) == (
        "2027-01-04T09:00:00+01:00",
        "2027-01-04T10:00:00+01:00",
    )
    present = write_json(tmp_path, "present.json", {"present": ["elev", "mor", "leder", "ppr-i"]})
    fired = run(
        db_url,
        "case",
        "fire",
        str(case_id),
        "start_meeting",
        "--by",
        "ppr-i@ppr.example.dk",
        "--file",
        present,
        "--json",
        now="2027-01-04T09:00:00+01:00",
    )
    assert fired.json()["dest"] == "round_1"


def test_the_plain_list_has_one_line_per_case_and_shows_no_control_characters(
    db_url: str, tmp_path: Path
) -> None:
    quiet = _open(db_url, tmp_path)
    convened = _open(db_url, tmp_path)
    run(db_url, "case", "fire", str(convened), "convene", "--by", LEADER, now=NOW)
    # Input checks refuse such a title; one may still come from an older release's rows.
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(
            update(CaseRow)
            .where(CaseRow.id == convened)
            .values(title="Skolen \x1b[2J ved \u202eSøerne")
        )
    engine.dispose()
    due = run(db_url, "case", "show", str(convened), "--json").json()["timers"][0]["due"]
    lines = run(db_url, "case", "list", now=NOW).out.splitlines()
    assert lines[0].split() == ["id", "process", "state", "title", "next", "timer", "overdue"]
    assert lines[1].split() == [str(quiet), "samraad", "concern", "Skolen", "ved", "Søerne", "—"]
    assert lines[2].split() == [
        str(convened),
        "samraad",
        "convened",
        "Skolen",
        "\\x1b[2J",
        "ved",
        "\\u202eSøerne",
        due[:10],
        due[11:16],
    ]
    assert len(lines) == 3 and "\x1b" not in "".join(lines)


def test_overdue_listing_and_sweep(db_url: str, tmp_path: Path) -> None:
    case_id = _open(db_url, tmp_path)
    run(db_url, "case", "fire", str(case_id), "convene", "--by", LEADER, now=NOW)
    assert (
        run(db_url, "case", "list", "--overdue", "--json", now="2027-01-04T09:00:00+01:00").json()
        != []
    )
    swept = run(db_url, "sweep", now="2027-01-06T08:00:00+01:00")
    assert (
        swept.out.strip()
        == "sweep: 2 timer(s) fired (samraad/deadline_passed: 1, samraad/deadline_warning: 1)"
    )
    overdue = run(
        db_url, "case", "list", "--overdue", "--json", now="2027-01-06T08:00:00+01:00"
    ).json()
    assert [(c["id"], c["state"], c["overdue"]) for c in overdue] == [(case_id, "overdue", True)]
    assert run(db_url, "case", "list", "--state", "concern", "--json").json() == []


def test_process_commands(db_url: str) -> None:
    assert run(db_url, "process", "check").out.startswith("samraad: ok")
    described = run(db_url, "process", "show", "samraad", "--json").json()
    schedule = next(e for e in described["events"] if e["name"] == "schedule")
    assert schedule["input_schema"]["required"] == ["start"]
    assert schedule["roles"] == ["coordinator", "school_leader"]
    assert run(db_url, "process", "show", "samraad", "--mermaid").out.startswith("stateDiagram-v2")


def test_case_show_mermaid_marks_the_current_state(db_url: str, tmp_path: Path) -> None:
    case_id = _open(db_url, tmp_path)
    assert "class concern current" in run(db_url, "case", "show", str(case_id), "--mermaid").out


BAD_CASE_FILES: list[tuple[str, Any, str]] = [
    ("malformed JSON", '{"title": "x",', "is not valid JSON (line 1"),
    (
        "unknown role",
        {**SAMRAAD_CASE, "participants": [{"role": "janitor", "name": "x"}]},
        "an unknown role; roles of samraad: pupil, parent",
    ),
    (
        "duplicate key",
        {
            **SAMRAAD_CASE,
            "participants": [
                {"key": "a", "role": "pupil", "name": "x"},
                {"key": "a", "role": "parent", "name": "y"},
            ],
        },
        "a participant key is used twice",
    ),
    (
        "bad e-mail",
        {
            **SAMRAAD_CASE,
            "participants": [{"role": "pupil", "name": "x", "email": "not-an-address"}],
        },
        "not a usable e-mail address",
    ),
    (
        "non-ASCII e-mail",
        {
            **SAMRAAD_CASE,
            "participants": [{"role": "pupil", "name": "x", "email": "søren@eksempel.dk"}],
        },
        "not a usable e-mail address",
    ),
    (
        "CR/LF in a name",
        {**SAMRAAD_CASE, "participants": [{"role": "pupil", "name": "x\r\nBcc: evil@example.com"}]},
        "must be a single line",
    ),
    (
        "unknown field",
        # A key the case file does not have is typed, and may be anything: not repeated.
        {**SAMRAAD_CASE, "010203-1234": "x"},
        "case file: (not repeated): Extra inputs are not permitted",
    ),
    ("not an object", "[1, 2]", "must hold a JSON object"),
]


@pytest.mark.parametrize(
    ("what", "content", "message"), BAD_CASE_FILES, ids=[c[0] for c in BAD_CASE_FILES]
)
def test_a_bad_case_file_is_refused_in_one_line_and_nothing_is_written(
    db_url: str, tmp_path: Path, what: str, content: Any, message: str
) -> None:
    before = dump(db_url)
    result = run(
        db_url,
        "case",
        "open",
        "samraad",
        "--file",
        write_json(tmp_path, "bad.json", content),
        now=NOW,
    )
    _one_line_error(result, 2, message)
    assert "010203" not in result.err  # nothing typed in a CPR number's shape is repeated
    assert dump(db_url) == before


def test_a_missing_case_file_is_invalid_input(db_url: str, tmp_path: Path) -> None:
    _one_line_error(
        run(db_url, "case", "open", "samraad", "--file", str(tmp_path / "nope.json")),
        2,
        "cannot read",
    )


def test_the_error_line_shows_control_characters_escaped_and_stays_one_line(
    db_url: str, tmp_path: Path
) -> None:
    # The safety net under every message: whatever a message came to hold (here a path as
    # typed), a terminal is given no escape, bell, direction override or line break.
    typed = str(tmp_path / "nope\x1b[2J\u202e\x07\r\nBcc: x@example.dk.json")
    result = run(db_url, "case", "stage-open", "samraad", "--file", typed)
    _one_line_error(result, 2, "cannot read", "nope\\x1b[2J\\u202e\\x07\\r\\nBcc")
    assert not any(ch in result.err for ch in "\x1b\u202e\x07\r")


BAD_EVENTS: list[tuple[str, list[str], int, str]] = [
    ("unknown case", ["case", "fire", "999", "convene", "--by", LEADER], 2, "there is no case 999"),
    (
        "unknown event",
        ["case", "fire", "{id}", "explode", "--by", LEADER],
        2,
        "is not an event of any process",
    ),
    (
        "another process's event",
        ["case", "fire", "{id}", "offer", "--by", LEADER],
        2,
        "'offer' is not an event of samraad",
    ),
    (
        "an event name with an escape character",
        ["case", "fire", "{id}", "conv\x1bene", "--by", LEADER],
        2,
        "is not an event of any process",
    ),
    (
        "wrong state",
        ["case", "fire", "{id}", "start_meeting", "--by", LEADER],
        3,
        "events allowed now: add_participant, schedule",
    ),
    (
        "not permitted",
        [
            "case",
            "fire",
            "{id}",
            "schedule",
            "--by",
            "jens@skole.example.dk",
            "--set",
            "start=2027-01-04T09:00:00+01:00",
        ],
        3,
        "may only be fired by coordinator or school_leader",
    ),
    (
        "stranger",
        [
            "case",
            "fire",
            "{id}",
            "schedule",
            "--by",
            "x@example.com",
            "--set",
            "start=2027-01-04T09:00:00+01:00",
        ],
        3,
        "none of these roles",
    ),
    (
        "naive time",
        ["case", "fire", "{id}", "schedule", "--by", LEADER, "--set", "start=2027-01-04T09:00"],
        2,
        "start: Input should have timezone info",
    ),
    (
        "past meeting",
        [
            "case",
            "fire",
            "{id}",
            "schedule",
            "--by",
            LEADER,
            "--set",
            "start=2026-12-01T09:00:00+01:00",
        ],
        3,
        "is in the past",
    ),
    (
        "bad actor",
        [
            "case",
            "fire",
            "{id}",
            "schedule",
            "--by",
            "leader",
            "--set",
            "start=2027-01-04T09:00:00+01:00",
        ],
        2,
        "is not an e-mail address",
    ),
    ("missing --by", ["case", "fire", "{id}", "schedule"], 2, "Missing option '--by'"),
    (
        "bad --set",
        ["case", "fire", "{id}", "schedule", "--by", LEADER, "--set", "start"],
        2,
        "is not key=value",
    ),
    ("unknown process", ["case", "list", "--process", "bingo"], 2, "an unknown process; known"),
    (
        "a case id longer than 64 bits",
        ["case", "fire", "99999999999999999999999", "convene", "--by", LEADER],
        2,
        "is not in the range",
    ),
    (
        "a number of 5,000 digits",
        ["case", "fire", "{id}", "schedule", "--by", LEADER, "--set", "minutes=" + "9" * 5000],
        2,
        "a number too long",
    ),
    (
        "a time in the year 9999",
        ["case", "fire", "{id}", "start_meeting", "--by", LEADER, "--at", "9999-12-31T23:59+14:00"],
        2,
        "is not between the years 2000 and 2099",
    ),
    (
        "a time before the case's last event",
        [
            "case",
            "fire",
            "{id}",
            "add_participant",
            "--by",
            LEADER,
            "--at",
            "2026-12-01T09:00+01:00",
        ],
        2,
        "lies before the case's last event",
    ),
    (
        "CR/LF in a reason",
        [
            "case",
            "fire",
            "{id}",
            "schedule",
            "--by",
            LEADER,
            "--set",
            "start=2027-01-14T09:00:00+01:00",
            "--set",
            "reason=late\nBcc: x",
        ],
        2,
        "must be a single line",
    ),
]


@pytest.mark.parametrize(
    ("what", "args", "code", "message"), BAD_EVENTS, ids=[c[0] for c in BAD_EVENTS]
)
def test_a_bad_event_is_refused_in_one_line_and_nothing_is_written(
    db_url: str, tmp_path: Path, what: str, args: list[str], code: int, message: str
) -> None:
    case_id = _open(db_url, tmp_path)
    assert run(db_url, "case", "fire", str(case_id), "convene", "--by", LEADER, now=NOW).code == 0
    before = dump(db_url)
    result = run(db_url, *[a.replace("{id}", str(case_id)) for a in args], now=NOW)
    _one_line_error(result, code, message)
    assert dump(db_url) == before


BAD_FILES: list[tuple[str, str, str]] = [
    ("nested 200,000 deep", "[" * 200_000 + "]" * 200_000, "nested too deeply"),
    ("a lone surrogate", '{"reason": "\\ud800"}', "invalid character"),
    ("an integer of 5,000 digits", '{"minutes": ' + "7" * 5000 + "}", "number too long"),
]


@pytest.mark.parametrize(("what", "content", "message"), BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_a_bad_input_file_is_one_line_and_nothing_is_written(
    db_url: str, tmp_path: Path, what: str, content: str, message: str
) -> None:
    case_id = _open(db_url, tmp_path)
    before = dump(db_url)
    path = write_json(tmp_path, "input.json", content)
    for args in (
        ["case", "fire", str(case_id), "dismiss", "--by", LEADER, "--file", path],
        ["case", "open", "samraad", "--file", path],
        ["case", "stage-open", "samraad", "--file", path],
    ):
        _one_line_error(run(db_url, *args, now=NOW), 2, message)
    assert dump(db_url) == before


BAD_SETTINGS: list[tuple[str, dict[str, str], str]] = [
    ("extra days off", {"FORLOEB_EXTRA_DAYS_OFF": "13-45"}, "is not MM-DD"),
    ("the clock, not on purpose", {"FORLOEB_SIMULATED_CLOCK": "0"}, "FORLOEB_SIMULATED_CLOCK=1"),
    ("the clock in the year 9999", {"FORLOEB_NOW": "9999-12-31T23:59-12:00"}, "2000 and 2099"),
    ("the clock in the year 1", {"FORLOEB_NOW": "0001-01-01T00:00+14:00"}, "2000 and 2099"),
    ("a MySQL database", {"FORLOEB_DATABASE_URL": "mysql://x@127.0.0.1/y"}, "forloeb runs on"),
]


@pytest.mark.parametrize(("what", "env", "message"), BAD_SETTINGS, ids=[c[0] for c in BAD_SETTINGS])
def test_a_bad_setting_is_one_line_with_exit_2(
    db_url: str, tmp_path: Path, what: str, env: dict[str, str], message: str
) -> None:
    case_id = _open(db_url, tmp_path)
    before = dump(db_url)
    settings = dict(env)
    now = settings.pop("FORLOEB_NOW", NOW)
    for args in (
        ["sweep"],
        ["case", "list"],
        ["case", "fire", str(case_id), "dismiss", "--by", LEADER],
    ):
        _one_line_error(run(db_url, *args, now=now, **settings), 2, message)
    assert dump(db_url) == before


def test_an_action_more_than_an_hour_ahead_of_the_real_clock_is_refused(
    db_url: str, tmp_path: Path
) -> None:
    case_id = _open(db_url, tmp_path)
    before = dump(db_url)
    ahead = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    args = ["case", "fire", str(case_id), "dismiss", "--by", LEADER, "--at", ahead]
    result = run(db_url, *args, FORLOEB_SIMULATED_CLOCK="0")
    _one_line_error(result, 2, "more than an hour ahead")
    assert dump(db_url) == before


def test_a_file_that_is_not_a_database_is_one_line(tmp_path: Path) -> None:
    not_a_database = tmp_path / "notes.db"
    not_a_database.write_bytes(b"these are not the tables you are looking for" * 100)
    for args in (["case", "list"], ["outbox", "list"], ["db", "upgrade"], ["case", "show", "1"]):
        result = run(f"sqlite:///{not_a_database}", *args, now=NOW)
        _one_line_error(result, 2, "not a database forloeb can read")


def test_a_naive_forloeb_now_is_refused(db_url: str) -> None:
    _one_line_error(
        run(db_url, "sweep", now="2027-01-04T09:00"), 2, "FORLOEB_NOW", "has no UTC offset"
    )


def test_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    result = run("postgresql://nobody@127.0.0.1:1/none", "case", "list")
    _one_line_error(result, 1, "cannot open the database")
