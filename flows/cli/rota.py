"""``forloeb rota plan``: the monthly consultations' rota (see ``flows.rota``)."""

from __future__ import annotations

import click

from flows import clock
from machines import WorkingCalendar

from ._io import emit_json, read_json


@click.group()
def rota() -> None:
    """The social workers' monthly meetings in the daycares."""


@rota.command("plan")
@click.option("--month", required=True, help="the month to plan, YYYY-MM")
@click.option("--file", "path", required=True, help="the rota file (JSON): workers, daycares")
@click.option("--dry-run", is_flag=True, help="print the plan; open, move and send nothing")
@click.option("--json", "as_json", is_flag=True, help="print the plan as JSON")
def rota_plan(month: str, path: str, dry_run: bool, as_json: bool) -> None:
    """Plan MONTH's meetings: one per daycare, spread over the social workers."""
    from machines.rota import describe
    from persistence import open_store

    from .. import rota as flow

    year, number = flow.parse_month(month)
    plan_file = flow.read_rota(read_json(path), path)
    store = open_store()
    now = clock.now()
    steps = flow.plan(
        plan_file, year, number, WorkingCalendar.from_env(), flow.existing_cases(store, now)
    )
    if not dry_run:
        flow.apply(store, plan_file, steps, now)
    if as_json:
        emit_json(
            [
                {
                    "daycare": s.daycare,
                    "worker": s.assignment.worker,
                    "start": s.assignment.start.isoformat(),
                    "slot": s.assignment.status,
                    "action": s.action,
                    "case_id": s.case_id,
                }
                for s in steps
            ]
        )
        return
    for s in steps:
        a = s.assignment
        click.echo(f"{s.daycare:<24} {a.worker:<16} {describe(a)}  {a.status:<5}  {s.action}")
    loads = {
        w.key: sum(1 for s in steps if s.assignment.worker == w.key) for w in plan_file.workers
    }
    kept = sum(1 for s in steps if s.assignment.status == "kept")
    each = ", ".join(f"{k} {n}" for k, n in loads.items())
    done = "planned (dry run: nothing written)" if dry_run else "planned and sent to the outbox"
    click.echo(f"{len(steps)} meetings in {month} {done}: {each}; {kept} on their stable slot")
