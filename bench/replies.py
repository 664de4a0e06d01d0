"""Replies read from a real Dovecot: mails processed per second from a mailbox of 10,000
answers, beside a bare imap-tools fetch loop over the same mails in the same run."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from imap_tools import MailBox
from sqlalchemy import select

from notifications import Organizer
from notifications.replies import fetch_replies
from persistence import CaseStore, MeetingRow, ensure_schema, make_engine
from tests.notifications import dovecot as dc

from .common import Row, scratch_database
from .workload import CASE_FILE, START

MAILS = 10_000
ORGANIZER = Organizer("samraad@kommune.example.dk", "Samråd")


def _reply(i: int, sender: str, to: str, uid: str, sequence: int) -> bytes:
    stamp = f"20270316T{(i // 3600) % 24:02d}{(i // 60) % 60:02d}{i % 60:02d}Z"
    partstat = ("ACCEPTED", "TENTATIVE", "DECLINED")[i % 3]
    ics = (
        "BEGIN:VCALENDAR\r\nPRODID:Microsoft Exchange Server 2010\r\nVERSION:2.0\r\n"
        "METHOD:REPLY\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nSEQUENCE:{sequence}\r\nDTSTAMP:{stamp}\r\n"
        f"ATTENDEE;PARTSTAT={partstat}:mailto:{sender}\r\n"
        f"ORGANIZER:mailto:{to}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    return (
        f"From: <{sender}>\r\nTo: <{to}>\r\nSubject: Svar\r\nMessage-ID: <bench-{i}@client>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/alternative; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nSvar.\r\n"
        f"--b\r\nContent-Type: text/calendar; method=REPLY; charset=UTF-8\r\n\r\n{ics}"
        "--b--\r\n"
    ).encode()


def _write_maildir(box: dc.Dovecot, mails: list[bytes]) -> None:
    """Straight into Maildir/new: Dovecot indexes them on the first SELECT."""
    new = box.maildir() / "new"
    for folder in ("new", "cur", "tmp"):
        (box.maildir() / folder).mkdir(parents=True, exist_ok=True)
    owner = box.home.stat()
    for i, data in enumerate(mails):
        path = new / f"{1_800_000_000 + i}.bench{i}.localhost"
        path.write_bytes(data.replace(b"\r\n", b"\n"))
    for path in [box.home, *box.home.rglob("*")]:
        os.chown(path, owner.st_uid, owner.st_gid)


def run() -> list[Row]:
    if not dc.available():
        return []
    tmp = Path(tempfile.mkdtemp(prefix="forloeb-bench-dovecot-"))
    try:
        with dc.dovecot(tmp) as box, scratch_database("sqlite") as url:
            engine = make_engine(url)
            ensure_schema(engine)
            store = CaseStore(engine)
            case_id = store.open_case("samraad", CASE_FILE, START)
            leader = next(
                p["email"] for p in CASE_FILE["participants"] if p["role"] == "school_leader"
            )
            store.fire(case_id, "convene", leader, {}, START + timedelta(hours=1))
            store.fire(
                case_id,
                "schedule",
                leader,
                {"start": (START + timedelta(days=7)).isoformat()},
                START + timedelta(hours=2),
            )
            with engine.connect() as conn:
                m = conn.execute(select(MeetingRow).where(MeetingRow.case_id == case_id)).one()
            people = [
                p["email"]
                for p in CASE_FILE["participants"]
                if p.get("email") and p["key"] in m.attendees
            ]
            to = ORGANIZER.reply_address(m.reply_token or "")
            _write_maildir(
                box,
                [_reply(i, people[i % len(people)], to, m.uid, m.sequence) for i in range(MAILS)],
            )
            settings = box.settings()
            with MailBox("127.0.0.1", box.port, ssl_context=settings.ssl_context()).login(
                dc.USER, dc.PASSWORD
            ) as mailbox:
                mailbox.uids()  # let Dovecot index the new mails before anything is timed
                began = time.perf_counter()
                fetched = sum(1 for _ in mailbox.fetch(mark_seen=False, bulk=200))
                bare = fetched / (time.perf_counter() - began)
            began = time.perf_counter()
            report = fetch_replies(engine, START + timedelta(hours=3), settings, ORGANIZER)
            ours = (report.processed + report.ignored) / (time.perf_counter() - began)
            engine.dispose()
            assert report.error is None, report.error
        return [
            (
                f"replies processed, {MAILS:,} mails in Dovecot",
                ours,
                "/s",
                "bare imap-tools fetch loop, same mails",
                bare,
            )
        ]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
