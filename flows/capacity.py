"""Capacity: a coach runs about 50 courses a year. Opening one more warns, never blocks."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from machines import get_process
from persistence import CaseStore


def load(store: CaseStore, process: str, now: datetime) -> list[dict[str, Any]]:
    """Per person in the process's capacity role: cases started in 12 months, active now."""
    spec = get_process(process).capacity
    if spec is None:
        return []
    rows = store.people_in_role(process, spec.role, since=now - timedelta(days=365))
    return [{**row, "role": spec.role, "capacity": spec.per_year} for row in rows]


def warnings_for(
    store: CaseStore, process: str, case_file: Mapping[str, Any], now: datetime
) -> list[dict[str, Any]]:
    """Who in the new case is already at or over capacity (by participant key, no names)."""
    spec = get_process(process).capacity
    if spec is None:
        return []
    by_email = {row["email"]: row for row in load(store, process, now)}
    warnings = []
    for person in case_file.get("participants", []):
        email = (person.get("email") or "").lower()
        row = by_email.get(email)
        if person.get("role") == spec.role and row and row["started_12_months"] >= spec.per_year:
            warnings.append(
                {
                    "role": spec.role,
                    "key": person.get("key"),
                    "started_12_months": row["started_12_months"],
                    "capacity": spec.per_year,
                }
            )
    return warnings
