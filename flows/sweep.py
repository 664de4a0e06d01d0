"""One sweep: fire every due timer, then deliver what is due in the outbox.

Mail goes out only when an SMTP server is configured (``FORLOEB_SMTP_HOST``): a fresh
installation keeps its messages in the outbox instead of knocking on localhost:587, and
``forloeb outbox deliver`` sends them once a server is set up.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime

from notifications import DeliveryReport, Mailer, deliver_outbox
from persistence import CaseStore, SweepReport


@dataclass(frozen=True)
class SweepResult:
    timers: SweepReport
    delivery: DeliveryReport | None  # None: no SMTP server configured


def mail_configured() -> bool:
    return bool(os.environ.get("FORLOEB_SMTP_HOST"))


def sweep_once(store: CaseStore, now: datetime, mailer: Mailer | None = None) -> SweepResult:
    timers = store.sweep(now)
    delivery = None
    if mailer is not None or mail_configured():
        delivery = deliver_outbox(store.engine, now, mailer)
    return SweepResult(timers, delivery)
