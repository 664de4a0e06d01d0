"""Bad input in every action form of every process comes back on the same form, in Danish,
and changes no table.

Through the real desk (uvicorn, HTTP with a signed-in person's session cookie and CSRF
token), not a browser: there are some seventy forms, and what is checked is the answer and
the database. The browser walkthroughs submit bad input on their own forms as a person
would. Each case is brought to a state where the event is offered by the demo's script of
its process (``flows.demo``), fired on the store; an event the script never offers (a
cancellation, a withdrawal) gets its state set directly, which is enough for the input
model's check, which answers before any rule looks at the case.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from desk import forms
from flows import demo
from machines import COPENHAGEN, PROCESSES, Process
from persistence import schema_metadata
from tests.test_consultation_rules import BOOKING, WORKER
from tests.test_room_meetings_rules import NURSERY

from .conftest import DeskServer
from .helpers import signed_in

#: Per process: its case file, when it is opened, and the steps that drive it.
SCRIPTS: dict[str, tuple[dict[str, Any], str, list[demo.Step]]] = {
    name: (case_file, opened, script) for name, case_file, opened, _, script in demo.PROCESSES
}
SCRIPTS["room_meetings"] = (NURSERY, "2027-01-04 09:00", [])
#: Reads write their access row (who looked at which case, when): that is the one table a
#: refused form may add to.
READ_AUDIT = "access_log"
#: What pydantic says in English; none of it may reach a person on the desk.
ENGLISH = re.compile(r"Field required|Input should|Value error|value_error|String should")


def _events() -> list[tuple[str, str]]:
    return [
        (process.name, event.name)
        for process in PROCESSES.values()
        for event in process.events
        if not event.is_timer and event.input is not None
    ]


def _at(text_: str) -> datetime:
    return datetime.fromisoformat(text_).replace(tzinfo=COPENHAGEN)


def _offered(process: Process, state: str, event: str) -> bool:
    return any(state in tr.source for tr in process.transitions if tr.event == event)


def _case_offering(desk: DeskServer, process: Process, event: str) -> tuple[int, datetime]:
    """A case of ``process`` in a state that offers ``event``, and when it got there."""
    case_file, opened, script = SCRIPTS[process.name]
    store = desk.store
    case_id, last = store.open_case(process.name, case_file, _at(opened)), _at(opened)
    for when, step, actor, payload in script:
        if _offered(process, store.snapshot(case_id).state, event):
            return case_id, last
        last = _at(when)
        if step == "sweep":
            store.sweep(last)
        else:
            store.fire(case_id, step, actor, payload, last)
    if not _offered(process, store.snapshot(case_id).state, event):
        state = sorted(s for tr in process.transitions if tr.event == event for s in tr.source)
        with store.transaction() as conn:
            conn.execute(
                text("UPDATE cases SET state = :state WHERE id = :id"),
                {"state": state[0], "id": case_id},
            )
    return case_id, last


def _tables(desk: DeskServer) -> dict[str, list[Any]]:
    with desk.store.engine.connect() as conn:
        return {
            table.name: [tuple(row) for row in conn.execute(select(table))]
            for table in schema_metadata().sorted_tables
            if table.name != READ_AUDIT
        }


def _bad_value(widget: forms.Widget) -> dict[str, str] | None:
    """A value of the widget's kind that the input model refuses, if its kind has one."""
    match widget.kind:
        case "datetime":
            return {f"{widget.name}.date": "2027-02-30", f"{widget.name}.time": "10:00"}
        case "date":
            return {widget.name: "2027-02-30"}
        case "number":
            return {widget.name: "mange"}
        case "select" | "radio" | "checkboxes":
            return {widget.name: "ikke-en-mulighed"}
    return None


def _bad_form(process: Process, event: str, desk: DeskServer, case_id: int) -> dict[str, str]:
    """Nothing filled in where the model requires something; else one refused value."""
    spec = process.event(event)
    assert spec is not None and spec.input is not None
    if any(field.is_required() for field in spec.input.model_fields.values()):
        return {}
    ctx = forms.Context(process, desk.store.snapshot(case_id))
    for widget in forms.flat(forms.expand(forms.build(spec.input, ctx), ctx, {})):
        bad = _bad_value(widget)
        if bad is not None:
            return bad
    pytest.skip(f"{event}: no field can hold bad input (only optional free text, or no field)")


@pytest.mark.parametrize(("process_name", "event"), _events(), ids=lambda v: str(v))
def test_bad_input_comes_back_in_danish_and_nothing_is_written(
    desk_server: DeskServer, process_name: str, event: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = desk_server
    process = PROCESSES[process_name]
    spec = process.event(event)
    assert spec is not None
    case_id, last = _case_offering(desk, process, event)
    # The desk acts a minute after the case's last event (its clock is the tests' simulated one).
    monkeypatch.setenv("FORLOEB_NOW", (last + timedelta(minutes=1)).isoformat())
    actor = next(
        p.email
        for p in desk.store.snapshot(case_id).participants
        if p.role in spec.roles and p.email
    )
    cookies, csrf = signed_in(desk, actor)
    form = _bad_form(process, event, desk, case_id)
    before = _tables(desk)
    with httpx.Client(base_url=desk.url, cookies=cookies, timeout=120) as client:
        assert client.get(f"/sager/{case_id}/handling/{event}").status_code == 200
        answer = client.post(f"/sager/{case_id}/handling/{event}", data={"csrf": csrf, **form})
    # 422: the model refused it (fields marked); 409: the model let it pass, a rule refused.
    assert answer.status_code in (409, 422), answer.text[:300]
    heading = re.search(r'<p class="alert-heading">(.*?)</p>', answer.text, re.S)
    assert heading is not None, "no refusal shown"
    if answer.status_code == 422:
        assert "Formularen har fejl" in heading.group(1)
        assert 'class="form-error-message"' in answer.text  # told at the field itself
    assert f"<h1>{process.event_title(event)}" in answer.text  # the same form, back
    assert not ENGLISH.search(answer.text), ENGLISH.search(answer.text)
    assert _tables(desk) == before


def test_slots_are_proposed_as_dates_and_times_on_the_desk(
    desk_server: DeskServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The proposal's list of times once had no field at all: the event could not be fired.
    desk = desk_server
    case_id = desk.store.open_case("consultation", BOOKING, _at("2027-03-01 09:00"))
    monkeypatch.setenv("FORLOEB_NOW", _at("2027-03-01 10:00").isoformat())
    cookies, csrf = signed_in(desk, WORKER)
    slots = {
        "slots.0.date": "2027-03-03",
        "slots.0.time": "10:00",
        "slots.1.date": "2027-03-08",
        "slots.1.time": "14:00",
    }
    with httpx.Client(base_url=desk.url, cookies=cookies, timeout=120) as client:
        form = client.get(f"/sager/{case_id}/handling/propose_slots").text
        assert 'name="slots.0.date"' in form and 'name="slots.2.time"' in form
        answer = client.post(
            f"/sager/{case_id}/handling/propose_slots", data={"csrf": csrf, **slots}
        )
    assert answer.status_code == 303, answer.text[:300]
    case = desk.store.snapshot(case_id)
    assert case.state == "slots_proposed"
    # Copenhagen wall-clock times, winter offset added by the desk.
    assert case.data["proposed"] == ["2027-03-03T10:00:00+01:00", "2027-03-08T14:00:00+01:00"]
