"""``forloeb consultation slots CASE``: propose a parent the first free slots of the
social worker's calendar (CalDAV free-busy) before the booking's deadline.

The calendar's address is ``--calendar`` (the social worker's calendar collection); its
credentials, if any, ``FORLOEB_CALDAV_USER`` and ``FORLOEB_CALDAV_PASSWORD``. The server is
asked before anything is written: unreachable or answering malformed free-busy, it is one
line and nothing is proposed or booked. No free slot before the deadline: the social
worker is told by mail (``report_no_slot``) and the command says so, exit 3.
"""

from __future__ import annotations

import os

import click

from flows import clock
from machines import GuardRejected, InvalidInput, WorkingCalendar

from ._io import CASE_ID, actor


@click.group()
def consultation() -> None:
    """Social workers in daycare: a parent's booking."""


@consultation.command("slots")
@click.argument("case_id", type=CASE_ID)
@click.option("--by", "by", required=True, help="the social worker (their e-mail on the case)")
@click.option(
    "--calendar", "calendar_url", required=True, help="the social worker's CalDAV calendar URL"
)
def slots(case_id: int, by: str, calendar_url: str) -> None:
    """Propose the first free slots of a booking case (exit 3 if there are none)."""
    from machines.consultation import SETTINGS, booking_deadline, working_hours
    from machines.recurring import label
    from notifications.freebusy import busy_times, free_slots
    from persistence import open_store

    store = open_store()
    snapshot = store.snapshot(case_id)
    case_file = snapshot.data.get("case_file", {})
    if snapshot.process != "consultation" or case_file.get("kind") != "booking":
        raise InvalidInput(f"case {case_id} is not a parent's booking (consultation, kind booking)")
    who = actor(by)
    if "social_worker" not in snapshot.roles_of(who):
        raise InvalidInput(f"--by {by} is not the social worker on case {case_id}")
    now = clock.now()
    calendar = WorkingCalendar.from_env()
    deadline = booking_deadline(snapshot, calendar, SETTINGS["booking_deadline_working_days"])
    busy = busy_times(
        calendar_url,
        now,
        deadline,
        username=os.environ.get("FORLOEB_CALDAV_USER"),
        password=os.environ.get("FORLOEB_CALDAV_PASSWORD"),
    )
    found = free_slots(
        busy,
        now,
        deadline,
        calendar,
        working_hours(SETTINGS),
        SETTINGS["advice_minutes"],
        SETTINGS["proposed_slots"],
    )
    if not found:
        store.fire(case_id, "report_no_slot", who, {}, now)
        raise GuardRejected(
            "propose_slots",
            f"no free slot in the social worker's calendar before {label(deadline)}; they "
            "have been told by mail: free a time in the calendar and run this again",
        )
    store.fire(case_id, "propose_slots", who, {"slots": [s.isoformat() for s in found]}, now)
    for slot in found:
        click.echo(label(slot))
