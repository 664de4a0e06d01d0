"""Prefect sees ids, not people: a whole samråd through the CLI against a real Prefect
server, then every flow run, task run, log line, artifact, deployment and event read back,
and none of the participants' names, addresses, notes, decisions or plan text in it."""

from __future__ import annotations

import email
import email.policy
import json
import re
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from notifications import mailbox

from ..cli_helpers import ok as run_ok
from ..cli_helpers import run, write_json
from ..conftest import LEADER, PPR, PRESENT, SAMRAAD_CASE
from .prefect_readback import settled_snapshot

NOTE = "Ida græder hver morgen ved skoleporten"
DECISION = "Åse følger Ida til skole i en uge"
PLAN = "Jens ringer til Åse hver fredag"
REASON = "Mads Krogh var på kursus"


def _needles() -> list[str]:
    people = SAMRAAD_CASE["participants"]
    words = {part for p in people for part in p["name"].split()}
    addresses = {p["email"] for p in people if p["email"]}
    return sorted(words | addresses | {NOTE, DECISION, PLAN, REASON, "græder", "skoleporten"})


def _text(eml: Path) -> str:
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    return "\n".join(
        part.get_content() for part in message.walk() if part.get_content_type() == "text/plain"
    )


def test_a_whole_samraad_leaves_no_name_address_note_or_decision_in_prefect(
    tmp_path: Path, prefect_api: str
) -> None:
    # One backend is enough here: the subject is Prefect (on PostgreSQL in CI), not the store.
    db_url = f"sqlite:///{tmp_path / 'forloeb.db'}"
    since = datetime.now(UTC) - timedelta(minutes=1)
    write = partial(write_json, tmp_path)
    with mailbox(str(tmp_path / "mail"), port=0) as box:
        smtp = box.env()

        def ok(*args: str, now: str) -> str:
            result = run(db_url, *args, now=now, **smtp)
            assert result.code == 0, (args, result.err)
            return result.out

        case = ok(
            "case", "open", "samraad", "--file", write("case.json", SAMRAAD_CASE),
            "--by", LEADER, now="2026-12-21T08:30:00+01:00",
        ).strip()  # fmt: skip
        fire = ("case", "fire", case)
        notes = write("notes.json", {"notes": {k: f"{NOTE} ({k})" for k in PRESENT}})
        ok(*fire, "convene", "--by", LEADER, now="2026-12-21T09:00:00+01:00")
        assert "deadline_passed: 1" in ok("sweep", now="2027-01-06T00:30:00+01:00")
        ok(
            *fire, "schedule", "--by", LEADER, "--set", "start=2027-01-11T09:00:00+01:00",
            "--set", f"reason={REASON}", now="2027-01-06T10:00:00+01:00",
        )  # fmt: skip
        # Refusals reach Prefect too (as Failed runs): their messages must be clean as well.
        refused = run(
            db_url, *fire, "conclude", "--by", "ida@example.dk", now="2027-01-06T11:00+01:00"
        )
        assert refused.code == 3, refused.err
        assert "ida@example.dk" not in refused.err
        ok("sweep", now="2027-01-07T09:00:00+01:00")
        ok(*fire, "start_meeting", "--by", PPR, now="2027-01-11T09:00:00+01:00")
        ok(*fire, "next_round", "--by", PPR, "--file", notes, now="2027-01-11T09:30:00+01:00")
        ok(*fire, "next_round", "--by", PPR, "--file", notes, now="2027-01-11T10:00:00+01:00")
        conclude = json.loads(Path(notes).read_text(encoding="utf-8")) | {
            "decisions": [DECISION],
            "follow_up": {"start": "2027-02-08T09:00:00+01:00"},
        }
        ok(
            *fire, "conclude", "--by", LEADER, "--file", write("conclude.json", conclude),
            now="2027-01-11T10:25:00+01:00",
        )  # fmt: skip
        ok("sweep", now="2027-01-13T09:00:00+01:00")
        plan = {"items": [{"owner": "laerer", "action": PLAN, "due": "2027-01-18"}]}
        ok(
            *fire, "send_action_plan", "--by", LEADER, "--file", write("plan.json", plan),
            now="2027-01-13T14:00:00+01:00",
        )  # fmt: skip
        ok(*fire, "hold_follow_up", "--by", LEADER, "--set", "outcome=close",
           now="2027-02-08T10:00:00+01:00")  # fmt: skip
        ok("sweep", now="2027-02-08T10:05:00+01:00")
        delivered = box.messages()
    shown = json.loads(run_ok(db_url, "case", "show", case, "--json", now="2027-02-08T11:00+01:00"))
    assert shown["state"] == "closed"
    # The personal data did travel — to the case store and the participants' mail.
    assert delivered
    assert any(PLAN in _text(path) for path in delivered)

    haystack = settled_snapshot(since)
    runs = "\n".join(haystack["flow runs"])
    # ...and Prefect saw this case: named runs, tags, artifacts, events.
    assert f"samraad/convene/case-{case}" in runs
    assert f"samraad/hold_follow_up/case-{case}" in runs
    assert f"case:{case}" in runs and "state:closed" in runs
    assert "Refused" in runs
    assert any(f"case-{case}" in a and "mermaid" in a for a in haystack["artifacts"])
    assert any("sweep-summary" in a for a in haystack["artifacts"])
    assert any(f"forloeb.case.{case}" in e for e in haystack["events"])
    assert any("forloeb.case.escalated" in e for e in haystack["events"])
    assert haystack["logs"], "the flow runs' logs were shipped to the server"

    # Whole words: "Ida" is a name, the "ida" in "validated" is not.
    needles = re.compile("|".join(rf"\b{re.escape(n)}\b" for n in _needles()), re.IGNORECASE)
    for kind, texts in haystack.items():
        for text in texts:
            found = needles.search(text)
            assert found is None, (kind, found and found.group(), text)
