"""The absence scan runs once a day from the sweep, after school hours."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from machines.absence import SchoolCalendar
from persistence.jobs import claim_daily

from .conftest import at, directory, load, registrations

D = date.fromisoformat


def test_a_daily_job_is_claimed_once_a_day(engine: Engine) -> None:
    assert claim_daily(engine, "absence_scan", D("2026-03-06"))
    assert not claim_daily(engine, "absence_scan", D("2026-03-06"))
    assert not claim_daily(engine, "absence_scan", D("2026-03-05"))  # a clock going back
    assert claim_daily(engine, "absence_scan", D("2026-03-07"))
    assert claim_daily(engine, "another_job", D("2026-03-07"))


def test_the_sweep_scans_once_a_day_after_school(
    engine: Engine, db_url: str, prefect_api: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.prefect_flows import sweep

    monkeypatch.setenv("FORLOEB_DATABASE_URL", db_url)
    monkeypatch.delenv("FORLOEB_SMTP_HOST", raising=False)
    directory(engine)
    days = SchoolCalendar().school_days(D("2026-03-02"), D("2026-03-02") + timedelta(days=10))
    load(engine, registrations("p-1", days[:5]))

    def swept(hour: int) -> Any:
        state = asyncio.run(sweep(at=at("2026-03-06", hour).isoformat(), return_state=True))
        assert state.is_completed(), state.message
        return state.result()

    assert swept(17)["absence_scan"] is None
    assert swept(18)["absence_scan"]["cases_opened"] == 1
    assert swept(19)["absence_scan"] is None
