"""learning_group through the generic CLI, as a coordinator drives it: open from a file,
fire with --set, read the notes with ``case form``; bad input is one line, exit 2, nothing
written. On SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from .cli_helpers import dump, ok, run, write_json
from .test_learning_group_rules import GROUP, LEADER, PEDAGOGUE, PLAN, STAFF


def test_a_group_through_the_cli(db_url: str, tmp_path: Path) -> None:
    group = write_json(tmp_path, "group.json", GROUP)
    case_id = ok(
        db_url, "case", "open", "learning_group", "--file", group, now="2027-01-04T09:00:00+01:00"
    ).strip()
    plan = write_json(tmp_path, "plan.json", PLAN)
    out = ok(
        db_url,
        "case",
        "fire",
        case_id,
        "plan_sessions",
        "--by",
        PEDAGOGUE,
        "--file",
        plan,
        now="2027-01-04T10:00:00+01:00",
    )
    assert "forming → running" in out and "note_check at 2027-01-13 10:00" in out

    before = dump(db_url)
    five = write_json(
        tmp_path, "five.json", {**GROUP, "children": ["b-1", "b-2", "b-3", "b-4", "b-5"]}
    )
    taken = write_json(tmp_path, "taken.json", {**GROUP, "children": ["barn-a1", "b-2", "b-3"]})
    for args, message in (
        (("case", "open", "learning_group", "--file", five), "3–4 children, 5 given"),
        (
            ("case", "open", "learning_group", "--file", taken),
            f"a child given is already in case {case_id}",
        ),
        (
            (
                "case",
                "fire",
                case_id,
                "write_note",
                "--by",
                PEDAGOGUE,
                "--set",
                "session=2027-01-11T10:00:00+01:00",
                "--set",
                "child=barn-z9",
                "--set",
                "wheel.sprog=x",
            ),
            "the child given is not in this group",
        ),
        (
            # A CPR number typed as an area, a name as a child, a CPR number as a --set:
            # none is repeated on stderr (nor in Prefect's state message).
            (
                *("case", "fire", case_id, "write_note", "--by", PEDAGOGUE),
                *("--set", "session=2027-01-11T10:00:00+01:00", "--set", "child=barn-b2"),
                *("--set", 'wheel={"010203-1234": ""}'),
            ),
            "input for 'write_note': wheel.(not repeated): String should have at least 1",
        ),
        (
            (
                *("case", "fire", case_id, "write_note", "--by", PEDAGOGUE),
                *("--set", "session=2027-01-11T10:00:00+01:00", "--set", "child=ida-aeblegaard"),
                *("--set", "wheel.sprog=x"),
            ),
            "the child given is not in this group; its children are: barn-a1",
        ),
        (
            (
                *("case", "fire", case_id, "write_note", "--by", PEDAGOGUE),
                *("--set", "session=2027-01-11T10:00:00+01:00", "--set", "010203-1234"),
            ),
            "--set no. 2 is not key=value",
        ),
        (("case", "fire", case_id, "add_child", "--by", LEADER, "--set", "child=barn-d4"), None),
        (
            ("case", "fire", case_id, "add_child", "--by", LEADER, "--set", "child=barn-e5"),
            "3–4 children, 5 given",
        ),
    ):
        result = run(db_url, *args, now="2027-01-11T12:00:00+01:00")
        if message is None:
            assert result.code == 0, result.err
            before = dump(db_url)
            continue
        assert result.code == 2, (args, result.err)
        assert result.err.count("\n") == 1 and message in result.err
        assert "010203" not in result.err and "aeblegaard" not in result.err
        assert "Traceback" not in result.err
        assert dump(db_url) == before

    ok(
        db_url,
        "case",
        "fire",
        case_id,
        "write_note",
        "--by",
        PEDAGOGUE,
        "--set",
        "session=2027-01-11T10:00:00+01:00",
        "--set",
        "child=barn-b2",
        "--set",
        "wheel.sprog=fortæller",
        now="2027-01-11T12:00:00+01:00",
    )
    form = ok(db_url, "case", "form", case_id, "--by", STAFF, now="2027-01-11T12:30:00+01:00")
    assert "barn-b2 – sprog: fortæller" in form
    stranger = run(
        db_url, "case", "form", case_id, "--by", "x@example.com", now="2027-01-11T12:30:00+01:00"
    )
    # Someone not on the case hears what they would of a case that does not exist.
    assert stranger.code == 2 and f"there is no case {case_id};" in stranger.err
    assert "fortæller" not in stranger.err
