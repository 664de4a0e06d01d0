"""Reading a case from the CLI (issue 11, items 3 and 4): ``case show`` by the shared read
rule, every read of a case or a form in the access log with the operating-system user who
ran it, ``forloeb audit`` for the case's coordinator. On SQLite and PostgreSQL."""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterator
from typing import Any

import pytest

from persistence import CaseStore, access_log, make_engine

from .cli_helpers import Result, dump, run
from .conftest import COORDINATOR, LEADER, PPR, SAMRAAD_CASE, at, drive_to, open_samraad
from .test_learning_group_rules import PEDAGOGUE, STAFF, note, running

NOW = "2027-02-08T10:00:00+01:00"
STRANGER = "fremmed@example.dk"
#: Who runs the tests, by the process's user id (what the access row must record).
LOGIN = pwd.getpwuid(os.geteuid()).pw_name


@pytest.fixture
def samraad(store: CaseStore) -> Iterator[int]:
    """A closed samråd: its notes, decisions and action plan written (``drive_to``)."""
    case_id = open_samraad(store)
    drive_to(store, case_id, "closed")
    yield case_id


def personal_texts() -> list[str]:
    """Everything of the case file and what was said in it that names or quotes someone."""
    people = SAMRAAD_CASE["participants"]
    names = {p["name"] for p in people} | {part for p in people for part in p["name"].split()}
    emails = {p["email"] for p in people}
    said = {"note from", "morning agreement", "call home"}  # drive_to's notes, decision, plan
    return sorted(names | emails | said | {SAMRAAD_CASE["title"], SAMRAAD_CASE["location"]})


def _one_line(result: Result, code: int) -> str:
    assert result.code == code, (result.code, result.out, result.err)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.err
    return lines[0]


def _reads(db_url: str, case_id: int) -> list[tuple[str, str, str, Any]]:
    engine = make_engine(db_url)
    try:
        return [(r.who, r.what, r.via, r.context) for r in access_log.reads_of(engine, case_id)]
    finally:
        engine.dispose()


def test_the_operator_view_holds_no_name_address_title_place_note_or_plan(
    db_url: str, samraad: int
) -> None:
    as_json = run(db_url, "case", "show", str(samraad), "--json", now=NOW)
    as_text = run(db_url, "case", "show", str(samraad), now=NOW)
    assert (as_json.code, as_text.code) == (0, 0), as_json.err + as_text.err
    for needle in personal_texts():
        assert needle not in as_json.out, needle
        assert needle not in as_text.out, needle
    shown = as_json.json()
    # The same JSON contract, participants by key and role.
    assert {"id", "process", "state", "version", "participants", "meetings", "timers",
            "history", "outbox"} <= set(shown)  # fmt: skip
    assert shown["state"] == "closed"
    assert {(p["key"], p["role"]) for p in shown["participants"]} == {
        (p["key"], p["role"]) for p in SAMRAAD_CASE["participants"]
    }
    assert all(set(p) == {"id", "key", "role"} for p in shown["participants"])
    assert all("details" not in h and "context" not in h for h in shown["history"])
    assert "case " in as_text.out and "participants" in as_text.out  # the text renders


def test_a_participant_sees_the_names_and_the_notes_in_any_letter_case(
    db_url: str, samraad: int
) -> None:
    shown = run(db_url, "case", "show", str(samraad), "--by", PPR.upper(), "--json", now=NOW)
    assert shown.code == 0, shown.err
    text = shown.out
    assert "note from elev" in text and "morning agreement" in text and "call home" in text
    assert "Ida Æblegaard" in text and SAMRAAD_CASE["location"] in text
    plain = run(db_url, "case", "show", str(samraad), "--by", PPR, now=NOW)
    assert plain.code == 0 and "Karen Lund" in plain.out


def test_a_stranger_hears_what_a_missing_case_says_and_nothing_is_written(
    db_url: str, samraad: int
) -> None:
    before = dump(db_url)
    missing = samraad + 1000
    for args in (
        ("case", "show", "{id}", "--by", STRANGER, "--json"),
        ("case", "show", "{id}", "--by", STRANGER, "--mermaid"),
        ("case", "form", "{id}", "--by", STRANGER),
        ("audit", "{id}", "--by", LEADER),  # on the case, but not its coordinator
    ):
        on_case = run(db_url, *(a.format(id=samraad) for a in args), now=NOW)
        no_case = run(db_url, *(a.format(id=missing) for a in args), now=NOW)
        said = _one_line(on_case, 2)
        assert said.replace(str(samraad), "N") == _one_line(no_case, 2).replace(str(missing), "N")
        assert said.startswith(f"error: there is no case {samraad};"), said
        assert on_case.out == no_case.out == ""
    assert dump(db_url) == before


def test_each_show_and_form_writes_one_access_row_with_the_login_that_ran_it(
    db_url: str, store: CaseStore, samraad: int
) -> None:
    group = running(store)
    session = "2027-01-11T10:00:00+01:00"
    store.fire(group, "write_note", PEDAGOGUE, note(session), at("2027-01-11 12:00"))
    # LOGNAME and USER are as easy to type as --by: the row has the process's user.
    spoofed = {"LOGNAME": "someone-else", "USER": "someone-else"}
    assert run(db_url, "case", "show", str(samraad), now=NOW, **spoofed).code == 0
    assert run(db_url, "case", "show", str(samraad), "--by", LEADER.upper(), now=NOW).code == 0
    assert run(db_url, "case", "show", str(samraad), "--mermaid", now=NOW).code == 0
    form = run(db_url, "case", "form", str(group), "--by", STAFF, now=NOW)
    assert form.code == 0, form.err
    context = {"os_user": LOGIN, "simulated_clock": True}
    assert _reads(db_url, samraad) == [
        ("operator", "case", "cli", context),
        (LEADER, "case", "cli", context),
        ("operator", "case", "cli", context),
    ]
    assert _reads(db_url, group) == [(STAFF, "form", "cli", context)]
    # A form the rules refuse (a samråd keeps none) is no read: no row.
    assert run(db_url, "case", "form", str(samraad), "--by", LEADER, now=NOW).code == 2
    assert len(_reads(db_url, samraad)) == 3


def test_audit_lists_the_reads_to_the_coordinator_and_the_operator(
    db_url: str, samraad: int
) -> None:
    run(db_url, "case", "show", str(samraad), "--by", LEADER, now="2027-02-08T10:00+01:00")
    run(db_url, "case", "show", str(samraad), now="2027-02-08T11:00+01:00")
    before = dump(db_url)

    listed = run(db_url, "audit", str(samraad), "--by", COORDINATOR.upper(), "--json", now=NOW)
    assert listed.code == 0, listed.err
    assert listed.json() == [
        {"at": "2027-02-08T10:00:00+01:00", "who": LEADER, "what": "case", "via": "cli",
         "os_user": LOGIN, "simulated_clock": True},
        {"at": "2027-02-08T11:00:00+01:00", "who": "operator", "what": "case", "via": "cli",
         "os_user": LOGIN, "simulated_clock": True},
    ]  # fmt: skip
    # The operator sees who read by role and key, as in the operator's view of the case.
    operator = run(db_url, "audit", str(samraad), "--json", now=NOW).json()
    assert [r["who"] for r in operator] == ["school_leader:leder", "operator"]
    text = run(db_url, "audit", str(samraad), now=NOW)
    assert text.code == 0 and LEADER not in text.out
    assert text.out.splitlines()[1].startswith("2027-02-08 10:00  school_leader:leder")
    assert dump(db_url) == before  # listing the reads writes nothing
    _one_line(run(db_url, "audit", str(samraad), "--by", PPR, now=NOW), 2)
