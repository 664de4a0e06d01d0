"""``forloeb process …``: the process definitions, their diagrams and their checks."""

from __future__ import annotations

import os
from pathlib import Path

import click

from machines import PROCESSES, InvalidInput, check_definition, get_engine, get_process, mermaid

from ._io import emit_json


@click.group()
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
        emit_json(
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
    """Validate every process definition (structure of the graph), and that no open case
    in the database is stranded by it (a state or pending timer event it lacks)."""
    for p in PROCESSES.values():
        check_definition(p)
        get_engine(p.name)
        click.echo(
            f"{p.name}: ok ({len(p.states)} states, {len(p.transitions)} transitions, "
            f"version {p.definition_version})"
        )
    if not database_configured():
        click.echo("no database (FORLOEB_DATABASE_URL unset, no ./forloeb.db): cases not checked")
        return
    refuse_stranded()


def database_configured() -> bool:
    """A database to check: one named, or the default file present (a check creates none)."""
    from persistence.database import DEFAULT_URL

    return (
        bool(os.environ.get("FORLOEB_DATABASE_URL"))
        or Path(DEFAULT_URL.removeprefix("sqlite:///")).exists()
    )


def refuse_stranded() -> None:
    """One line per open-case problem (stdout), then one error line: exit 2."""
    from persistence import open_store
    from persistence.definitions import stranded

    engine = open_store().engine
    problems = [problem for name in PROCESSES for problem in stranded(engine, name)]
    for problem in problems:
        click.echo(problem.line())
    if problems:
        raise InvalidInput(
            f"{len(problems)} definition problem(s): open cases would be stranded (listed above)"
        )


@process.command("migrate")
@click.argument("name")
@click.option(
    "--map",
    "maps",
    multiple=True,
    required=True,
    help="OLD=NEW: a state or timer event the definition lacks, and what it is now",
)
@click.option("--dry-run", is_flag=True, help="list the cases that would move; change nothing")
def process_migrate(name: str, maps: tuple[str, ...], dry_run: bool) -> None:
    """Move NAME's open cases off states or timer events the definition no longer has."""
    from flows import clock
    from persistence import open_store
    from persistence.definitions import migrate

    from .case import audit_context

    mapping: dict[str, str] = {}
    for pair in maps:
        old, sep, new = pair.partition("=")
        if not sep or not old or not new:
            raise InvalidInput(f"--map {pair!r} is not OLD=NEW")
        mapping[old] = new
    moved = migrate(
        open_store().engine,
        get_process(name).name,
        mapping,
        clock.now(),
        actor="cli",
        context=audit_context(),
        dry_run=dry_run,
    )
    for case in moved:
        changes = [f"state {case.state[0]} → {case.state[1]}"] if case.state else []
        changes += [f"timer {old} → {new}" for old, new in case.timers]
        click.echo(f"case {case.case_id}: {'; '.join(changes)}")
    verb = "would move" if dry_run else "moved"
    click.echo(f"{len(moved)} case(s) {verb}")
