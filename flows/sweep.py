"""What the ``sweep`` flow decides before it works: whether mail goes out, whether the
daily absence scan or the daily retention run is its job.

Mail goes out only when an SMTP server is configured (``FORLOEB_SMTP_HOST``): a fresh
installation keeps its messages in the outbox instead of knocking on localhost:587, and
``forloeb outbox deliver`` sends them once a server is set up.
"""

from __future__ import annotations

import os
from datetime import datetime

from machines import COPENHAGEN
from persistence import CaseStore
from persistence.jobs import claim_daily

#: The absence scan runs once a day, from the first sweep after this local hour: after
#: school, when the day's registrations are in.
ABSENCE_SCAN_HOUR = 18
#: Retention runs once a day, from the first sweep after this local hour: at night, when
#: nobody works on the cases it may change.
RETENTION_HOUR = 2


def mail_configured() -> bool:
    return bool(os.environ.get("FORLOEB_SMTP_HOST"))


def absence_scan_claimed(store: CaseStore, now: datetime) -> bool:
    """True for the one sweep that should run today's absence scan now."""
    local = now.astimezone(COPENHAGEN)
    return local.hour >= ABSENCE_SCAN_HOUR and claim_daily(
        store.engine, "absence_scan", local.date()
    )


def retention_claimed(store: CaseStore, now: datetime) -> bool:
    """True for the one sweep that should run today's retention now."""
    local = now.astimezone(COPENHAGEN)
    return local.hour >= RETENTION_HOUR and claim_daily(store.engine, "retention", local.date())
