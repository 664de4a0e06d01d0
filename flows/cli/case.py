"""``forloeb case …`` and ``forloeb capacity``: open, change and look at cases."""

from __future__ import annotations

import getpass
import os
from typing import Any, Literal

import click

from flows import clock
from machines import (
    OPERATOR,
    CaseNotFound,
    CaseSnapshot,
    InvalidInput,
    Reader,
    case_view,
    get_process,
    may_read,
    mermaid,
)
from persistence import CaseStore, access_log, open_store, staging, validate_case_file

from ._io import CASE_ID, EVENT, actor, emit_json, parse_sets, read_json


@click.group()
def case() -> None:
    """Open, change and look at cases."""


@case.command("open")
@click.argument("process")
@click.option("--file", "path", required=True, help="the case file (JSON)")
@click.option("--by", "by", default=None, help="who opens it (e-mail), for the history")
@click.option("--json", "as_json", is_flag=True, help="print the case as JSON")
def case_open(process: str, path: str, by: str | None, as_json: bool) -> None:
    """Open a case of PROCESS from a case file; prints the new case id."""
    from flows import launch
    from flows.actions import OpenCase

    raw = _checked_case_file(process, path)
    store = open_store()
    input_id = _stage_case_file(store, process, raw, by)
    request = OpenCase(process=process, input_id=input_id, at=clock.now().isoformat())
    try:
        opened = launch.run("open_case_flow", {"request": request.model_dump(mode="json")})
    finally:
        staging.discard(store.engine, input_id)  # used up by the flow, or never to be used
    for warning in opened["capacity_warnings"]:
        click.echo(
            f"warning: this {warning['role']} has {warning['started_12_months']} courses started "
            f"in the last 12 months (capacity about {warning['capacity']}); the case is opened",
            err=True,
        )
    if as_json:
        emit_json(store.show(opened["case_id"]))
    else:
        click.echo(opened["case_id"])


def _checked_case_file(process: str, path: str) -> dict[str, Any]:
    """Check a case file here, before anything is written (its messages may quote it)."""
    get_process(process)
    raw = read_json(path)
    if not isinstance(raw, dict):
        raise InvalidInput(f"{path} must hold a JSON object (the case file)")
    validate_case_file(process, raw)
    return raw


def audit_context() -> dict[str, Any]:
    """What the history row records beside ``--by``, which anyone can type: the operating
    system user who really ran the command, and whether the clock was simulated."""
    context: dict[str, Any] = {"os_user": login_name()}
    if clock.simulated():
        context["simulated_clock"] = True
    return context


def login_name() -> str | None:
    """The operating-system user running this process. By the process's user id where
    there is one: ``getpass.getuser()`` reads ``LOGNAME`` and ``USER`` first, and those are
    as easy to type as ``--by``."""
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):  # no pwd module (Windows), or a uid without an entry
        pass
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in the environment or the password file
        return None


def _stage_case_file(store: CaseStore, process: str, raw: dict[str, Any], by: str | None) -> int:
    who = actor(by) if by else "cli"
    return staging.stage_case_file(
        store.engine, process, who, raw, clock.now(), context=audit_context()
    )


def _event_input(path: str | None, sets: tuple[str, ...]) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    if path:
        loaded = read_json(path)
        if not isinstance(loaded, dict):
            raise InvalidInput(f"{path} must hold a JSON object (the event's input)")
        payload.update(loaded)
    payload.update(parse_sets(sets))
    return payload


def _stage_event(
    store: CaseStore, case_id: int, event: str, by: str, payload: dict[str, Any]
) -> int:
    """Stage who acts and the input for the flow run; Prefect gets only the returned id.

    The rules, the input's shape included, are checked once, in the flow run (their
    messages name fields, states and roles, never what was typed).
    """
    return staging.stage_event(
        store.engine, case_id, event, actor(by), payload, clock.now(), context=audit_context()
    )


@case.command("fire")
@click.argument("case_id", type=CASE_ID)
@click.argument("event", type=EVENT)
@click.option("--by", "by", required=True, help="who fires it (their e-mail on the case)")
@click.option("--file", "path", default=None, help="the event's input (JSON)")
@click.option("--set", "sets", multiple=True, help="an input value: key=value (dots nest)")
@click.option("--at", "at", default=None, help="when it happened (with UTC offset); default now")
@click.option("--json", "as_json", is_flag=True)
def case_fire(
    case_id: int,
    event: str,
    by: str,
    path: str | None,
    sets: tuple[str, ...],
    at: str | None,
    as_json: bool,
) -> None:
    """Fire EVENT on case CASE_ID (one flow run in Prefect)."""
    from flows import launch
    from flows.actions import CaseAction

    moment = clock.happened_at(at, clock.now())  # the flow's own check: the UI's line too
    store = open_store()
    payload = _event_input(path, sets)
    input_id = _stage_event(store, case_id, event, by, payload)
    action = CaseAction(case_id=case_id, event=event, at=moment.isoformat(), input_id=input_id)
    try:
        done = launch.run("case_event", {"action": action.model_dump(mode="json")})
    except BaseException:
        staging.discard(store.engine, input_id)  # the flow run may never have started
        raise
    if as_json:
        emit_json({"id": case_id, **{k: v for k, v in done.items() if k != "case_id"}})
        return
    from .render import local

    line = f"case {case_id}: {done['source']} → {done['dest']} ({event})"
    if done["next_timer"]:
        line += f"; next: {done['next_timer']['event']} at {local(done['next_timer']['due'])}"
    click.echo(line + f"; {done['pending_messages']} message(s) waiting in the outbox")


@case.command("stage")
@click.argument("case_id", type=CASE_ID)
@click.argument("event", type=EVENT)
@click.option("--by", "by", required=True, help="who fires it (their e-mail on the case)")
@click.option("--file", "path", default=None, help="the event's input (JSON)")
@click.option("--set", "sets", multiple=True, help="an input value: key=value (dots nest)")
def case_stage(case_id: int, event: str, by: str, path: str | None, sets: tuple[str, ...]) -> None:
    """Stage EVENT's input for the Prefect UI; prints the input id to give the flow run.

    Names, addresses and notes stay in forloeb's database; Prefect only sees the id.
    """
    store = open_store()
    input_id = _stage_event(store, case_id, event, by, _event_input(path, sets))
    click.echo(input_id)


@case.command("stage-open")
@click.argument("process")
@click.option("--file", "path", required=True, help="the case file (JSON)")
@click.option("--by", "by", default=None, help="who opens it (e-mail), for the history")
def case_stage_open(process: str, path: str, by: str | None) -> None:
    """Stage a case file for the open-case deployment; prints the input id."""
    raw = _checked_case_file(process, path)
    click.echo(_stage_case_file(open_store(), process, raw, by))


@case.command("show")
@click.argument("case_id", type=CASE_ID)
@click.option("--by", "by", default=None, help="who reads it (their e-mail on the case)")
@click.option("--json", "as_json", is_flag=True)
@click.option("--mermaid", "as_mermaid", is_flag=True, help="the process diagram, state marked")
def case_show(case_id: int, by: str | None, as_json: bool, as_mermaid: bool) -> None:
    """Show a case: participants, meetings, timers, history, outbox.

    With --by, what that participant may see (everything but the handover form); without
    it, the operator's view: ids, states, times, people by key and role, nothing personal.
    """
    reader = _reader(by)
    store = open_store()
    snapshot, shown = store.read(case_id)
    _refuse_unless_readable(snapshot, reader)
    view = case_view(snapshot, shown, reader)
    _record_read(store, reader, case_id, "case")  # before it is shown: no unaudited read
    if as_mermaid:
        click.echo(mermaid(get_process(view["process"]), current=view["state"]), nl=False)
    elif as_json:
        emit_json(view)
    else:
        from .render import print_case

        print_case(view)


@case.command("form")
@click.argument("case_id", type=CASE_ID)
@click.option("--by", "by", required=True, help="who reads it (their e-mail on the case)")
def case_form(case_id: int, by: str) -> None:
    """Print a case's readable form: handover's transition form, a learning group's notes."""
    reader = _reader(by)
    store = open_store()
    snapshot = store.snapshot(case_id)
    _refuse_unless_readable(snapshot, reader)
    if (read_form := get_process(snapshot.process).form_reader) is None:
        raise InvalidInput(f"case {case_id} is a {snapshot.process} case, which keeps no form")
    sections = read_form(snapshot, reader.email or "")  # the consent rules; may refuse
    _record_read(store, reader, case_id, "form")
    from ._io import printable

    for section, text in sections.items():
        lines = "\n".join(printable(line) for line in text.split("\n"))  # breaks kept
        click.echo(f"## {printable(section)}\n{lines}\n")


def _reader(by: str | None) -> Reader:
    """``--by`` as a reader (checked before the case is looked at, so a malformed address
    says nothing about the case); none: the operator."""
    return Reader(actor(by)) if by is not None else OPERATOR


def _refuse_unless_readable(snapshot: CaseSnapshot, reader: Reader) -> None:
    """Someone not on the case hears what they would hear of a case that does not exist:
    the same line and exit code, so ``--by`` cannot be used to find out which cases exist."""
    if not may_read(snapshot, reader):
        raise CaseNotFound(snapshot.id)


def _record_read(
    store: CaseStore, reader: Reader, case_id: int, what: Literal["case", "form"]
) -> None:
    """One access row per read: who (the typed ``--by``, or the operator) and, beside it,
    the operating-system user who typed it."""
    access_log.record(
        store.engine,
        reader.email or access_log.OPERATOR_WHO,
        case_id,
        what,
        "cli",
        clock.now(),
        context=audit_context(),
    )


@case.command("list")
@click.option("--process", default=None)
@click.option("--state", default=None)
@click.option("--overdue", is_flag=True, help="overdue, or with a timer due but not yet fired")
@click.option("--json", "as_json", is_flag=True)
def case_list(process: str | None, state: str | None, overdue: bool, as_json: bool) -> None:
    """List cases (summaries), streamed: one line per case, or a JSON array."""
    from .render import print_case_list, stream_json

    cases = open_store().iter_cases(clock.now(), process=process, state=state, overdue=overdue)
    if as_json:
        stream_json(cases)
    else:
        print_case_list(cases)


@click.command("capacity")
@click.option("--process", "process_name", default="coaching", show_default=True)
@click.option("--json", "as_json", is_flag=True)
def capacity_command(process_name: str, as_json: bool) -> None:
    """Each coach's courses started in the last 12 months and active now."""
    from flows import capacity

    rows = capacity.load(open_store(), process_name, clock.now())
    if as_json:
        emit_json(rows)
        return
    from rich.table import Table

    from .render import console, shown

    table = Table("e-mail", "name", "started (12 months)", "active now", "capacity")
    for row in rows:
        over = row["started_12_months"] >= row["capacity"]
        table.add_row(
            shown(row["email"]),
            shown(row["name"]),
            f"{row['started_12_months']}{' ⚠' if over else ''}",
            str(row["active"]),
            str(row["capacity"]),
        )
    console().print(table)
