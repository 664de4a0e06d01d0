"""``forloeb demo``: one simulated term with all five processes, printed as timelines.

samråd: convene → the leader is warned → the deadline passes (coordinator alerted) →
scheduled late with a reason → reminder → three rounds → conclude → action-plan reminder →
action plan → follow-up reminder → closed.
handover: offer → consent to two sections → home visit → form → start-up → handed over.
coaching: intro → agreed → sessions with homework (one no-show) → finish → follow-up.
consultation: one daycare's monthly meetings planned as a series, two of them recorded.
learning group: a term of weekly sessions, notes (one late: reminded), the group ended.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from sqlalchemy import select

from machines import COPENHAGEN, ForloebError, get_process
from notifications import mailbox
from persistence import CaseStore, OutboxRow, ParticipantRow, open_store, staging

from . import launch, runner, server
from .actions import CaseAction, OpenCase
from .cli.render import local

LEADER = "birgitte.holm@skolen-ved-soerne.example.dk"
PPR = "mads.krogh@ppr.example.dk"
COORDINATOR = "karen.lund@kommune.example.dk"

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


Step = tuple[str, str, str, dict[str, Any]]  # (when, event or "sweep", actor, input)

SAMRAAD_SCRIPT: list[Step] = [
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

NURSE = "hanne.sund@sundhedsplejen.example.dk"
PARENT = "forælder@example.dk".replace("æ", "ae")
DAYCARE = "lis.leder@maelkeboetten.example.dk"
HANDOVER_CASE: dict[str, Any] = {
    "title": "Børnehuset Mælkebøtten",
    "location": "Børnehuset Mælkebøtten",
    "child_ref": "barn-demo-1",
    "daycare": "Børnehuset Mælkebøtten",
    "start_date": "2027-04-01",
    "participants": [
        {"key": "mor", "role": "parent", "name": "Forælder (demo)", "email": PARENT},
        {"key": "sp", "role": "health_nurse", "name": "Hanne Sund", "email": NURSE},
        {"key": "leder", "role": "daycare_leader", "name": "Lis Leder", "email": DAYCARE},
        {
            "key": "paed",
            "role": "pedagogue",
            "name": "Per Pæd",
            "email": "per.paed@maelkeboetten.example.dk",
        },
        {
            "key": "tovholder",
            "role": "coordinator",
            "name": "Karen Lund",
            "email": "karen.lund@kommune.example.dk",
        },
    ],
}
HANDOVER_SCRIPT: list[Step] = [
    ("2027-01-20 09:00", "offer", NURSE, {}),
    (
        "2027-01-25 15:00",
        "accept",
        PARENT,
        {"sections": ["development", "wishes"], "nurse_at_startup": True},
    ),
    ("2027-01-26 09:00", "schedule_home_visit", NURSE, {"start": "2027-03-01T10:00:00+01:00"}),
    ("2027-02-25 09:00", "sweep", "", {}),
    (
        "2027-03-01 11:00",
        "complete_form",
        NURSE,
        {
            "sections": {
                "development": "Glad for bøger, sover til middag",
                "wishes": "En fast voksen i starten",
            }
        },
    ),
    ("2027-03-02 09:00", "schedule_startup", DAYCARE, {"start": "2027-04-06T09:00:00+02:00"}),
    ("2027-04-02 09:00", "sweep", "", {}),
    ("2027-04-06 10:00", "hold_startup", DAYCARE, {}),
    ("2027-04-20 10:00", "close", DAYCARE, {}),
]

COACH = "connie.coach@ungecenter.example.dk"
CASEWORKER = "sara.sag@kommune.example.dk"
COACHING_CASE: dict[str, Any] = {
    "title": "Ungecenteret",
    "location": "Ungecenteret, lokale 3",
    "youth_ref": "ung-demo-1",
    "planned_sessions": 4,
    "participants": [
        {"key": "ung", "role": "youth", "name": "Ung (demo)", "email": "ung@example.dk"},
        {"key": "coach", "role": "coach", "name": "Connie Coach", "email": COACH},
        {"key": "sb", "role": "caseworker", "name": "Sara Sag", "email": CASEWORKER},
        {
            "key": "tovholder",
            "role": "coordinator",
            "name": "Karen Lund",
            "email": "karen.lund@kommune.example.dk",
        },
    ],
}


def _session(day: str, start: str, homework: str, **extra: Any) -> list[Step]:
    return [
        (f"{day} 09:00", "schedule_session", COACH, {"start": start}),
        (f"{start[:10]} 11:00", "complete_session", COACH, {"homework": homework, **extra}),
    ]


COACHING_SCRIPT: list[Step] = [
    ("2027-01-04 10:00", "schedule_intro", CASEWORKER, {"start": "2027-01-07T10:00:00+01:00"}),
    ("2027-01-07 11:00", "accept", CASEWORKER, {}),
    *_session(
        "2027-01-08",
        "2027-01-12T10:00:00+01:00",
        "Skriv tre ting, der lykkedes",
        expectations="Mål: i gang med uddannelse",
        themes=["persistence"],
    ),
    ("2027-01-15 09:00", "schedule_session", COACH, {"start": "2027-01-19T10:00:00+01:00"}),
    ("2027-01-19 11:00", "no_show", COACH, {}),
    *_session("2027-01-20", "2027-01-26T10:00:00+01:00", "Ring til VUC", themes=["distractions"]),
    *_session("2027-01-27", "2027-02-02T10:00:00+01:00", "Besøg en uddannelse"),
    ("2027-02-02 12:00", "finish", COACH, {"outcome": "education"}),
    ("2027-03-16 09:00", "sweep", "", {}),
    ("2027-03-16 10:00", "schedule_follow_up", COACH, {"start": "2027-03-18T10:00:00+01:00"}),
    ("2027-03-18 11:00", "hold_follow_up", COACH, {}),
]

SOCIAL_WORKER = "sara.social@familie.example.dk"
SOLSIKKEN = "lone.leder@solsikken.example.dk"
CONSULTATION_CASE: dict[str, Any] = {
    "title": "Børnehuset Solsikken",
    "location": "Børnehuset Solsikken, personalerummet",
    "daycare": "dt-solsikken",
    "kind": "monthly",
    "participants": [
        {
            "key": "sr",
            "role": "social_worker",
            "name": "Sara Socialrådgiver",
            "email": SOCIAL_WORKER,
        },
        {"key": "leder", "role": "leader", "name": "Lone Leder", "email": SOLSIKKEN},
    ],
}
# The second Tuesday of each month at 09:00 until summer; 13 April the daycare is closed.
# The record of a meeting is counts and topics from a fixed list: it is anonymous.
CONSULTATION_SCRIPT: list[Step] = [
    (
        "2027-01-04 10:00",
        "plan_monthly",
        SOCIAL_WORKER,
        {
            "first": "2027-01-12T09:00:00+01:00",
            "until": "2027-06-30",
            "closure_days": ["2027-04-13"],
        },
    ),
    (
        "2027-01-12 11:00",
        "record_meeting",
        SOCIAL_WORKER,
        {
            "session": "2027-01-12T09:00:00+01:00",
            "children": 2,
            "families": 1,
            "topics": ["trivsel", "sprog"],
        },
    ),
    (
        "2027-02-09 11:00",
        "record_meeting",
        SOCIAL_WORKER,
        {
            "session": "2027-02-09T09:00:00+01:00",
            "children": 1,
            "families": 1,
            "topics": ["samarbejde_med_foraeldre"],
        },
    ),
]

PEDAGOGUE = "pia.paed@soestjernen.example.dk"
SOESTJERNEN = "lis.leder@soestjernen.example.dk"
LEARNING_GROUP_CASE: dict[str, Any] = {
    "title": "Børnehuset Søstjernen",
    "location": "Børnehuset Søstjernen, stue 2",
    "room": "Stue 2",
    "children": ["barn-demo-a", "barn-demo-b", "barn-demo-c"],
    "participants": [
        {"key": "paed", "role": "pedagogue", "name": "Pia Pædagog", "email": PEDAGOGUE},
        {"key": "leder", "role": "leader", "name": "Lis Leder", "email": SOESTJERNEN},
    ],
}


def _note(session: str, child: str, **wheel: str) -> dict[str, Any]:
    return {"session": session, "child": child, "wheel": wheel}


# Mondays 10:00 for a term of 12 weeks; 15 February the daycare is closed and 29 March is
# 2. påskedag. The note for 18 January is late: the reminder comes two working days after.
LEARNING_GROUP_SCRIPT: list[Step] = [
    (
        "2027-01-04 10:00",
        "plan_sessions",
        PEDAGOGUE,
        {"first": "2027-01-11T10:00:00+01:00", "weeks": 12, "closure_days": ["2027-02-15"]},
    ),
    (
        "2027-01-11 11:00",
        "write_note",
        PEDAGOGUE,
        _note("2027-01-11T10:00:00+01:00", "barn-demo-a", sprog="Fortæller om billederne"),
    ),
    ("2027-01-20 10:30", "sweep", "", {}),
    (
        "2027-01-20 11:00",
        "write_note",
        PEDAGOGUE,
        _note("2027-01-18T10:00:00+01:00", "barn-demo-b", leg="Venter på sin tur"),
    ),
    ("2027-03-30 09:00", "end_group", SOESTJERNEN, {"reason": "Forløbet er slut"}),
]

PROCESSES: list[tuple[str, dict[str, Any], str, str, list[Step]]] = [
    ("samraad", CASE_FILE, "2026-12-21 08:55", LEADER, SAMRAAD_SCRIPT),
    ("handover", HANDOVER_CASE, "2027-01-15 09:00", NURSE, HANDOVER_SCRIPT),
    ("coaching", COACHING_CASE, "2027-01-04 09:00", CASEWORKER, COACHING_SCRIPT),
    ("consultation", CONSULTATION_CASE, "2027-01-04 09:00", SOCIAL_WORKER, CONSULTATION_SCRIPT),
    (
        "learning_group",
        LEARNING_GROUP_CASE,
        "2027-01-04 09:00",
        SOESTJERNEN,
        LEARNING_GROUP_SCRIPT,
    ),
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


async def _timeline(
    console: Console,
    store: CaseStore,
    case_id: int,
    script: list[Step],
    last_outbox: int,
) -> int:
    from .prefect_flows import case_event, sweep

    for when, event, actor, payload in script:
        now = _at(when)
        if event == "sweep":
            result = await sweep(at=now.isoformat(), return_state=True)
            swept = await _completed(result)
            label = "sweep: " + (
                ", ".join(k.split("/")[1] for k in swept["fired"]) or "nothing due"
            )
            state = store.snapshot(case_id).state
        else:
            input_id = staging.stage_event(store.engine, case_id, event, actor, payload, now)
            action = CaseAction(case_id=case_id, event=event, at=now.isoformat(), input_id=input_id)
            done = await _completed(await case_event(action, return_state=True))
            label = event
            state = (
                done["dest"]
                if done["dest"] == done["source"]
                else f"{done['source']} → {done['dest']}"
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
    return last_outbox


async def _completed(state: Any) -> Any:
    if not state.is_completed():
        raise ForloebError(f"demo step failed: {state.message}")
    return await state.aresult()


def _fresh_database() -> str:
    """The demo's own SQLite file, started afresh each time.

    With the embedded Prefect server the file is always the same one,
    ``$FORLOEB_HOME/demo/demo.db``: the server belongs to a database, so every demo reuses
    one server (and the commands it prints stay right). Whatever still ran flows on the
    last demo's file (a warm runner) is stopped before the file is replaced. With
    ``PREFECT_API_URL`` set, a new temporary file.
    """
    if os.environ.get("PREFECT_API_URL"):
        workdir = Path(tempfile.mkdtemp(prefix="forloeb-demo-"))
    else:
        workdir = server.base() / "demo"
        workdir.mkdir(parents=True, exist_ok=True)
        runner.stop(server.home(f"sqlite:///{workdir / 'demo.db'}"))
        for name in ("demo.db", "demo.db-wal", "demo.db-shm"):
            (workdir / name).unlink(missing_ok=True)
    return f"sqlite:///{workdir / 'demo.db'}"


def run_demo(console: Console, database: str | None = None, mail_dir: str = "demo-mail") -> None:
    url = database or _fresh_database()
    # A simulated term: its actions carry their own times in 2026/27, which a real clock
    # refuses (more than an hour ahead); the history rows say the clock was simulated.
    os.environ["FORLOEB_SIMULATED_CLOCK"] = "1"
    store = open_store(url)
    console.print(f"[bold]forloeb demo[/bold] — one simulated term, database {url}")
    embedded = not os.environ.get("PREFECT_API_URL")
    # The embedded Prefect server of the demo's database unless PREFECT_API_URL is set.
    os.environ["FORLOEB_DATABASE_URL"] = url
    api_url = server.configure()
    ui_url = api_url.removesuffix("/api")
    console.print(f"Every action and sweep is a flow run in Prefect ({ui_url})")
    # The demo's mail goes to a local capture server that writes .eml and .ics files; the
    # flows (in this process) find the database and the server through the environment.
    with mailbox(mail_dir, port=0) as box:
        os.environ.update(
            {
                "FORLOEB_DATABASE_URL": url,
                "FORLOEB_SMTP_HOST": box.host,
                "FORLOEB_SMTP_PORT": str(box.port),
                "FORLOEB_SMTP_TLS": "none",
            }
        )
        with launch.reaching(api_url):
            asyncio.run(_run_processes(console, store, register_deployments=embedded))
        sent = len(box.messages())
    console.print(
        f"\n{sent} messages were delivered to {mail_dir}/ (open the .eml files in a mail "
        f"program, the .ics files in a calendar).\nLook at the cases with:\n"
        f"  export FORLOEB_DATABASE_URL={url}\n"
        f"  .venv/bin/forloeb case list\n"
        f"  .venv/bin/forloeb case show 1\n"
        f"and at the flow runs in the Prefect UI: {ui_url}/runs"
    )
    if embedded:
        console.print(
            f"The deployments (a Run form per action) are at {ui_url}/deployments; "
            f"their runs start once `.venv/bin/forloeb serve` runs (with that "
            f"FORLOEB_DATABASE_URL). `.venv/bin/forloeb server stop` stops this server."
        )
    from desk.cli import start_for_demo

    desk_url, link = start_for_demo(url, COORDINATOR)
    console.print(
        f"The coordinators' desk: {desk_url} (forloeb desk stop stops it). Sign in as the demo "
        f"coordinator with this one-time link (15 minutes):\n  {link}"
    )


async def _run_processes(console: Console, store: CaseStore, *, register_deployments: bool) -> None:
    async with launch.one_client():
        if register_deployments:
            # Only on the demo's own embedded server: never over the deployments a real
            # server got from prefect.yaml.
            from .serving import register

            await register()
        await _run_scripts(console, store)


async def _run_scripts(console: Console, store: CaseStore) -> None:
    from .prefect_flows import deliver_outbox_flow, open_case_flow

    last_outbox = 0
    for process, case_file, opened, opener, script in PROCESSES:
        input_id = staging.stage_case_file(store.engine, process, opener, case_file, _at(opened))
        request = OpenCase(process=process, input_id=input_id, at=_at(opened).isoformat())
        case_id = (await _completed(await open_case_flow(request, return_state=True)))["case_id"]
        title = get_process(process).title
        console.print(f"\n[bold underline]{title}[/bold underline] — case {case_id}")
        if process == "samraad":
            console.print(
                "Convened Monday 21 December 2026: 7 working days skip 24–27 and 31 December and "
                "New Year's Day, so the meeting is due by Tuesday 5 January 2027."
            )
        last_outbox = await _timeline(console, store, case_id, script, last_outbox)
        # What the last steps queued goes out now (the sweeps sent the rest on the way).
        await _completed(
            await deliver_outbox_flow(at=_at(script[-1][0]).isoformat(), return_state=True)
        )
        shown = store.show(case_id)
        console.print(
            f"{'':18}[bold]{shown['state']}[/bold] after {len(shown['history'])} history entries"
        )
