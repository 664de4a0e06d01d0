"""Recurring meetings: a sweep's cost follows the occurrences due, not the series alive.

1,000 running learning groups (weekly series), of which 100 have a session whose notes
fall due, swept beside the same 100 alone: each group holds one pending timer (its next
note check), so the 900 others are never read.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from machines import COPENHAGEN
from persistence import CaseStore, ensure_schema, make_engine

from .common import Row, scratch_database

PEDAGOGUE = "pia@boernehuset.example.dk"


def _groups(url: str, due: int, later: int) -> CaseStore:
    engine = make_engine(url)
    ensure_schema(engine)
    store = CaseStore(engine)
    opened = datetime(2027, 1, 4, 9, 0, tzinfo=COPENHAGEN)
    for n in range(due + later):
        case_id = store.open_case(
            "learning_group",
            {
                "title": "Børnehuset",
                "location": "Børnehuset, stue 2",
                "room": "Stue 2",
                "children": [f"b{n}-1", f"b{n}-2", f"b{n}-3"],
                "participants": [
                    {"key": "paed", "role": "pedagogue", "name": "Pia", "email": PEDAGOGUE}
                ],
            },
            opened,
        )
        # The first `due` groups met on 11 January; the others start in March.
        first = opened + (timedelta(days=7) if n < due else timedelta(weeks=9))
        plan = {"first": first.isoformat(), "weeks": 20}
        store.fire(case_id, "plan_sessions", PEDAGOGUE, plan, opened + timedelta(hours=1))
    return store


def _sweep_seconds(store: CaseStore) -> float:
    now = datetime(2027, 1, 13, 12, 0, tzinfo=COPENHAGEN)
    started = time.perf_counter()
    report = store.sweep(now)
    seconds = time.perf_counter() - started
    assert report.fired == {"learning_group/note_check": 100}, report.fired
    return seconds


def run() -> list[Row]:
    with scratch_database("sqlite") as many, scratch_database("sqlite") as few:
        with_series = _sweep_seconds(_groups(many, 100, 900))
        alone = _sweep_seconds(_groups(few, 100, 0))
    return [
        (
            "sweep: 100 occurrences due of 1,000 series (SQLite)",
            with_series,
            "s",
            "the same 100 with no other series",
            alone,
        )
    ]
