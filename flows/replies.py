"""Reading participants' answers, for ``forloeb replies fetch`` and the sweep alike.

The organizer mailbox is read when ``FORLOEB_IMAP_HOST`` is set; the reminders to those
who have not answered go out in every sweep. What leaves here is counts (and one error line
naming the server, never a person): safe for Prefect.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from machines import InvalidInput
from notifications.replies import FetchReport, ImapSettings, fetch_replies
from persistence.replies import queue_reply_reminders

DEFAULT_REMINDER_WORKING_DAYS = 2


def reminder_working_days() -> int:
    raw = os.environ.get("FORLOEB_REPLY_REMINDER_WORKING_DAYS")
    if not raw:
        return DEFAULT_REMINDER_WORKING_DAYS
    try:
        days = int(raw)
    except ValueError:
        days = -1
    if not 0 <= days <= 30:
        raise InvalidInput(
            f"FORLOEB_REPLY_REMINDER_WORKING_DAYS={raw!r} must be a whole number from 0 to 30"
        )
    return days


def imap_configured() -> bool:
    return bool(os.environ.get("FORLOEB_IMAP_HOST"))


def read_replies(engine: Engine, now: datetime) -> tuple[FetchReport | None, int]:
    """(what the mailbox gave, or None when no mailbox is set up; reminders queued)."""
    report = None
    settings = ImapSettings.from_env()
    if settings is not None:
        report = fetch_replies(engine, now, settings)
    reminders = queue_reply_reminders(engine, now, reminder_working_days())
    return report, reminders.queued


def counts(report: FetchReport | None, reminders: int) -> dict[str, Any]:
    """What Prefect may see: counts, and whether the mailbox could be read."""
    return {
        "processed": report.processed if report else 0,
        "ignored": report.ignored if report else 0,
        "declines": report.declines if report else 0,
        "reminders": reminders,
        "mailbox_unavailable": bool(report and report.error),
    }
