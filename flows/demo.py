"""``forloeb demo``: one complete fraværssamråd on a simulated clock.

convene → the leader is warned → the deadline passes (coordinator alerted) → scheduled
late with a reason → reminder → three rounds → conclude → action-plan reminder → action
plan → follow-up reminder → follow-up closes the case. Each step prints one timeline row.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from sqlalchemy import select

from machines import COPENHAGEN
from persistence import CaseStore, OutboxRow, ParticipantRow, ensure_schema, make_engine

from .render import local

LEADER = "birgitte.holm@skolen-ved-soerne.example.dk"
PPR = "mads.krogh@ppr.example.dk"

CASE_FILE: dict[str, Any] = {
    "title": "Skolen ved Søerne",
    "location": "Skolen ved Søerne, mødelokale 2",
    "participants": [
        {"key": "elev", "role": "pupil", "name": "Elev (demo)", "email": None},
        {"key": "mor", "role": "parent", "name": "Forælder (demo)", "email": "mor@example.dk"},
        {"key": "leder", "role": "school_leader", "name": "Birgitte Holm", "email": LEADER},
        {
            "key": "laerer",
            "role": "teacher",
            "name": "Jens Øster",
            "email": "jens.oster@skolen-ved-soerne.example.dk",
        },
        {"key": "ppr-i", "role": "ppr_interviewer", "name": "Mads Krogh", "email": PPR},
        {
            "key": "ppr-r",
            "role": "ppr_referent",
            "name": "Signe Friis",
            "email": "signe.friis@ppr.example.dk",
        },
        {
            "key": "soc",
            "role": "school_social_worker",
            "name": "Aylin Demir",
            "email": "aylin.demir@skolen-ved-soerne.example.dk",
        },
        {
            "key": "tovholder",
            "role": "coordinator",
            "name": "Karen Lund",
            "email": "karen.lund@kommune.example.dk",
        },
    ],
}
PRESENT = ["elev", "mor", "leder", "laerer", "ppr-i", "ppr-r", "soc"]


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=COPENHAGEN)


def _notes(question: str) -> dict[str, str]:
    return {key: f"{question} ({key})" for key in PRESENT}


# (when, event or "sweep", actor, input)
SCRIPT: list[tuple[str, str, str, dict[str, Any]]] = [
    ("2026-12-21 09:00", "convene", LEADER, {}),
    ("2026-12-30 09:00", "sweep", "", {}),
    ("2027-01-06 08:00", "sweep", "", {}),
    (
        "2027-01-06 10:00",
        "schedule",
        LEADER,
        {"start": "2027-01-11T09:00:00+01:00", "reason": "PPR-psykologen var syg i juleugen"},
    ),
    ("2027-01-07 09:00", "sweep", "", {}),
    ("2027-01-11 09:00", "start_meeting", PPR, {}),
    ("2027-01-11 09:30", "next_round", PPR, {"notes": _notes("hvad mødet skal bidrage med")}),
    ("2027-01-11 10:00", "next_round", PPR, {"notes": _notes("hvad hindrer, hvad hjælper")}),
    (
        "2027-01-11 10:25",
        "conclude",
        LEADER,
        {
            "notes": _notes("hvad kan hver især bidrage med"),
            "decisions": ["Morgenaftale med klasselæreren", "Ugentlig kontakt til hjemmet"],
            "follow_up": {"start": "2027-02-08T09:00:00+01:00"},
        },
    ),
    ("2027-01-13 09:00", "sweep", "", {}),
    (
        "2027-01-13 14:00",
        "send_action_plan",
        LEADER,
        {
            "items": [
                {"owner": "laerer", "action": "Morgenaftale hver dag kl. 8", "due": "2027-01-18"},
                {
                    "owner": "mor",
                    "action": "Ugentlig samtale med klasselæreren",
                    "due": "2027-01-22",
                },
            ]
        },
    ),
    ("2027-02-04 09:00", "sweep", "", {}),
    ("2027-02-08 10:00", "hold_follow_up", LEADER, {"outcome": "close"}),
]


def _notified(store: CaseStore, after_id: int) -> tuple[str, int]:
    with store.transaction() as session:
        rows = session.execute(
            select(OutboxRow.id, OutboxRow.template, ParticipantRow.role)
            .join(ParticipantRow, OutboxRow.participant_id == ParticipantRow.id)
            .where(OutboxRow.id > after_id)
            .order_by(OutboxRow.id)
        ).all()
    if not rows:
        return "—", after_id
    by_template: dict[str, Counter[str]] = {}
    for row in rows:
        by_template.setdefault(row.template, Counter())[row.role] += 1
    parts = []
    for template, roles in by_template.items():
        who = ", ".join(sorted(roles)) if len(roles) <= 2 else f"{sum(roles.values())} people"
        parts.append(f"{template} → {who}")
    return "; ".join(parts), rows[-1].id


def run_demo(console: Console, database: str | None = None) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="forloeb-demo-"))
    url = database or f"sqlite:///{workdir / 'demo.db'}"
    engine = make_engine(url)
    ensure_schema(engine)
    store = CaseStore(engine)

    case_id = store.open_case("samraad", CASE_FILE, _at("2026-12-21 08:55"), actor=LEADER)
    console.print(
        f"[bold]forloeb demo[/bold] — a fraværssamråd, case {case_id}, database {url}\n"
        "Convened on Monday 21 December 2026: 7 working days, skipping 24–27 and 31 December "
        "and New Year's Day, end on Tuesday 5 January 2027.\n"
    )
    last_outbox = 0
    for when, event, actor, payload in SCRIPT:
        now = _at(when)
        if event == "sweep":
            report = store.sweep(now)
            label = "sweep: " + (", ".join(k.split("/")[1] for k in report.fired) or "nothing due")
            state = store.snapshot(case_id).state
        else:
            decision = store.fire(case_id, event, actor, payload, now)
            label = event
            state = (
                decision.dest
                if decision.dest == decision.source
                else f"{decision.source} → {decision.dest}"
            )
        shown = store.show(case_id)
        pending = sorted(
            (t for t in shown["timers"] if t["status"] == "pending"), key=lambda t: t["due"]
        )
        upcoming = f"{pending[0]['event']} {local(pending[0]['due'])}" if pending else "—"
        notified, last_outbox = _notified(store, last_outbox)
        console.print(f"[bold]{local(now)}[/bold]  {label:<32} {state}")
        console.print(f"{'':18}next timer: {upcoming}")
        console.print(f"{'':18}notified:   {notified}")
    shown = store.show(case_id)
    console.print(
        f"\nThe case ended in state [bold]{shown['state']}[/bold] after "
        f"{len(shown['history'])} history entries; {len(shown['outbox'])} messages are in the "
        f"outbox. Look at it with:\n  FORLOEB_DATABASE_URL={url} forloeb case show {case_id}"
    )
