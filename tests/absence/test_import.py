"""Importing registrations, calendars and the school directory (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
from datetime import date

import pytest
from sqlalchemy import Engine, select

from flows import absence_csv
from machines import InvalidInput
from persistence import absence as repo
from tests.cli_helpers import dump

from .conftest import (
    COORDINATOR,
    DIRECTORY,
    LEADER,
    TEACHER,
    at,
    csv_text,
    directory,
    import_text,
    load,
)

D = date.fromisoformat


def stored(engine: Engine) -> list[tuple[str, str, int, str, int]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                repo.PupilRow.pupil_ref,
                repo.RegistrationRow.day,
                repo.RegistrationRow.period,
                repo.RegistrationRow.code,
                repo.RegistrationRow.grade,
            )
            .join(repo.PupilRow, repo.PupilRow.id == repo.RegistrationRow.pupil_id)
            .order_by(
                repo.PupilRow.pupil_ref, repo.RegistrationRow.day, repo.RegistrationRow.period
            )
        ).all()
    return [(ref, day.isoformat(), period, code, grade) for ref, day, period, code, grade in rows]


ROWS = [
    ("p-1", "vest", 8, "2026-03-02", "morning", "S"),
    ("p-1", "vest", 8, "2026-03-02", "end_of_day", "S"),
    ("p-1", "vest", 8, "2026-03-03", "lesson:3", "F"),
    ("p-2", "oest", 2, "2026-03-02", "morning", "u"),
]


def test_import_stores_every_slot(engine: Engine) -> None:
    report = load(engine, ROWS)
    assert (report.rows, report.changed, report.pupils_new) == (4, 4, 2)
    assert sorted(report.schools_new) == ["oest", "vest"]
    assert (report.first_day, report.last_day) == (D("2026-03-02"), D("2026-03-03"))
    assert stored(engine) == [
        ("p-1", "2026-03-02", 0, "S", 8),
        ("p-1", "2026-03-02", 100, "S", 8),
        ("p-1", "2026-03-03", 3, "F", 8),
        ("p-2", "2026-03-02", 0, "U", 2),
    ]


def test_reimporting_changes_nothing(engine: Engine, db_url: str) -> None:
    load(engine, ROWS)
    before = dump(db_url)
    report = load(engine, ROWS)
    assert (report.rows, report.changed, report.pupils_new) == (4, 0, 0)
    assert dump(db_url) == before


def test_a_later_row_corrects_the_slot(engine: Engine) -> None:
    load(engine, ROWS)
    report = load(engine, [("p-1", "vest", 8, "2026-03-02", "morning", "L")])
    assert report.changed == 1
    assert stored(engine)[0] == ("p-1", "2026-03-02", 0, "L", 8)
    assert len(stored(engine)) == 4


def test_within_a_file_the_last_row_for_a_slot_wins(engine: Engine) -> None:
    load(engine, [ROWS[0], (*ROWS[0][:5], "U"), (*ROWS[0][:5], "L")])
    assert stored(engine) == [("p-1", "2026-03-02", 0, "L", 8)]


def test_semicolons_a_byte_order_mark_and_any_column_order(engine: Engine) -> None:
    text = (
        "\ufeffcode;period;date;grade;school;pupil_ref\r\nS;morning;2026-03-02;8;vest;p-1\r\n\r\n"
    )
    report = import_text(engine, text, name="tea.csv")
    assert report.rows == 1
    assert stored(engine) == [("p-1", "2026-03-02", 0, "S", 8)]


def test_a_given_school_fills_and_checks_the_school(engine: Engine) -> None:
    text = "pupil_ref,grade,date,period,code\np-1,8,2026-03-02,morning,S\n"
    import_text(engine, text, name="f.csv", school="vest")
    assert stored(engine) == [("p-1", "2026-03-02", 0, "S", 8)]
    with pytest.raises(absence_csv.RefusedFile) as caught:
        import_text(engine, csv_text([ROWS[0], ROWS[3]]), name="f.csv", school="vest")
    # The row is marked as contradicting the given school; the caller names where it came from.
    assert caught.value.problems == (
        absence_csv.RowProblem(3, "school 'oest' is not 'vest'", given="school"),
    )
    assert "line 3: school 'oest' is not 'vest' (--school)" in caught.value.describe(
        {"school": "--school"}
    )
    assert "--school" not in str(caught.value)


def test_a_bad_given_school_is_named_as_given(engine: Engine) -> None:
    with pytest.raises(absence_csv.InvalidGiven) as caught:
        import_text(engine, csv_text(ROWS), school="a b")
    assert caught.value.given == "school"
    assert str(caught.value).startswith("school 'a b' is not a school code")


def test_the_pupils_school_and_grade_follow_the_latest_day(engine: Engine) -> None:
    load(engine, [("p-1", "vest", 6, "2026-06-01", "morning", "S")])
    load(engine, [("p-1", "oest", 7, "2026-08-20", "morning", "S")])
    load(engine, [("p-1", "vest", 6, "2026-05-01", "morning", "S")])  # an old file, late
    with engine.connect() as conn:
        pupil = conn.execute(
            select(repo.SchoolRow.code, repo.PupilRow.grade, repo.PupilRow.last_day).join(
                repo.SchoolRow, repo.SchoolRow.id == repo.PupilRow.school_id
            )
        ).one()
    assert tuple(pupil) == ("oest", 7, D("2026-08-20"))


BAD = [
    ("p-1", "vest", 8, "2026-03-02", "morning", "S"),  # line 2: fine
    ("p-1", "vest", 11, "2026-03-02", "morning", "S"),  # line 3
    ("p-1", "vest", 8, "2026-02-30", "morning", "S"),  # line 4
    ("p-1", "vest", 8, "2026-03-02", "noon", "S"),  # line 5
    ("p-1", "vest", 8, "2026-03-02", "morning", "X"),  # line 6
    ("0101801234", "vest", 8, "2026-03-02", "morning", "S"),  # line 7: a CPR number
    ("P 1", "vest", 8, "2026-03-02", "morning", "S"),  # line 8
    ("p-1", "vest", 8, "2026-03-02"),  # line 9
]


def test_a_malformed_file_is_rejected_whole_with_every_bad_line(
    engine: Engine, db_url: str
) -> None:
    load(engine, ROWS)
    before = dump(db_url)
    with pytest.raises(InvalidInput) as caught:
        load(engine, [*BAD, ("p-9", "nord", 1, "2026-03-09", "morning", "S")])
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(
        "test.csv: 7 bad rows, nothing imported — line 3: grade '11' is not 0–10"
    )
    for part in [
        "line 4: date '2026-02-30' is not a date (YYYY-MM-DD)",
        "line 5: period 'noon' is not morning, end_of_day or lesson:N",
        "line 6: code 'X' is not one of S, L, U, F, T",
        "line 7: pupil_ref looks like a CPR number",
        "line 8: pupil_ref is not a reference",
        "line 9: 4 fields, expected 6",
    ]:
        assert part in message
    assert "0101801234" not in message  # a CPR number is not repeated anywhere
    assert "'P 1'" not in message  # nor what stands where a reference should be
    assert message.endswith("correct the file and import it again")
    assert dump(db_url) == before  # not even the new pupil, school or good rows


def test_the_error_lists_at_most_twenty_rows(engine: Engine, db_url: str) -> None:
    before = dump(db_url)
    bad = [("p-1", "vest", 99, "2026-03-02", "morning", "S")] * 25
    with pytest.raises(
        InvalidInput, match=r"25 bad rows.*line 21: .*; and 5 more; correct"
    ) as caught:
        load(engine, bad)
    assert "line 22" not in str(caught.value)
    assert dump(db_url) == before


def test_rows_after_many_chunks_still_roll_back(
    engine: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(absence_csv, "CHUNK", 3)  # written chunk by chunk before the bad row
    before = dump(db_url)
    rows = [("p-1", "vest", 8, f"2026-03-{d:02d}", "morning", "S") for d in range(2, 20)]
    with pytest.raises(InvalidInput, match="line 20: grade"):
        load(engine, [*rows, ("p-1", "vest", 12, "2026-03-20", "morning", "S")])
    assert dump(db_url) == before


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty; the first line must be the header"),
        ("pupil,school,grade,date,period,code\n", "the header lacks pupil_ref"),
    ],
)
def test_header_problems(engine: Engine, text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        import_text(engine, text, name="f.csv")


def test_a_file_that_is_not_utf8(engine: Engine, tmp_path: object) -> None:
    path = tmp_path / "latin1.csv"  # type: ignore[operator]
    path.write_bytes(
        csv_text([("p-1", "vest", 8, "2026-03-02", "morning", "S")]).encode()
        + "æ\n".encode("latin-1")
    )
    with (
        path.open(encoding="utf-8-sig", newline="") as stream,
        pytest.raises(InvalidInput, match=r"latin1\.csv is not UTF-8 text.*save it as CSV UTF-8"),
    ):
        repo.import_registrations(engine, absence_csv.read_registrations(stream, name="latin1.csv"))


# ---------------------------------------------------------------- calendar


def periods(engine: Engine) -> list[tuple[str, str, str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                repo.HolidayPeriodRow.school,
                repo.HolidayPeriodRow.first_day,
                repo.HolidayPeriodRow.last_day,
                repo.HolidayPeriodRow.name,
            ).order_by(repo.HolidayPeriodRow.school, repo.HolidayPeriodRow.first_day)
        ).all()
    return [(s, f.isoformat(), t.isoformat(), n) for s, f, t, n in rows]


def import_calendar(engine: Engine, text: str) -> repo.CalendarImportReport:
    return repo.import_calendar(
        engine, absence_csv.read_calendar(io.StringIO(text), name="cal.csv")
    )


def test_calendar_import_replaces_the_span_it_covers(engine: Engine) -> None:
    first = (
        "school,first_day,last_day,name\n"
        "*,2025-10-13,2025-10-17,efterårsferie\n"
        "*,2026-02-09,2026-02-13,vinterferie\n"
        "vest,2026-02-16,2026-02-20,vinterferie\n"
    )
    report = import_calendar(engine, first)
    assert (report.periods, report.schools) == (3, ["*", "vest"])
    assert import_calendar(engine, first).replaced == 3
    # a corrected school year: winter in week 8, not 7; a file is the whole calendar of its span
    corrected = "school;first_day;last_day\n*;2025-10-13;2025-10-17\n*;2026-02-16;2026-02-20\n"
    import_calendar(engine, corrected)
    next_year = "school,first_day,last_day,name\n*,2026-10-12,2026-10-16,efterårsferie\n"
    import_calendar(engine, next_year)
    assert periods(engine) == [
        ("*", "2025-10-13", "2025-10-17", ""),
        ("*", "2026-02-16", "2026-02-20", ""),
        ("*", "2026-10-12", "2026-10-16", "efterårsferie"),
        ("vest", "2026-02-16", "2026-02-20", "vinterferie"),
    ]


def test_a_bad_calendar_is_rejected_whole(engine: Engine) -> None:
    text = "school,first_day,last_day\n*,2026-02-13,2026-02-09\nvest,2026-13-01,2026-02-09\n"
    with pytest.raises(InvalidInput, match=r"2 bad rows.*line 2: last_day 2026-02-09 is before"):
        import_calendar(engine, text)
    assert periods(engine) == []


# ---------------------------------------------------------------- directory


def test_school_directory(engine: Engine) -> None:
    load(engine, ROWS)  # creates placeholder schools named by their code
    directory(engine)
    directory(engine)  # idempotent
    with engine.connect() as conn:
        schools = conn.execute(
            select(
                repo.SchoolRow.code,
                repo.SchoolRow.name,
                repo.SchoolRow.leader_email,
                repo.SchoolRow.coordinator_name,
                repo.SchoolRow.coordinator_email,
            ).order_by(repo.SchoolRow.code)
        ).all()
        teachers = conn.execute(
            select(repo.TeacherRow.grade, repo.TeacherRow.name, repo.TeacherRow.email).order_by(
                repo.TeacherRow.grade
            )
        ).all()
    assert [tuple(s) for s in schools] == [
        ("oest", "Østskolen", "leder@oest.example.dk", "Kommunal tovholder", COORDINATOR),
        ("vest", "Vestskolen", LEADER, "Kommunal tovholder", COORDINATOR),
    ]
    assert [tuple(t) for t in teachers] == [(3, "Ida Krogh", None), (8, "Jens Øster", TEACHER)]


def test_a_bad_directory_is_rejected_whole(engine: Engine) -> None:
    text = DIRECTORY.replace(LEADER, "leder-at-vest", 1) + "nord,,A,a@b.dk,c@d.dk,,,\n"
    with pytest.raises(InvalidInput) as caught:
        repo.import_schools(
            engine,
            absence_csv.read_schools(io.StringIO(text), name="schools.csv"),
            now=at("2026-01-05"),
        )
    message = str(caught.value)
    assert "line 2: leader_email: not a usable e-mail address" in message
    assert "leder-at-vest" not in message  # what was typed is not repeated
    assert "line 3: school 'vest' is described differently on an earlier line" not in message
    assert "line 5: name must be 1–200 characters" in message
    with engine.connect() as conn:
        assert conn.execute(select(repo.SchoolRow.id)).all() == []
