"""Nothing personal reaches Prefect whatever fails: database and encoding failures injected
inside the flows and the sweep's task, run against the session's real Prefect server, then
every flow run, task run, log line, artifact and event read back. The full text of each
failure is in forloeb's own log, and only there."""

from __future__ import annotations

import asyncio
import re
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from persistence import CaseStore, ParticipantRow, staging

from ..conftest import LEADER, at, open_samraad
from .prefect_readback import settled_snapshot

NAME = "Frederikke Vestergaard-Lind"
ADDRESS = "frederikke.vl@privat.example.dk"
NOTE = "mormor drikker og slår"
NEEDLES = re.compile(
    "|".join(re.escape(n) for n in (NAME, ADDRESS, NOTE, "Vestergaard", "Frederikke", "mormor")),
    re.IGNORECASE,
)
NOW = at("2026-12-21 09:00")


def _failing_insert(conn: Any) -> None:
    """A real database failure whose error text quotes personal data: a participant row
    without its key (NOT NULL on both databases; SQLAlchemy's message lists the parameters)."""
    conn.execute(
        insert(ParticipantRow.__table__),
        {"case_id": 1, "key": None, "role": "parent", "name": NAME, "email": ADDRESS},
    )


def _encode_personal_text(text: str) -> bytes:
    return text.encode("ascii")  # "æ", "ø", "å" do not fit: UnicodeEncodeError


def _run(flow: Any, **parameters: Any) -> Any:
    return asyncio.run(flow(**parameters, return_state=True))


def _stage_convene(store: CaseStore, case_id: int) -> int:
    person = {"key": "mormor", "role": "parent", "name": NAME, "email": ADDRESS}
    return staging.stage_event(
        store.engine, case_id, "convene", LEADER, {"participants": [person]}, NOW
    )


def test_failures_inside_flows_reach_prefect_as_type_and_ids_only(
    store: CaseStore,
    db_url: str,
    prefect_api: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FORLOEB_DATABASE_URL", db_url)
    monkeypatch.setenv("FORLOEB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FORLOEB_NOW", NOW.isoformat())
    from flows import prefect_flows
    from flows.actions import CaseAction, OpenCase
    from persistence import store as store_module

    since = datetime.now(UTC) - timedelta(minutes=1)
    case_id = open_samraad(store, at("2026-12-21 08:00"))
    action = CaseAction(
        case_id=case_id, event="convene", input_id=_stage_convene(store, case_id)
    ).model_dump(mode="json")

    # 1. A database failure in the event's transaction (its SQL parameters name a person).
    real_apply = store_module.CaseStore._apply

    def apply_then_fail(self: CaseStore, conn: Any, loaded: Any, *args: Any) -> Any:
        real_apply(self, conn, loaded, *args)
        _failing_insert(conn)

    with monkeypatch.context() as patched:
        patched.setattr(store_module.CaseStore, "_apply", apply_then_fail)
        db_state = _run(prefect_flows.case_event, action=action)
    assert db_state.is_failed() and db_state.name == "Unexpected"
    assert db_state.message == (
        f"unexpected IntegrityError in case {case_id}; "
        "see forloeb's log ($FORLOEB_HOME/log/forloeb.log)"
    )
    assert store.snapshot(case_id).state == "concern", "the failed event wrote nothing"

    # 2. An encoding failure, and an exception whose own text is personal.
    def encode_fails(*_: Any, **__: Any) -> Any:
        _encode_personal_text(f"{NAME}: {NOTE}")

    action["input_id"] = _stage_convene(store, case_id)
    with monkeypatch.context() as patched:
        patched.setattr(store_module.CaseStore, "fire_staged", encode_fails)
        encoding_state = _run(prefect_flows.case_event, action=action)
    assert encoding_state.name == "Unexpected"
    assert encoding_state.message.startswith(f"unexpected UnicodeEncodeError in case {case_id};")

    def open_fails(*_: Any, **__: Any) -> Any:
        raise RuntimeError(f"cannot store {NAME} <{ADDRESS}>: {NOTE}")

    case_file = {
        "title": "Skolen ved Søerne",
        "location": "lokale 2",
        "participants": [{"role": "parent", "name": NAME, "email": ADDRESS}],
    }
    staged = staging.stage_case_file(store.engine, "samraad", LEADER, case_file, NOW)
    with monkeypatch.context() as patched:
        patched.setattr(store_module.CaseStore, "open_case", open_fails)
        open_state = _run(
            prefect_flows.open_case_flow,
            request=OpenCase(process="samraad", input_id=staged).model_dump(mode="json"),
        )
    assert open_state.name == "Unexpected"
    assert open_state.message.startswith(
        f"unexpected RuntimeError in opening a case from staged input {staged};"
    )

    # 3. A task of the sweep fails: the task run says its type only, and so does the sweep.
    store.fire(case_id, "convene", LEADER, {}, NOW)  # arms the deadline warning
    with monkeypatch.context() as patched:
        patched.setattr(store_module.CaseStore, "fire_timers", open_fails)
        sweep_state = _run(prefect_flows.sweep, at="2027-01-06T09:00:00+01:00")
    assert sweep_state.name == "Unexpected"
    assert sweep_state.message == (
        "unexpected RuntimeError in the sweep's fire-timers task; "
        "see forloeb's log ($FORLOEB_HOME/log/forloeb.log)"
    )

    # 4. The sweep's retention and read-replies tasks fail the same way.
    async def retention_fails(*_: Any, **__: Any) -> Any:
        raise RuntimeError(f"cannot anonymise {NAME} <{ADDRESS}>: {NOTE}")

    with monkeypatch.context() as patched:
        patched.setattr(prefect_flows, "retention_claimed", lambda *_: True)
        patched.setattr(prefect_flows, "daily_retention", retention_fails)
        retention_state = _run(prefect_flows.sweep, at="2027-01-06T10:00:00+01:00")
    assert retention_state.name == "Unexpected"
    assert retention_state.message.startswith(
        "unexpected RuntimeError in the sweep's retention task;"
    )
    with monkeypatch.context() as patched:
        patched.setattr(prefect_flows, "read_replies", open_fails)
        replies_state = _run(prefect_flows.sweep, at="2027-01-06T11:00:00+01:00")
    assert replies_state.name == "Unexpected"
    assert replies_state.message.startswith(
        "unexpected RuntimeError in the sweep's read-replies task;"
    )

    # The operator's log holds the whole story, readable by its owner only.
    log = tmp_path / "home" / "log" / "forloeb.log"
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700
    logged = log.read_text(encoding="utf-8")
    assert ADDRESS in logged and NOTE in logged and "Traceback" in logged
    assert "_encode_personal_text" in logged

    haystack = settled_snapshot(since)
    runs = "\n".join(haystack["flow runs"])
    assert f"case {case_id}" in runs and "Unexpected" in runs
    tasks = "\n".join(haystack["task runs"])
    assert "unexpected RuntimeError in the sweep's fire-timers task" in tasks
    assert "unexpected RuntimeError in the sweep's retention task" in tasks
    assert "unexpected RuntimeError in the sweep's read-replies task" in tasks
    assert haystack["flow run states"], "every state a run passed through was read back"
    assert haystack["logs"], "the flow runs' logs were shipped to the server"
    for kind, texts in haystack.items():
        for text in texts:
            found = NEEDLES.search(text)
            assert found is None, (kind, found and found.group(), text)
        # Not the failing code's source lines either (a traceback would quote them).
        assert not any("_encode_personal_text" in text for text in texts), kind
        assert not any("apply_then_fail" in text for text in texts), kind
