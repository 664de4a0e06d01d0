"""Shared workload for the benchmarks: a complete samråd, event by event."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from machines import COPENHAGEN

LEADER = "leder@skole.example.dk"
PPR = "ppr-i@ppr.example.dk"
ROLES = [
    "pupil",
    "parent",
    "school_leader",
    "teacher",
    "ppr_interviewer",
    "ppr_referent",
    "school_social_worker",
    "coordinator",
]
EMAILS = {"school_leader": LEADER, "ppr_interviewer": PPR}

CASE_FILE: dict[str, Any] = {
    "title": "Skolen ved Søerne",
    "location": "Skolen ved Søerne",
    "participants": [
        {
            "key": r.replace("_", "-"),
            "role": r,
            "name": f"Navn {r}",
            "email": EMAILS.get(r, f"{r.replace('_', '')}@example.dk"),
        }
        for r in ROLES
    ],
}
PRESENT = [r.replace("_", "-") for r in ROLES if r != "coordinator"]
NOTES = {k: "note" for k in PRESENT}

START = datetime(2027, 1, 4, 8, 0, tzinfo=COPENHAGEN)


def lifecycle() -> list[tuple[str, str, dict[str, Any], datetime]]:
    """(event, actor, input, now) of one samråd from convene to close: 8 events."""
    meeting = START + timedelta(days=3, hours=1)
    follow_up = START + timedelta(days=30, hours=1)
    return [
        ("convene", LEADER, {}, START),
        ("schedule", LEADER, {"start": meeting.isoformat()}, START + timedelta(hours=1)),
        ("start_meeting", PPR, {}, meeting),
        ("next_round", PPR, {"notes": NOTES}, meeting + timedelta(minutes=30)),
        ("next_round", PPR, {"notes": NOTES}, meeting + timedelta(minutes=60)),
        (
            "conclude",
            LEADER,
            {"notes": NOTES, "decisions": ["d"], "follow_up": {"start": follow_up.isoformat()}},
            meeting + timedelta(minutes=85),
        ),
        (
            "send_action_plan",
            LEADER,
            {"items": [{"owner": "teacher", "action": "a", "due": "2027-02-01"}]},
            meeting + timedelta(days=1),
        ),
        ("hold_follow_up", LEADER, {"outcome": "close"}, follow_up),
    ]
