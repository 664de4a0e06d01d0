"""Retention (DOMAIN "Data protection"): closed cases are anonymised or purged a configured
period after their last event, absence data after its own; every run is recorded with
counts, never names. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select, update

from machines import PROCESSES, ConfigurationError
from persistence import (
    CaseStore,
    OutboxRow,
    access_log,
    ensure_schema,
    make_engine,
    schema_metadata,
)
from persistence.absence import PupilRow, RegistrationRow, SchoolRow
from persistence.retention import (
    NEUTRAL,
    RetentionRunRow,
    RetentionSettings,
    run_retention,
    runs_recorded,
)
from tests.cli_helpers import run
from tests.conftest import LEADER, SAMRAAD_CASE, at, drive_to, open_samraad

from .test_erasure_on_disk import files_holding

#: 5 years and a day after the samråd of ``drive_to`` closed (its last event: 1 Feb 2027).
LATER = at("2032-02-02 03:00")
PURGE = RetentionSettings(mode="purge")
ANONYMISE = RetentionSettings(mode="anonymise")
DISMISS_REASON = "Ida Æblegaard er flyttet til Vejle"


def needles() -> list[str]:
    people = SAMRAAD_CASE["participants"]
    words = {part for p in people for part in p["name"].split()}
    addresses = {p["email"] for p in people if p["email"]}
    return sorted(
        words | addresses | {SAMRAAD_CASE["title"], SAMRAAD_CASE["location"], "note from",
                             "morning agreement", "call home", DISMISS_REASON}
    )  # fmt: skip


def rows_of(engine: Engine, case_id: int) -> dict[str, list[dict[str, Any]]]:
    """Every row of the case in every table that has a case id (the case row itself too)."""
    found: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as conn:
        for table in schema_metadata().sorted_tables:
            column = table.c.get("case_id") if table.name != "cases" else table.c.id
            if column is None:
                continue
            found[table.name] = [dict(r._mapping) for r in conn.execute(
                select(table).where(column == case_id))]  # fmt: skip
    return found


def closed_cases(store: CaseStore) -> tuple[int, int, int]:
    """A samråd closed 1 Feb 2027 (due at LATER), one dismissed in June 2027 (not yet due),
    and one still open since 2026 (never due: not closed)."""
    store.stamp = {"os_user": "kbh-sagsbeh-7"}  # how the actions were taken: also scrubbed
    closed = open_samraad(store)
    drive_to(store, closed, "closed")
    with store.engine.begin() as conn:  # a delivery error and a server answer naming a person
        conn.execute(
            update(OutboxRow.__table__)  # type: ignore[arg-type]
            .where(OutboxRow.case_id == closed)
            .values(status="sent", last_error="550 aase@example.dk unknown",
                    response="250 ok Åse Æblegaard", message_id="<x@forloeb>")
        )  # fmt: skip
    recent = open_samraad(store)
    store.fire(recent, "dismiss", LEADER, {"reason": DISMISS_REASON}, at("2027-06-01 09:00"))
    still_open = open_samraad(store)
    store.fire(still_open, "convene", LEADER, {}, at("2026-12-21 09:00"))
    for who, via in READS:  # who read them, and from which login: also scrubbed
        for case_id in (closed, recent):
            access_log.record(store.engine, who, case_id, "case", via, at("2027-01-05 09:00"),
                              context={"os_user": "kbh-sagsbeh-7"})  # fmt: skip
    return closed, recent, still_open


#: Reads of a case: a participant (in another letter case), the operator, a desk admin.
READS = [(LEADER.upper(), "cli"), ("operator", "cli"), ("admin@kommune.example.dk", "desk")]


def test_an_anonymised_case_keeps_ids_states_dates_and_history_and_no_person(
    store: CaseStore,
) -> None:
    closed, recent, still_open = closed_cases(store)
    before = rows_of(store.engine, closed)
    untouched = {i: rows_of(store.engine, i) for i in (recent, still_open)}

    report = run_retention(store.engine, LATER, ANONYMISE)

    assert report.cases == {**dict.fromkeys(PROCESSES, 0), "samraad": 1}
    after = rows_of(store.engine, closed)
    text = repr(after)
    assert [n for n in needles() if n in text] == []
    # Statistics stay: the same rows, ids, process, states, dates and history events.
    assert {t: len(r) for t, r in after.items()} == {t: len(r) for t, r in before.items()}
    [case] = after["cases"]
    assert (case["id"], case["process"], case["state"], case["title"], case["location"]) == (
        closed, "samraad", "closed", NEUTRAL, NEUTRAL,
    )  # fmt: skip
    assert case["created_at"] == before["cases"][0]["created_at"]
    assert case["updated_at"] == before["cases"][0]["updated_at"]
    assert case["anonymised_at"] == LATER
    assert case["data"]["convened_at"] == before["cases"][0]["data"]["convened_at"]
    assert case["data"]["follow_up_outcome"] == "close"  # a one-word code: statistics
    assert not {"notes", "decisions", "action_plan", "present"} & case["data"].keys()
    assert [(h["seq"], h["event"], h["source"], h["dest"], h["at"]) for h in after["history"]] == [
        (h["seq"], h["event"], h["source"], h["dest"], h["at"]) for h in before["history"]
    ]
    assert {h["actor"] for h in after["history"]} <= {"system", "school_leader",
                                                      "ppr_interviewer"}  # fmt: skip
    assert all(h["details"] == {} for h in after["history"])
    assert all(h["context"] for h in before["history"])
    assert all(h["context"] is None for h in after["history"])
    assert sorted(p["role"] for p in after["participants"]) == sorted(
        p["role"] for p in before["participants"]
    )
    keys = {p["key"] for p in after["participants"]}
    assert all(set(m["attendees"]) <= keys for m in after["meetings"])
    assert all(m["location"] == NEUTRAL for m in after["meetings"])
    assert all(
        (o["last_error"], o["response"], o["message_id"]) == (None, None, None)
        for o in after["outbox"]
    )
    # The others are as they were, and a second run finds nothing more to do.
    assert {i: rows_of(store.engine, i) for i in (recent, still_open)} == untouched
    assert run_retention(store.engine, LATER, ANONYMISE).cases["samraad"] == 0


def test_a_purged_case_leaves_no_row_and_the_others_stay(store: CaseStore) -> None:
    closed, recent, still_open = closed_cases(store)
    untouched = {i: rows_of(store.engine, i) for i in (recent, still_open)}

    report = run_retention(store.engine, LATER, PURGE)

    assert report.cases["samraad"] == 1 and report.purged_case_ids == [closed]
    assert {t: r for t, r in rows_of(store.engine, closed).items() if r} == {}
    assert {i: rows_of(store.engine, i) for i in (recent, still_open)} == untouched


def test_the_reads_of_an_anonymised_case_keep_when_and_how_and_say_who_by_role(
    store: CaseStore,
) -> None:
    closed, recent, _ = closed_cases(store)
    before = [(r.at, r.what, r.via) for r in access_log.reads_of(store.engine, closed)]
    theirs = access_log.reads_of(store.engine, recent)

    run_retention(store.engine, LATER, ANONYMISE)

    after = access_log.reads_of(store.engine, closed)
    assert [(r.at, r.what, r.via) for r in after] == before
    assert [(r.who, r.context) for r in after] == [
        ("school_leader", None),  # the reader's role on the case
        ("operator", None),  # a function, not a person
        ("anonymiseret", None),  # not on the case: a neutral word
    ]
    assert access_log.reads_of(store.engine, recent) == theirs


def test_a_purge_deletes_the_reads_of_the_case_and_only_those(store: CaseStore) -> None:
    closed, recent, _ = closed_cases(store)
    assert len(access_log.reads_of(store.engine, closed)) == len(READS)
    theirs = access_log.reads_of(store.engine, recent)

    run_retention(store.engine, LATER, PURGE)

    assert access_log.reads_of(store.engine, closed) == []
    assert access_log.reads_of(store.engine, recent) == theirs


def test_an_anonymised_case_is_purged_when_the_mode_becomes_purge(store: CaseStore) -> None:
    closed, _, _ = closed_cases(store)
    run_retention(store.engine, LATER, ANONYMISE)
    assert run_retention(store.engine, LATER, PURGE).purged_case_ids == [closed]


def test_each_process_has_its_own_period(store: CaseStore) -> None:
    closed, _, _ = closed_cases(store)
    longer = RetentionSettings.from_env(
        {"FORLOEB_RETENTION_MODE": "purge", "FORLOEB_RETENTION_YEARS_SAMRAAD": "10"}
    )
    assert run_retention(store.engine, LATER, longer).cases["samraad"] == 0
    # Ten years and a day after: now it goes.
    assert run_retention(store.engine, at("2037-02-02 03:00"), longer).purged_case_ids == [closed]


def test_a_dry_run_counts_and_changes_nothing(store: CaseStore) -> None:
    closed, recent, still_open = closed_cases(store)
    before = {i: rows_of(store.engine, i) for i in (closed, recent, still_open)}

    report = run_retention(store.engine, LATER, PURGE, dry_run=True)

    assert report.cases["samraad"] == 1 and report.run_id is None
    assert {i: rows_of(store.engine, i) for i in (closed, recent, still_open)} == before
    assert runs_recorded(store.engine) == []


def test_each_run_is_recorded_with_counts_and_no_names(store: CaseStore) -> None:
    closed_cases(store)
    report = run_retention(store.engine, LATER, ANONYMISE)
    [recorded] = runs_recorded(store.engine)
    assert recorded["id"] == report.run_id and recorded["mode"] == "anonymise"
    assert recorded["cases"] == {**dict.fromkeys(PROCESSES, 0), "samraad": 1}
    assert [n for n in needles() if n in repr(recorded)] == []


def add_absence(engine: Engine, days: list[date]) -> None:
    with engine.begin() as conn:
        school = conn.execute(
            insert(SchoolRow.__table__).returning(SchoolRow.id),  # type: ignore[arg-type]
            {"code": "skole-1", "name": "Skolen"},
        ).scalar_one()
        for n, day in enumerate(days):
            pupil = conn.execute(
                insert(PupilRow.__table__).returning(PupilRow.id),  # type: ignore[arg-type]
                {"pupil_ref": f"elev-{n}", "school_id": school, "grade": 3, "last_day": day},
            ).scalar_one()
            conn.execute(
                insert(RegistrationRow.__table__),  # type: ignore[arg-type]
                {"pupil_id": pupil, "day": day, "period": 0, "code": "U", "grade": 3},
            )


def test_absence_registrations_older_than_their_own_period_are_deleted(
    store: CaseStore,
) -> None:
    add_absence(store.engine, [date(2028, 2, 1), date(2029, 3, 1)])
    settings = RetentionSettings.from_env({"FORLOEB_RETENTION_ABSENCE_YEARS": "3"})

    report = run_retention(store.engine, at("2032-02-10 03:00"), settings)

    assert report.absence_cutoff == "2029-02-10"
    assert report.absence == {"registrations": 1, "episodes": 0, "tasks": 0, "pupils": 1}
    with store.engine.connect() as conn:
        assert conn.execute(select(RegistrationRow.day)).scalars().all() == [date(2029, 3, 1)]
        assert conn.execute(select(PupilRow.pupil_ref)).scalars().all() == ["elev-1"]


@pytest.mark.parametrize(
    ("environ", "says"),
    [
        ({"FORLOEB_RETENTION_MODE": "delete"}, "FORLOEB_RETENTION_MODE='delete' must be one of"),
        ({"FORLOEB_RETENTION_YEARS": "fem"}, "FORLOEB_RETENTION_YEARS='fem' must be a whole"),
        ({"FORLOEB_RETENTION_YEARS": "0"}, "from 1 to 100"),
        ({"FORLOEB_RETENTION_YEARS": "2.5"}, "whole number"),
        ({"FORLOEB_RETENTION_YEARS_SAMRAAD": "-1"}, "FORLOEB_RETENTION_YEARS_SAMRAAD='-1'"),
        ({"FORLOEB_RETENTION_ABSENCE_YEARS": "101"}, "FORLOEB_RETENTION_ABSENCE_YEARS='101'"),
        (
            {"FORLOEB_RETENTION_YEARS_SAMRAD": "3"},
            "FORLOEB_RETENTION_YEARS_SAMRAD names no process",
        ),
    ],
)
def test_a_malformed_setting_is_refused_by_name(environ: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigurationError, match=says.replace(".", r"\.")):
        RetentionSettings.from_env(environ)


def test_the_defaults_are_five_years_anonymised() -> None:
    settings = RetentionSettings.from_env({})
    assert settings.mode == "anonymise" and settings.absence_years == 5
    assert set(settings.years.values()) == {5}
    # A leap day counts as 28 February five years on.
    assert settings.case_cutoffs(at("2028-02-29 12:00"))["samraad"] == at("2023-02-28 00:00")


def test_the_command_refuses_a_malformed_setting_with_one_line_and_writes_nothing(
    db_url: str,
) -> None:
    result = run(db_url, "retention", "run", FORLOEB_RETENTION_YEARS="5 år")
    assert result.code == 2
    assert result.err.strip().splitlines() == [
        "error: FORLOEB_RETENTION_YEARS='5 år' must be a whole number of years from 1 to 100"
    ]
    engine = make_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(select(RetentionRunRow.id)).all() == []
    engine.dispose()


@pytest.mark.parametrize("settings", [ANONYMISE, PURGE], ids=["anonymise", "purge"])
def test_right_after_a_run_no_file_of_the_database_holds_the_erased_text(
    tmp_path: Path, settings: RetentionSettings
) -> None:
    directory = tmp_path / "db"
    directory.mkdir()
    engine = make_engine(f"sqlite:///{directory / 'forloeb.db'}")
    ensure_schema(engine)
    store = CaseStore(engine)
    closed = open_samraad(store, title="Skolen ved Zebra-kvartet-7731")
    drive_to(store, closed, "closed")
    needles = ("Zebra-kvartet-7731", "Æblegaard", "note from elev", "morning agreement")
    assert all(files_holding(directory, n) for n in needles)

    run_retention(engine, LATER, settings)

    # The engine stays open (a sweep's does): the log is checkpointed, not closed away.
    assert {n: files_holding(directory, n) for n in needles} == {n: [] for n in needles}
    engine.dispose()


def test_the_command_anonymises_and_no_file_of_the_database_holds_the_text_after(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "db"
    directory.mkdir()
    url = f"sqlite:///{directory / 'forloeb.db'}"
    engine = make_engine(url)
    ensure_schema(engine)
    store = CaseStore(engine)
    closed = open_samraad(store, title="Skolen ved Zebra-kvartet-7731")
    drive_to(store, closed, "closed")
    engine.dispose()  # as a separate process would find it
    assert files_holding(directory, "Zebra-kvartet-7731")
    assert files_holding(directory, "Æblegaard")  # a participant's name
    assert files_holding(directory, "note from elev")  # a note, in the case's JSON

    result = run(url, "retention", "run", "--json", now="2032-02-02T03:00:00+01:00")

    assert result.code == 0, result.err
    assert result.json()["cases"]["samraad"] == 1
    assert files_holding(directory, "Zebra-kvartet-7731") == []
    assert files_holding(directory, "Æblegaard") == []
    assert files_holding(directory, "note from elev") == []


def _mail_read_for(store: CaseStore, case_id: int) -> None:
    """An answer, a proposed time and the mails they came in, and a child in a group:
    what the replies and the recurring processes add to a case."""
    from persistence.models import MeetingRow, MembershipRow, ParticipantRow
    from persistence.replies import ProcessedMessageRow, ProposalRow, ReplyRow

    when = at("2027-01-05 09:00")
    with store.engine.begin() as conn:
        meeting_id = conn.execute(
            select(MeetingRow.id).where(MeetingRow.case_id == case_id).limit(1)
        ).scalar_one()
        person_id = conn.execute(
            select(ParticipantRow.id).where(ParticipantRow.case_id == case_id).limit(1)
        ).scalar_one()
        ours = {"meeting_id": meeting_id, "participant_id": person_id, "sequence": 0}
        first, second = "<a@mail.example>", "<b@mail.example>"
        conn.execute(insert(ReplyRow), {**ours, "partstat": "ACCEPTED", "message_id": first})
        conn.execute(
            insert(ProposalRow),
            {**ours, "start": when, "end": when, "received_at": when, "message_id": second},
        )
        conn.execute(
            insert(ProcessedMessageRow),
            {"message_id": first, "processed_at": when, "outcome": "applied", "case_id": case_id},
        )
        conn.execute(
            insert(MembershipRow),
            {"process": "learning_group", "member": "elev-7f3a", "case_id": case_id},
        )


def _mail_rows(engine: Engine) -> dict[str, list[Any]]:
    from persistence.models import MembershipRow
    from persistence.replies import ProcessedMessageRow, ProposalRow, ReplyRow

    with engine.connect() as conn:
        return {
            row.__tablename__: [tuple(r) for r in conn.execute(select(row.__table__))]
            for row in (ReplyRow, ProposalRow, ProcessedMessageRow, MembershipRow)
        }


def test_a_purge_leaves_no_answer_proposal_processed_mail_or_membership(
    store: CaseStore,
) -> None:
    closed, _, _ = closed_cases(store)
    _mail_read_for(store, closed)
    assert all(_mail_rows(store.engine).values())

    run_retention(store.engine, LATER, PURGE)

    assert {table: rows for table, rows in _mail_rows(store.engine).items() if rows} == {}


def test_anonymising_keeps_the_answer_without_its_mail(store: CaseStore) -> None:
    closed, _, _ = closed_cases(store)
    _mail_read_for(store, closed)

    run_retention(store.engine, LATER, ANONYMISE)

    rows = _mail_rows(store.engine)
    assert [r[3] for r in rows["replies"]] == ["ACCEPTED"]  # partstat: statistics
    assert "<a@mail.example>" not in repr(rows["replies"])
    assert rows["meeting_proposals"] == rows["processed_messages"] == rows["memberships"] == []
