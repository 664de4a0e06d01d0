"""'Now', and every time a person gives: bounded, with an offset, simulated only on purpose.

``FORLOEB_NOW`` (ISO 8601 with offset) sets "now" for simulations and tests, and only
together with ``FORLOEB_SIMULATED_CLOCK=1``: a stray ``FORLOEB_NOW`` in production would
otherwise rewrite the time of every change.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from machines import ConfigurationError, InvalidInput

#: Times outside these years are typing errors (and 9999-12-31 overflows date arithmetic).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
#: How far ahead of now an action may say it happened (clocks differ a little).
AHEAD = timedelta(hours=1)


def parse_when(text: str, what: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        # Not repeated: what is there instead of a time may be a name or a CPR number.
        raise InvalidInput(
            f"{what} is not an ISO 8601 time; write e.g. 2027-01-04T10:00+01:00"
        ) from None
    if value.tzinfo is None:
        raise InvalidInput(
            f"{what} {text!r} has no UTC offset; add one, e.g. {text}+01:00 (Danish winter time)"
        )
    try:
        within = EARLIEST <= value < LATEST
    except OverflowError:
        within = False
    if not within:
        raise InvalidInput(f"{what} {text!r} is not between the years 2000 and 2099")
    return value


def simulated() -> bool:
    return os.environ.get("FORLOEB_SIMULATED_CLOCK") == "1"


def now() -> datetime:
    configured = os.environ.get("FORLOEB_NOW")
    if configured:
        if not simulated():
            raise ConfigurationError(
                "FORLOEB_NOW is set, but the clock may be simulated only on purpose: unset "
                "FORLOEB_NOW, or set FORLOEB_SIMULATED_CLOCK=1 as the demo and the tests do"
            )
        return parse_when(configured, "FORLOEB_NOW")
    return datetime.now(UTC)


def happened_at(text: str | None, current: datetime) -> datetime:
    """When an action happened: ``text`` (``--at``), at most an hour ahead, or now.

    On a simulated clock (the demo, the tests) any time in range is taken: the simulation
    decides what "now" is. No earlier than the case's last event is the store's check.
    """
    if not text:
        return current
    moment = parse_when(text, "the time")
    if moment > current + AHEAD and not simulated():
        raise InvalidInput(
            f"the time {text!r} lies more than an hour ahead; give the time it happened"
        )
    return moment
