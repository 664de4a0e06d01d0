"""One bad timer row never stops the sweep: it is set aside as ``failed`` with a reason that
holds nothing personal, the other due timers fire, and no later sweep tries it again."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import insert, select

from machines import Engine
from persistence import CaseStore, TimerRow
from tests.conftest import LEADER, at, open_samraad

SWEEP_AT = at("2026-12-23 08:30")


def convened(store: CaseStore, count: int) -> list[int]:
    """``count`` samråd cases whose leader's deadline warning is due at SWEEP_AT."""
    ids = []
    for _ in range(count):
        case_id = open_samraad(store, at("2026-12-14 08:00"))
        store.fire(case_id, "convene", LEADER, {}, at("2026-12-14 09:00"))
        ids.append(case_id)
    return ids


def timer_rows(store: CaseStore) -> dict[int, tuple[str, str, str | None]]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(TimerRow.id, TimerRow.event, TimerRow.status, TimerRow.failure))
        return {r.id: (r.event, r.status, r.failure) for r in rows}


def test_a_timer_of_an_event_the_definition_lacks_is_set_aside_and_the_rest_fire(
    store: CaseStore,
) -> None:
    first, second, third = convened(store, 3)
    with store.engine.begin() as conn:
        bogus = conn.execute(
            insert(TimerRow.__table__).returning(TimerRow.id),  # type: ignore[arg-type]
            {"case_id": second, "event": "bogus_event", "due": at("2026-12-01 00:00"),
             "status": "pending"},
        ).scalar_one()  # fmt: skip

    report = store.sweep(SWEEP_AT)

    assert report.fired == {"samraad/deadline_warning": 3}
    assert report.failed == [
        (bogus, second, "samraad", "the process definition has no event 'bogus_event'")
    ]
    assert timer_rows(store)[bogus] == (
        "bogus_event",
        "failed",
        "the process definition has no event 'bogus_event'",
    )
    # The case itself is untouched by the bad row: its own timer fired like the others'.
    assert [store.snapshot(i).version for i in (first, second, third)] == [3, 3, 3]

    again = store.sweep(SWEEP_AT)
    assert again.failed == [] and again.total == 0  # set aside once, never retried


def test_a_timer_whose_firing_raises_is_set_aside_with_the_type_only(
    store: CaseStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = convened(store, 3)
    original = Engine.fire

    def fails_for_the_second_case(self: Engine, case: Any, *args: Any, **kwargs: Any) -> Any:
        if case.id == ids[1]:
            # An error whose text quotes case data, as a driver's or a library's may.
            raise RuntimeError(f"cannot render {case.participants[0].name}")
        return original(self, case, *args, **kwargs)

    monkeypatch.setattr(Engine, "fire", fails_for_the_second_case)
    report = store.sweep(SWEEP_AT)

    assert report.fired == {"samraad/deadline_warning": 2}
    [(timer_id, case_id, process, reason)] = report.failed
    assert (case_id, process) == (ids[1], "samraad")
    assert reason == "RuntimeError while firing 'deadline_warning'"
    assert timer_rows(store)[timer_id] == ("deadline_warning", "failed", reason)
    assert "Æblegaard" not in repr(report)
    assert store.snapshot(ids[1]).state == "convened"  # its transaction rolled back

    monkeypatch.setattr(Engine, "fire", original)
    assert store.sweep(SWEEP_AT).total == 0  # the failed timer is not retried
    # The case's later timers are armed as before: the deadline itself still fires.
    assert store.sweep(at("2026-12-24 00:00")).fired == {"samraad/deadline_passed": 3}
