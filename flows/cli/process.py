"""``forloeb process …``: the process definitions, their diagrams and their checks."""

from __future__ import annotations

import click

from machines import PROCESSES, check_definition, get_engine, get_process, mermaid

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
    """Validate every process definition (structure of the graph)."""
    for p in PROCESSES.values():
        check_definition(p)
        get_engine(p.name)
        click.echo(f"{p.name}: ok ({len(p.states)} states, {len(p.transitions)} transitions)")
