"""'Now', overridable: ``FORLOEB_NOW`` (ISO 8601 with offset) drives simulations and tests."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from machines import InvalidInput


def parse_when(text: str, what: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{what} {text!r} is not an ISO 8601 time; write e.g. 2027-01-04T10:00+01:00"
        ) from None
    if value.tzinfo is None:
        raise InvalidInput(
            f"{what} {text!r} has no UTC offset; add one, e.g. {text}+01:00 (Danish winter time)"
        )
    return value


def now() -> datetime:
    configured = os.environ.get("FORLOEB_NOW")
    if configured:
        return parse_when(configured, "FORLOEB_NOW")
    return datetime.now(UTC)
