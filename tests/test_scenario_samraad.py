"""A whole fraværssamråd through the command line, as a school leader would drive it."""

from __future__ import annotations

import getpass
import json
import re
from functools import partial
from pathlib import Path

from .cli_helpers import ok as run_ok
from .cli_helpers import run, write_json
from .conftest import COORDINATOR, LEADER, PPR, PRESENT, SAMRAAD_CASE


def test_a_complete_samraad_from_concern_to_closed(db_url: str, tmp_path: Path) -> None:
    write = partial(write_json, tmp_path)
    ok = partial(run_ok, db_url)

    case = ok(
        "case",
        "open",
        "samraad",
        "--file",
        write("case.json", SAMRAAD_CASE),
        now="2026-12-21T08:30:00+01:00",
    ).strip()
    notes = write("notes.json", {"notes": {k: f"{k} har talt" for k in PRESENT}})
    fire = ("case", "fire", case)

    ok(*fire, "convene", "--by", LEADER, now="2026-12-21T09:00:00+01:00")
    assert "deadline_passed: 1" in ok("sweep", now="2027-01-06T00:30:00+01:00")
    ok(
        *fire,
        "schedule",
        "--by",
        LEADER,
        "--set",
        "start=2027-01-11T09:00:00+01:00",
        "--set",
        "reason=PPR-psykologen var syg",
        now="2027-01-06T10:00:00+01:00",
    )
    assert "meeting_reminder: 1" in ok("sweep", now="2027-01-07T09:00:00+01:00")
    ok(*fire, "start_meeting", "--by", PPR, now="2027-01-11T09:00:00+01:00")
    ok(*fire, "next_round", "--by", PPR, "--file", notes, now="2027-01-11T09:30:00+01:00")
    ok(*fire, "next_round", "--by", PPR, "--file", notes, now="2027-01-11T10:00:00+01:00")
    conclude = json.loads(Path(notes).read_text(encoding="utf-8"))
    conclude |= {"decisions": ["Morgenaftale"], "follow_up": {"start": "2027-02-08T09:00:00+01:00"}}
    ok(
        *fire,
        "conclude",
        "--by",
        LEADER,
        "--file",
        write("conclude.json", conclude),
        now="2027-01-11T10:25:00+01:00",
    )
    assert "action_plan_reminder: 1" in ok("sweep", now="2027-01-13T09:00:00+01:00")
    plan = {"items": [{"owner": "laerer", "action": "Morgenaftale kl. 8", "due": "2027-01-18"}]}
    ok(
        *fire,
        "send_action_plan",
        "--by",
        LEADER,
        "--file",
        write("plan.json", plan),
        now="2027-01-13T14:00:00+01:00",
    )
    ok(
        *fire,
        "hold_follow_up",
        "--by",
        LEADER,
        "--set",
        "outcome=close",
        now="2027-02-08T10:00:00+01:00",
    )

    # The coordinator reads it: a participant sees details, context and the outbox's addresses.
    shown = json.loads(
        ok("case", "show", case, "--by", COORDINATOR, "--json", now="2027-02-08T10:05:00+01:00")
    )
    assert shown["state"] == "closed"
    assert [h["event"] for h in shown["history"]] == [
        "open",
        "convene",
        "deadline_warning",
        "deadline_passed",
        "schedule",
        "meeting_reminder",
        "start_meeting",
        "next_round",
        "next_round",
        "conclude",
        "action_plan_reminder",
        "send_action_plan",
        "hold_follow_up",
    ]
    assert shown["history"][4]["details"] == {"late_reason": "PPR-psykologen var syg"}
    # beside what was said, how: the login that typed the --by, and the simulated clock
    assert shown["history"][4]["context"] == {"os_user": getpass.getuser(), "simulated_clock": True}
    sent = [(o["template"], o["to"]) for o in shown["outbox"]]
    attendees = 7  # everyone but the coordinator
    assert sent.count(("escalation", COORDINATOR)) == 1
    assert sent.count(("deadline_warning", LEADER)) == 1
    assert [t for t, _ in sent].count("invitation") == 2 * attendees  # samråd + follow-up
    assert [t for t, _ in sent].count("action_plan") == attendees
    assert not [t for t in shown["timers"] if t["status"] == "pending"]
    assert [m["status"] for m in shown["meetings"]] == ["held", "held"]


def test_the_demo_runs_all_five_processes_and_delivers_their_mail(tmp_path: Path) -> None:
    mail = tmp_path / "mail"
    home = str(tmp_path / "home")  # the background desk's pid file and secret
    result = run(
        f"sqlite:///{tmp_path / 'unused.db'}", "demo", "--mail-dir", str(mail), FORLOEB_HOME=home
    )
    stopped = run("sqlite://", "desk", "stop", FORLOEB_HOME=home)
    assert result.code == 0, result.err
    # The demo leaves the desk running, says where, and gives a coordinator's sign-in link.
    assert "The coordinators' desk: http://127.0.0.1:" in result.out
    assert "/log-ind/link/" in result.out
    assert stopped.out.strip() == "stopped the desk"
    for title in (
        "Fraværssamråd",
        "Overgang fra sundhedspleje til dagtilbud",
        "Coachingforløb",
        "Socialrådgiver i dagtilbud",
        "Lille læringsgruppe",
    ):
        assert title in result.out
    # The monthly meetings are planned and recorded; the group's late note is reminded of.
    assert "opened → planned" in result.out and "planned after" in result.out
    assert re.search(r"sweep: [^\n]*note_check", result.out)
    assert "running → ended" in result.out
    assert "follow_up_pending → closed" in result.out
    assert "handed_over → closed" in result.out
    assert "follow_up_scheduled → closed" in result.out
    assert result.out.count("closed after") == 3
    delivered = len(list(mail.glob("*.eml")))
    assert delivered > 50 and f"{delivered} messages were delivered" in result.out
    # Sending without TLS is allowed only to this machine, and is said once, not hidden.
    assert result.err.strip().startswith("sending without TLS to 127.0.0.1:")
    assert len(result.err.strip().splitlines()) == 1
