"""One sweep: fire every due timer, then deliver what is due in the outbox.

Mail goes out only when an SMTP server is configured (``FORLOEB_SMTP_HOST``): a fresh
installation keeps its messages in the outbox instead of knocking on localhost:587, and
``forloeb outbox deliver`` sends them once a server is set up.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from machines import COPENHAGEN
from notifications import DeliveryReport, Mailer, deliver_outbox
from persistence import CaseStore, SweepReport
from persistence.jobs import claim_daily

from .absence import daily_scan, mail_tasks

#: The absence scan runs once a day, from the first sweep after this local hour: after
#: school, when the day's registrations are in.
ABSENCE_SCAN_HOUR = 18


@dataclass(frozen=True)
class SweepResult:
    timers: SweepReport
    delivery: DeliveryReport | None  # None: no SMTP server configured
    tasks: dict[str, int] | None = None  # absence tasks mailed to school leaders
    absence_scan: dict[str, Any] | None = None  # counts of today's scan, when it ran


def mail_configured() -> bool:
    return bool(os.environ.get("FORLOEB_SMTP_HOST"))


def absence_scan_claimed(store: CaseStore, now: datetime) -> bool:
    """True for the one sweep that should run today's absence scan now."""
    local = now.astimezone(COPENHAGEN)
    return local.hour >= ABSENCE_SCAN_HOUR and claim_daily(
        store.engine, "absence_scan", local.date()
    )


def sweep_once(store: CaseStore, now: datetime, mailer: Mailer | None = None) -> SweepResult:
    """The sweep without Prefect (the ``sweep`` flow does the same steps as tasks)."""
    scanned = None
    if absence_scan_claimed(store, now):
        scanned = daily_scan(store.engine, now)  # may open cases; their timers fire below
    timers = store.sweep(now)
    delivery = tasks = None
    if mailer is not None or mail_configured():
        delivery = deliver_outbox(store.engine, now, mailer)
        if not delivery.transport_error:
            tasks = mail_tasks(store.engine, now, mailer)
    return SweepResult(timers, delivery, tasks, scanned)
