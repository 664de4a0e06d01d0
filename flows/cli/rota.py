"""``forloeb rota plan`` and ``rota absent``: the monthly consultations' rota (see
``flows.rota``)."""

from __future__ import annotations

from datetime import datetime

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


@rota.command("absent")
@click.option("--worker", required=True, help="the absent social worker's e-mail (in the rota)")
@click.option("--from", "first", required=True, help="the absence's first day, YYYY-MM-DD")
@click.option("--to", "last", required=True, help="the absence's last day, YYYY-MM-DD")
@click.option("--file", "path", required=True, help="the rota file (JSON): workers, daycares")
@click.option("--dry-run", is_flag=True, help="print the moves; change and send nothing")
@click.option("--json", "as_json", is_flag=True, help="print the moves as JSON")
def rota_absent(
    worker: str, first: str, last: str, path: str, dry_run: bool, as_json: bool
) -> None:
    """Move an absent social worker's monthly meetings: to the other social worker at the
    same time, or to another open day of the month; each as an update of that meeting."""
    from machines.rota import WEEKDAYS
    from persistence import open_store

    from .. import rota as flow

    begin, end = flow.absence_span(flow.parse_day(first, "--from"), flow.parse_day(last, "--to"))
    plan_file = flow.read_rota(read_json(path), path)
    absent = flow.worker_key(plan_file, worker, path)
    store = open_store()
    now = clock.now()
    bookings = flow.booked_meetings(store, plan_file, begin, end, now)
    covers = flow.plan_absent(
        plan_file, absent, begin, end, WorkingCalendar.from_env(), bookings, now
    )
    if not dry_run:
        flow.apply_absence(store, plan_file, covers, bookings, now)
    if as_json:
        emit_json(
            [
                {
                    "daycare": c.meeting.daycare,
                    "case_id": c.meeting.case_id,
                    "session": c.meeting.recurrence_id.isoformat()
                    if c.meeting.recurrence_id
                    else None,
                    "from_worker": c.meeting.worker,
                    "from_start": flow.local(c.meeting.start).isoformat(),
                    "worker": c.worker,
                    "start": flow.local(c.start).isoformat(),
                    "action": c.action,
                }
                for c in covers
            ]
        )
        return

    def when(moment: datetime) -> str:
        at = flow.local(moment)
        return f"{WEEKDAYS[at.weekday()]} {at:%d.%m.%Y} kl. {at:%H:%M}"

    for c in covers:
        click.echo(
            f"{c.meeting.daycare or '':<24} {when(c.meeting.start)} → {c.worker:<16} "
            f"{when(c.start)}  {c.action}"
        )
    covered = sum(1 for c in covers if c.action == "cover")
    done = "(dry run: nothing written)" if dry_run else "and sent to the outbox"
    click.echo(
        f"{len(covers)} meetings of {absent} from {begin} to {end} moved {done}: "
        f"{covered} to another social worker, {len(covers) - covered} to another day"
    )
