"""``forloeb rota absent`` (issue 14): a social worker's absence moves their monthly
meetings — to the other social worker at the same time when they are free, else to another
open day of the month — each as an update of that occurrence alone (RECURRENCE-ID, a raised
SEQUENCE) to the leader and the covering worker, and a CANCEL of it to the absent one; no
one is booked twice; a meeting that cannot be placed is one line, exit 2, nothing written.
The real console script, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

from sqlalchemy import select

from flows.rota import booked_meetings, read_rota
from machines import WorkingCalendar
from machines.recurring import stored_occurrences
from machines.workdays import COPENHAGEN
from persistence import make_engine, open_store
from persistence.models import OutboxRow, ParticipantRow

from .cli_helpers import dump, run, write_json
from .test_rota_cli import NOW, rota

SARA = "sara@familie.example.dk"
SUNE = "sune@familie.example.dk"


def planned(db_url: str, tmp_path: Path, content: dict[str, Any]) -> list[dict[str, Any]]:
    path = write_json(tmp_path, "plan.json", content)
    done = run(db_url, "rota", "plan", "--month", "2027-03", "--file", path, "--json", now=NOW)
    assert done.code == 0, done.err
    return list(done.json())


def absent(db_url: str, path: str, worker: str, first: str, last: str, *more: str) -> Any:
    return run(
        db_url,
        "rota",
        "absent",
        "--worker",
        worker,
        "--from",
        first,
        "--to",
        last,
        "--file",
        path,
        *more,
        now=NOW,
    )


def outbox(db_url: str) -> list[tuple[int, str, str, int | None, datetime | None]]:
    """(case, template, to, SEQUENCE, RECURRENCE-ID) of every queued message, in order."""
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(
                    OutboxRow.case_id,
                    OutboxRow.template,
                    ParticipantRow.email,
                    OutboxRow.sequence,
                    OutboxRow.recurrence_id,
                )
                .join(ParticipantRow, ParticipantRow.id == OutboxRow.participant_id)
                .order_by(OutboxRow.id)
            ).all()
        return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]
    finally:
        engine.dispose()


def assert_no_double_booking(db_url: str, content: dict[str, Any]) -> None:
    store = open_store(db_url)
    now = datetime.fromisoformat(NOW)
    file = read_rota(content, "rota.json")
    booked = booked_meetings(store, file, date(2027, 3, 1), date(2027, 3, 31), now).meetings
    per_day = Counter((b.worker, b.start.astimezone(COPENHAGEN).date()) for b in booked)
    assert max(per_day.values()) <= file.settings.max_per_day
    by_worker: dict[str, list[Any]] = {}
    for b in booked:
        by_worker.setdefault(b.worker, []).append(b)
    for meetings in by_worker.values():
        meetings.sort(key=lambda b: b.start)
        for one, then in pairwise(meetings):
            assert one.end <= then.start, (one, then)


def test_the_other_worker_covers_at_the_same_time_as_an_occurrence_update(
    db_url: str, tmp_path: Path
) -> None:
    content = rota(6)
    plan = planned(db_url, tmp_path, content)
    saras = {p["daycare"]: p for p in plan if p["worker"] == "sr-sara"}
    path = write_json(tmp_path, "rota.json", content)
    before = outbox(db_url)

    dry = absent(db_url, path, SARA, "2027-03-01", "2027-03-31", "--dry-run")
    assert dry.code == 0, dry.err
    assert dry.out.strip().splitlines()[-1].endswith("(dry run: nothing written): "
        "3 to another social worker, 0 to another day")  # fmt: skip
    assert outbox(db_url) == before

    done = absent(db_url, path, SARA, "2027-03-01", "2027-03-31", "--json")
    assert done.code == 0, done.err
    moves = done.json()
    assert {m["daycare"] for m in moves} == set(saras)
    assert {(m["worker"], m["action"]) for m in moves} == {("sr-sune", "cover")}

    store = open_store(db_url)
    for m in moves:
        case = store.snapshot(m["case_id"])
        (occurrence,) = [o for o in stored_occurrences(case) if o.start.month == 3]
        assert occurrence.start == datetime.fromisoformat(m["start"])
        # The covering worker is on the case, and the occurrence's own attendees are theirs.
        (cover,) = case.with_role("substitute")
        assert cover.email == SUNE
        rid = datetime.fromisoformat(m["session"])
        messages = [o for o in outbox(db_url) if o[0] == m["case_id"] and o[4] is not None]
        assert {(t, to) for _, t, to, _, _ in messages} == {
            ("update", SUNE),
            ("update", case.with_role("leader")[0].email),
            ("cancellation", SARA),
        }
        assert {r for *_, r in messages} == {rid}
        assert {s for *_, s, _ in messages} == {1}  # above the series' SEQUENCE 0

    # Sune at the same time would be booked twice: he takes those at another free time.
    assert all(
        datetime.fromisoformat(m["start"]).date() == datetime.fromisoformat(m["from_start"]).date()
        for m in moves
    )
    assert_no_double_booking(db_url, content)

    # Planning the month again leaves the moved meetings where the absence put them.
    again = planned(db_url, tmp_path, content)
    assert {p["action"] for p in again} == {"keep"}


def test_without_the_other_worker_that_day_the_meeting_moves_to_another_open_day(
    db_url: str, tmp_path: Path
) -> None:
    content = rota(6)
    content["workers"][1]["weekdays"] = ["tue", "wed", "thu"]  # Sune never on a Monday
    plan = planned(db_url, tmp_path, content)
    mondays = [p for p in plan if p["worker"] == "sr-sara"]
    first = min(datetime.fromisoformat(p["start"]) for p in mondays)
    assert first.weekday() != 1  # not a day Sune could cover it at the same time
    day = first.date()
    # The municipality closes the next working day: the meeting goes further.
    closed = day + timedelta(days=1)
    content["closure_days"] = [closed.isoformat()]
    path = write_json(tmp_path, "rota.json", content)

    done = absent(db_url, path, SARA, day.isoformat(), day.isoformat(), "--json")
    assert done.code == 0, done.err
    (move,) = done.json()
    start = datetime.fromisoformat(move["start"])
    calendar = WorkingCalendar.from_env()
    assert start.date() not in (day, closed)
    assert start.month == day.month and calendar.is_working_day(start.date())
    assert start > datetime.fromisoformat(NOW)
    if move["worker"] == "sr-sara":
        assert move["action"] == "move"  # her own meeting, on a day she is back
    else:
        assert start.weekday() in (1, 2, 3)  # a day Sune works
    case = open_store(db_url).snapshot(move["case_id"])
    assert start in {o.start for o in stored_occurrences(case)}
    updates = [o for o in outbox(db_url) if o[0] == move["case_id"] and o[1] == "update"]
    assert updates and all(o[3] == 1 and o[4] is not None for o in updates)
    assert_no_double_booking(db_url, content)


def test_a_meeting_that_cannot_be_placed_is_one_line_and_writes_nothing(
    db_url: str, tmp_path: Path
) -> None:
    content = rota(2, settings={"max_per_day": 1})
    content["workers"][1]["weekdays"] = ["mon"]
    plan = planned(db_url, tmp_path, content)
    (sunes,) = [p for p in plan if p["worker"] == "sr-sune"]
    (saras,) = [p for p in plan if p["worker"] == "sr-sara"]
    sune_day = datetime.fromisoformat(sunes["start"]).date()
    # Every other Monday of March is closed, and Sune's own Monday is full.
    content["closure_days"] = [
        d.isoformat()
        for d in (date(2027, 3, 1) + timedelta(days=n) for n in range(31))
        if d.weekday() == 0 and d != sune_day
    ]
    path = write_json(tmp_path, "rota.json", content)
    before = dump(db_url)

    done = absent(db_url, path, SARA, "2027-03-01", "2027-03-31")
    assert done.code == 2
    assert done.err.count("\n") == 1, done.err
    day = datetime.fromisoformat(saras["start"]).date()
    assert f"{saras['daycare']}'s meeting on {day:%d.%m.%Y}" in done.err
    assert "cannot be placed" in done.err and "allow more meetings a day" in done.err
    assert "Traceback" not in done.err
    assert dump(db_url) == before


def test_bad_absences_are_one_line_and_write_nothing(db_url: str, tmp_path: Path) -> None:
    content = rota(2)
    planned(db_url, tmp_path, content)
    path = write_json(tmp_path, "rota.json", content)
    before = dump(db_url)
    cases = [
        (SARA, "2027-03-10", "2027-03-01", "--to lies before --from"),
        (SARA, "1. marts", "2027-03-01", "YYYY-MM-DD"),
        ("nobody@example.dk", "2027-03-01", "2027-03-02", "--worker is not the e-mail"),
        (SARA, "2027-03-01", "2028-06-01", "more than 366 days"),
    ]
    for worker, first, last, message in cases:
        done = absent(db_url, path, worker, first, last)
        assert done.code == 2 and message in done.err and done.err.count("\n") == 1, done.err
        assert "nobody" not in done.err
    assert dump(db_url) == before
