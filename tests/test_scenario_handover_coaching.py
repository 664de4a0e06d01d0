"""handover and coaching through the command line: the form, consent, capacity."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from persistence import CaseStore, make_engine

from .cli_helpers import ok as run_ok
from .cli_helpers import run, write_json
from .conftest import at
from .test_coaching_rules import COACH, COACHING_CASE
from .test_handover_rules import HANDOVER_CASE, LEADER, MOTHER, NURSE, PEDAGOGUE, SECRET


def test_the_daycare_reads_the_form_only_after_the_startup(db_url: str, tmp_path: Path) -> None:
    ok = partial(run_ok, db_url)

    case = ok(
        "case",
        "open",
        "handover",
        "--file",
        write_json(tmp_path, "c.json", HANDOVER_CASE),
        now="2027-01-15T09:00:00+01:00",
    ).strip()
    ok("case", "fire", case, "offer", "--by", NURSE, now="2027-01-20T09:00:00+01:00")
    ok(
        "case",
        "fire",
        case,
        "accept",
        "--by",
        MOTHER,
        "--set",
        'sections=["health"]',
        "--set",
        "nurse_at_startup=false",
        now="2027-01-25T09:00:00+01:00",
    )
    ok(
        "case",
        "fire",
        case,
        "schedule_home_visit",
        "--by",
        NURSE,
        "--set",
        "start=2027-03-01T10:00:00+01:00",
        now="2027-01-26T09:00:00+01:00",
    )
    refused = run(
        db_url,
        "case",
        "fire",
        case,
        "complete_form",
        "--by",
        NURSE,
        "--file",
        write_json(tmp_path, "f.json", {"sections": {"health": SECRET, "family": "x"}}),
        now="2027-03-01T11:00:00+01:00",
    )
    assert refused.code == 3 and "not consented to sharing family" in refused.err
    ok(
        "case",
        "fire",
        case,
        "complete_form",
        "--by",
        NURSE,
        "--file",
        write_json(tmp_path, "g.json", {"sections": {"health": SECRET}}),
        now="2027-03-01T11:00:00+01:00",
    )
    ok(
        "case",
        "fire",
        case,
        "schedule_startup",
        "--by",
        LEADER,
        "--set",
        "start=2027-04-05T09:00:00+02:00",
        now="2027-03-02T09:00:00+01:00",
    )

    early = run(db_url, "case", "form", case, "--by", PEDAGOGUE, now="2027-04-01T09:00:00+02:00")
    assert early.code == 3 and "from the start-up conversation on" in early.err
    assert SECRET not in early.out + early.err
    ok("case", "fire", case, "hold_startup", "--by", LEADER, now="2027-04-05T10:00:00+02:00")
    form = ok("case", "form", case, "--by", PEDAGOGUE, now="2027-04-05T10:05:00+02:00")
    assert form == f"## health\n{SECRET}\n\n"


def test_capacity_lists_coaches_and_warns_at_fifty(db_url: str, tmp_path: Path) -> None:
    engine = make_engine(db_url)
    store = CaseStore(engine)
    for n in range(50):  # a busy year for one coach
        store.open_case(
            "coaching", {**COACHING_CASE, "youth_ref": f"ung-{n}"}, at("2026-06-01 09:00")
        )
    engine.dispose()
    listed = run(db_url, "capacity", "--json", now="2027-01-04T09:00:00+01:00").json()
    coach = next(row for row in listed if row["email"] == COACH)
    assert (coach["started_12_months"], coach["active"], coach["capacity"]) == (50, 50, 50)

    opened = run(
        db_url,
        "case",
        "open",
        "coaching",
        "--file",
        write_json(tmp_path, "c.json", {**COACHING_CASE, "youth_ref": "ung-51"}),
        now="2027-01-04T09:00:00+01:00",
    )
    assert opened.code == 0, opened.err
    assert opened.err.startswith("warning: this coach has 50 courses started in the last 12 months")
    # The coach reads it: the history's details are a participant's to see, not the operator's.
    shown = run(db_url, "case", "show", opened.out.strip(), "--by", COACH, "--json")
    history = shown.json()["history"]
    assert history[0]["details"] == {
        "capacity_warnings": [
            {"role": "coach", "key": "coach", "started_12_months": 50, "capacity": 50}
        ]
    }
    # A year later the old courses no longer count towards the capacity.
    later = run(db_url, "capacity", "--json", now="2027-06-02T09:00:00+02:00").json()
    assert next(row for row in later if row["email"] == COACH)["started_12_months"] == 1
