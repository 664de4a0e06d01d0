"""``forloeb``: the coordinators' command line. Its command names are a public contract.

Exit codes: 0 ok; 2 invalid input; 3 refused by the process; 4 conflict; 1 anything else.
Every failure is one line on stderr that says what to do; a traceback only with
``FORLOEB_DEBUG=1``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from desk.cli import desk  # the web desk's commands (imports no web code)
from machines import (
    PROCESSES,
    ForloebError,
    InvalidInput,
    Refused,
    check_definition,
    get_engine,
    get_process,
    mermaid,
)
from machines.handover import readable_form
from notifications import DeliveryReport
from notifications.cli import mailbox, outbox
from persistence import CaseStore, make_engine, open_store, staging, upgrade, validate_case_file

from . import capacity, clock, launch, server
from .absence_cli import absence, calendar, schools
from .actions import CaseAction, OpenCase, when
from .render import local, print_case, print_case_list

F = TypeVar("F", bound=Callable[..., Any])
out = Console(highlight=False, soft_wrap=True)


def _read_json(path: str) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{path} is not UTF-8 text; save it as UTF-8") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None


def _parse_sets(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``--set a.b=value``: nested keys by dots; a value is JSON when it parses, else text."""
    result: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise InvalidInput(f"--set {pair!r} is not key=value")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        target = result
        *parents, leaf = key.split(".")
        for part in parents:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise InvalidInput(f"--set {key!r} conflicts with another --set")
        target[leaf] = value
    return result


def _actor(email: str) -> str:
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(email, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise InvalidInput(f"--by {email!r} is not an e-mail address") from None


def _emit_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """forloeb — the municipality's meeting processes as state machines."""


# ---------------------------------------------------------------- case


@cli.group()
def case() -> None:
    """Open, change and look at cases."""


@case.command("open")
@click.argument("process")
@click.option("--file", "path", required=True, help="the case file (JSON)")
@click.option("--by", "by", default=None, help="who opens it (e-mail), for the history")
@click.option("--json", "as_json", is_flag=True, help="print the case as JSON")
def case_open(process: str, path: str, by: str | None, as_json: bool) -> None:
    """Open a case of PROCESS from a case file; prints the new case id."""
    raw = _checked_case_file(process, path)
    store = open_store()
    input_id = _stage_case_file(store, process, raw, by)
    request = OpenCase(process=process, input_id=input_id, at=clock.now().isoformat())
    try:
        opened = launch.run(lambda f: f.open_case_flow(request, return_state=True))
    finally:
        staging.discard(store.engine, input_id)  # used up by the flow, or never to be used
    for warning in opened["capacity_warnings"]:
        click.echo(
            f"warning: this {warning['role']} has {warning['started_12_months']} courses started "
            f"in the last 12 months (capacity about {warning['capacity']}); the case is opened",
            err=True,
        )
    if as_json:
        _emit_json(store.show(opened["case_id"]))
    else:
        click.echo(opened["case_id"])


def _checked_case_file(process: str, path: str) -> dict[str, Any]:
    """Check a case file here, before anything is written (its messages may quote it)."""
    get_process(process)
    raw = _read_json(path)
    if not isinstance(raw, dict):
        raise InvalidInput(f"{path} must hold a JSON object (the case file)")
    validate_case_file(process, raw)
    return raw


def _stage_case_file(store: CaseStore, process: str, raw: dict[str, Any], by: str | None) -> int:
    actor = _actor(by) if by else "cli"
    return staging.stage_case_file(store.engine, process, actor, raw, clock.now())


def _event_input(path: str | None, sets: tuple[str, ...]) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    if path:
        loaded = _read_json(path)
        if not isinstance(loaded, dict):
            raise InvalidInput(f"{path} must hold a JSON object (the event's input)")
        payload.update(loaded)
    payload.update(_parse_sets(sets))
    return payload


def _stage_event(
    store: CaseStore, case_id: int, event: str, by: str, payload: dict[str, Any], at: datetime
) -> tuple[int, list[str]]:
    """Check the input here, then stage it for the flow run: (input id, the run's tags).

    A dry run of the (pure) engine puts the checks in the engine's order. Bad input is
    reported here, never in Prefect: its message may quote what was typed. A refusal goes
    on to the flow run, so that ops see it; its message names states and roles only. The
    tags the dry run predicts are given at creation, saving the run a call to set them.
    """
    actor = _actor(by)
    snapshot = store.snapshot(case_id)
    tags = [f"process:{snapshot.process}", f"case:{case_id}"]
    with contextlib.suppress(Refused):
        decision = get_engine(snapshot.process).fire(snapshot, event, actor, payload, at)
        tags.append(f"state:{decision.dest}")
    return staging.stage_event(store.engine, case_id, event, actor, payload, clock.now()), tags


@case.command("fire")
@click.argument("case_id", type=int)
@click.argument("event")
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
    moment = when(at, clock.now())  # the flow's own check, so the same line as from the UI
    store = open_store()
    payload = _event_input(path, sets)
    input_id, tags = _stage_event(store, case_id, event, by, payload, moment)
    action = CaseAction(case_id=case_id, event=event, at=moment.isoformat(), input_id=input_id)
    try:
        done = launch.run(lambda f: f.case_event(action, return_state=True), *tags)
    finally:
        staging.discard(store.engine, input_id)
    if as_json:
        _emit_json({"id": case_id, **{k: v for k, v in done.items() if k != "case_id"}})
        return
    line = f"case {case_id}: {done['source']} → {done['dest']} ({event})"
    if done["next_timer"]:
        line += f"; next: {done['next_timer']['event']} at {local(done['next_timer']['due'])}"
    click.echo(line + f"; {done['pending_messages']} message(s) waiting in the outbox")


@case.command("stage")
@click.argument("case_id", type=int)
@click.argument("event")
@click.option("--by", "by", required=True, help="who fires it (their e-mail on the case)")
@click.option("--file", "path", default=None, help="the event's input (JSON)")
@click.option("--set", "sets", multiple=True, help="an input value: key=value (dots nest)")
def case_stage(case_id: int, event: str, by: str, path: str | None, sets: tuple[str, ...]) -> None:
    """Stage EVENT's input for the Prefect UI; prints the input id to give the flow run.

    Names, addresses and notes stay in forloeb's database; Prefect only sees the id.
    """
    store = open_store()
    input_id, _ = _stage_event(store, case_id, event, by, _event_input(path, sets), clock.now())
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
@click.argument("case_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@click.option("--mermaid", "as_mermaid", is_flag=True, help="the process diagram, state marked")
def case_show(case_id: int, as_json: bool, as_mermaid: bool) -> None:
    """Show a case: participants, meetings, timers, history, outbox."""
    store = open_store()
    shown = store.show(case_id)
    if as_mermaid:
        click.echo(mermaid(get_process(shown["process"]), current=shown["state"]), nl=False)
    elif as_json:
        _emit_json(shown)
    else:
        print_case(out, shown)


@case.command("form")
@click.argument("case_id", type=int)
@click.option("--by", "by", required=True, help="who reads it (their e-mail on the case)")
def case_form(case_id: int, by: str) -> None:
    """Print a handover case's transition form (daycare: from the start-up conversation on)."""
    snapshot = open_store().snapshot(case_id)
    if snapshot.process != "handover":
        raise InvalidInput(f"case {case_id} is a {snapshot.process} case; only handover has a form")
    for section, text in readable_form(snapshot, _actor(by)).items():
        click.echo(f"## {section}\n{text}\n")


@case.command("list")
@click.option("--process", default=None)
@click.option("--state", default=None)
@click.option("--overdue", is_flag=True, help="overdue, or with a timer due but not yet fired")
@click.option("--json", "as_json", is_flag=True)
def case_list(process: str | None, state: str | None, overdue: bool, as_json: bool) -> None:
    """List cases (summaries)."""
    cases = open_store().list_cases(clock.now(), process=process, state=state, overdue=overdue)
    if as_json:
        _emit_json(cases)
    else:
        print_case_list(out, cases)


# ---------------------------------------------------------------- sweep


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@click.option("--batch-size", default=100, show_default=True, type=click.IntRange(1, 5000))
def sweep(as_json: bool, batch_size: int) -> None:
    """Fire every due timer (deadlines, reminders, escalations), then send due mail.

    One flow run in Prefect; the deployment in prefect.yaml runs it every five minutes.
    """
    open_store()  # a database problem is reported before Prefect is involved
    at = clock.now().isoformat()
    result = launch.run(lambda f: f.sweep(at=at, batch_size=batch_size, return_state=True))
    if as_json:
        _emit_json(result)
        return
    fired = result["fired"]
    listed = ", ".join(f"{k}: {v}" for k, v in sorted(fired.items())) or "nothing due"
    click.echo(f"sweep: {sum(fired.values())} timer(s) fired ({listed})")
    if result["delivery"] is not None:
        click.echo(f"outbox: {DeliveryReport(**result['delivery']).summary()}")
    for label in ("absence_scan", "absence_tasks"):
        if result[label]:
            click.echo(
                f"{label.replace('_', ' ')}: "
                + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in result[label].items())
            )


@cli.command("capacity")
@click.option("--process", "process_name", default="coaching", show_default=True)
@click.option("--json", "as_json", is_flag=True)
def capacity_command(process_name: str, as_json: bool) -> None:
    """Each coach's courses started in the last 12 months and active now."""
    rows = capacity.load(open_store(), process_name, clock.now())
    if as_json:
        _emit_json(rows)
        return
    table = Table("e-mail", "name", "started (12 months)", "active now", "capacity")
    for row in rows:
        over = row["started_12_months"] >= row["capacity"]
        table.add_row(
            row["email"],
            row["name"],
            f"{row['started_12_months']}{' ⚠' if over else ''}",
            str(row["active"]),
            str(row["capacity"]),
        )
    out.print(table)


# ---------------------------------------------------------------- process


@cli.group()
def process() -> None:
    """The process definitions."""


@process.command("list")
def process_list() -> None:
    for p in PROCESSES.values():
        click.echo(f"{p.name}\t{p.title}\t{len(p.states)} states, {len(p.events)} events")


@process.command("show")
@click.argument("name")
@click.option("--mermaid", "as_mermaid", is_flag=True)
@click.option("--json", "as_json", is_flag=True, help="states, events and input JSON Schemas")
def process_show(name: str, as_mermaid: bool, as_json: bool) -> None:
    p = get_process(name)
    if as_mermaid:
        click.echo(mermaid(p), nl=False)
        return
    if as_json:
        _emit_json(
            {
                "name": p.name,
                "title": p.title,
                "states": list(p.states),
                "initial": p.initial,
                "finals": sorted(p.finals),
                "roles": {r: {"title": s.title, "attends": s.attends} for r, s in p.roles.items()},
                "case_file_schema": p.case_file.model_json_schema(),
                "events": [
                    {
                        "name": e.name,
                        "roles": sorted(e.roles),
                        "timer": e.is_timer,
                        "doc": e.doc,
                        "from": sorted(
                            {s for t in p.transitions if t.event == e.name for s in t.source}
                        ),
                        "input_schema": e.input.model_json_schema(),
                    }
                    for e in p.events
                ],
                "settings": dict(p.settings),
            }
        )
        return
    click.echo(f"{p.name} — {p.title}\n{p.doc}\n")
    for state in p.states:
        marker = " (final)" if state in p.finals else " (initial)" if state == p.initial else ""
        events = p.allowed_events(state, include_timers=True)
        click.echo(f"  {state}{marker}: {', '.join(events) or '—'}")


@process.command("check")
def process_check() -> None:
    """Validate every process definition (structure of the graph)."""
    for p in PROCESSES.values():
        check_definition(p)
        get_engine(p.name)
        click.echo(f"{p.name}: ok ({len(p.states)} states, {len(p.transitions)} transitions)")


# ---------------------------------------------------------------- Prefect


@cli.group("server")
def server_group() -> None:
    """The embedded Prefect server (used when PREFECT_API_URL is not set)."""


@server_group.command("start")
def server_start() -> None:
    """Start it (the first flow-running command does this by itself)."""
    info = server.start()
    click.echo(f"Prefect server at {info.ui_url} (pid {info.pid}); logs in {info.home}/server.log")


@server_group.command("status")
def server_status() -> None:
    info = server.running()
    if info is None:
        click.echo("the embedded Prefect server is not running")
        sys.exit(1)
    click.echo(f"Prefect server at {info.ui_url} (pid {info.pid})")


@server_group.command("stop")
def server_stop() -> None:
    stopped = server.stop()
    click.echo("stopped the embedded Prefect server" if stopped else "it was not running")


@cli.command()
@click.option(
    "--limit",
    default=4,
    show_default=True,
    type=click.IntRange(1, 64),
    help="flow runs at the same time",
)
@click.option(
    "--interval",
    default=300,
    show_default=True,
    type=click.IntRange(10),
    help="seconds between sweeps",
)
def serve(limit: int, interval: int) -> None:
    """Serve the deployments (sweep on a schedule, coordinator actions) from this process."""
    server.configure(quiet=False)
    from .serving import serve_all

    serve_all(limit=limit, interval=interval)


# ---------------------------------------------------------------- db, demo


@cli.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    upgrade(make_engine())
    click.echo("database schema is up to date")


@cli.command()
@click.option("--database", default=None, help="database URL (default: a fresh temporary one)")
@click.option("--mail-dir", default="demo-mail", show_default=True, help="where the mails land")
def demo(database: str | None, mail_dir: str) -> None:
    """samråd, handover and coaching on a simulated clock, printed as timelines."""
    from .demo import run_demo

    run_demo(out, database, mail_dir)


cli.add_command(outbox)
cli.add_command(mailbox)
cli.add_command(absence)
cli.add_command(calendar)
cli.add_command(schools)
cli.add_command(desk)


# ---------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> None:
    debug = os.environ.get("FORLOEB_DEBUG") == "1"
    try:
        cli.main(args=argv, prog_name="forloeb", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.UsageError as exc:
        hint = f" (see: {exc.ctx.command_path} --help)" if exc.ctx else ""
        click.echo(f"error: {exc.format_message()}{hint}", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except ForloebError as exc:
        if debug:
            raise
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except Exception as exc:  # the last line of defence: never a traceback to a user
        if debug:
            raise
        click.echo(
            f"error: unexpected {type(exc).__name__}; rerun with FORLOEB_DEBUG=1 for details",
            err=True,
        )
        sys.exit(1)
    sys.exit(0)
