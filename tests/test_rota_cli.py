"""``forloeb rota plan`` (issue 14): a month's 46 monthly consultations over two social
workers — a dry run writes nothing; a plan opens each daycare's case and queues its
series for the leader and the social worker; planning the month again sends nothing; a
closure day on a slot moves that one occurrence (RECURRENCE-ID); a month too small is one
line, exit 2, nothing written. The real console script, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from machines.recurring import stored_occurrences
from persistence import open_store

from .cli_helpers import dump, run, write_json

NOW = "2027-02-15T09:00:00+01:00"


def rota(n: int = 46, **changes: Any) -> dict[str, Any]:
    return {
        "workers": [
            {"key": "sr-sara", "name": "Sara Socialrådgiver", "email": "sara@familie.example.dk"},
            {
                "key": "sr-sune",
                "name": "Sune Socialrådgiver",
                "email": "sune@familie.example.dk",
                "weekdays": ["mon", "tue", "wed", "thu"],
            },
        ],
        "daycares": [
            {
                "key": f"dt-{i:02d}",
                "name": f"Børnehuset {i}",
                "location": f"Børnehuset {i}, personalerummet",
                "leader": {"name": f"Leder {i}", "email": f"leder{i}@dagtilbud.example.dk"},
            }
            for i in range(n)
        ],
        "settings": {"times": ["09:00", "11:00", "13:00"], "max_per_day": 2},
        **changes,
    }


def test_a_dry_run_prints_the_plan_and_writes_nothing(db_url: str, tmp_path: Path) -> None:
    path = write_json(tmp_path, "rota.json", rota())
    before = dump(db_url)
    done = run(db_url, "rota", "plan", "--month", "2027-03", "--file", path, "--dry-run", now=NOW)
    assert done.code == 0, done.err
    lines = done.out.strip().splitlines()
    assert len(lines) == 47
    assert lines[-1] == (
        "46 meetings in 2027-03 planned (dry run: nothing written): sr-sara 23, sr-sune 23; "
        "0 on their stable slot"  # none had one: every daycare gets a new slot
    )
    assert all(line.endswith("new    open") for line in lines[:-1])
    assert dump(db_url) == before


def test_a_plan_opens_the_cases_and_sends_each_series_once(db_url: str, tmp_path: Path) -> None:
    path = write_json(tmp_path, "rota.json", rota())
    done = run(db_url, "rota", "plan", "--month", "2027-03", "--file", path, "--json", now=NOW)
    assert done.code == 0, done.err
    plan = done.json()
    assert {p["action"] for p in plan} == {"open"} and len(plan) == 46
    rows = dump(db_url)
    assert len(rows["cases"]) == 46
    invitations = [r for r in rows["outbox"] if "invitation" in r]
    assert len(invitations) == 92  # the leader's and the social worker's series

    again = run(db_url, "rota", "plan", "--month", "2027-03", "--file", path, "--json", now=NOW)
    assert {p["action"] for p in again.json()} == {"keep"}
    assert dump(db_url)["outbox"] == rows["outbox"]

    # April: one daycare's slot day becomes a closure day; that occurrence alone moves.
    first = plan[0]
    april = open_store(db_url).snapshot(_case_of(db_url, first["daycare"]))
    slot_day = next(o.start.date() for o in stored_occurrences(april) if o.start.month == 4)
    changed = rota()
    changed["daycares"][int(first["daycare"][3:])]["closure_days"] = [slot_day.isoformat()]
    path = write_json(tmp_path, "rota-april.json", changed)
    moved = run(db_url, "rota", "plan", "--month", "2027-04", "--file", path, "--json", now=NOW)
    assert moved.code == 0, moved.err
    actions = {p["daycare"]: p["action"] for p in moved.json()}
    assert actions[first["daycare"]] == "move"
    assert set(actions.values()) <= {"keep", "move"}
    updates = [r for r in dump(db_url)["outbox"] if "update" in r]
    assert len(updates) == 2 * sum(1 for a in actions.values() if a == "move")
    after = open_store(db_url).snapshot(april.id)
    assert slot_day not in {o.start.date() for o in stored_occurrences(after)}


def _case_of(db_url: str, daycare: str) -> int:
    store = open_store(db_url)
    for summary in store.list_cases(datetime.fromisoformat(NOW), process="consultation"):
        if store.snapshot(summary["id"]).data["case_file"]["daycare"] == daycare:
            return int(summary["id"])
    raise AssertionError(daycare)


def test_a_month_too_small_is_one_line_and_writes_nothing(db_url: str, tmp_path: Path) -> None:
    path = write_json(tmp_path, "rota.json", rota(settings={"max_per_day": 1}))
    before = dump(db_url)
    done = run(db_url, "rota", "plan", "--month", "2027-12", "--file", path, now=NOW)
    assert done.code == 2
    assert done.err.count("\n") == 1
    assert "2027-12 has room for 39 meetings" in done.err
    assert "46 needed; allow more meetings a day" in done.err
    assert dump(db_url) == before


def test_bad_rota_files_and_months_are_one_line(db_url: str, tmp_path: Path) -> None:
    before = dump(db_url)
    cases = [
        # A key the file does not have is typed, and may be anything: not repeated.
        (rota(extra="x"), "2027-03", "rota.json: (not repeated): Extra inputs are not permitted"),
        (rota(settings={"times": ["9 o'clock"]}), "2027-03", "HH:MM"),
        (rota(), "2027-13", "YYYY-MM"),
    ]
    for content, month, message in cases:
        path = write_json(tmp_path, "rota.json", content)
        done = run(db_url, "rota", "plan", "--month", month, "--file", path, now=NOW)
        assert done.code == 2 and message in done.err and done.err.count("\n") == 1, done.err
    assert dump(db_url) == before
