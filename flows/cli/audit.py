"""``forloeb audit CASE [--by EMAIL] [--json]``: who read a case, when, and through what.

Every read of a case or its form (``case show``, ``case form``, the desk's pages) leaves
an access row (``persistence.access_log``). The case's coordinator may see them; without
``--by`` the operator sees them with the case's participants by role and key, as in the
operator's view of the case itself (who reads a case can say who is on it).
"""

from __future__ import annotations

from typing import Any

import click

from machines import COPENHAGEN, CaseNotFound, CaseSnapshot
from persistence import access_log, open_store

from ._io import CASE_ID, actor, emit_json

__all__ = ["audit"]

#: The role on a case whose holder may read its audit trail.
AUDITOR_ROLE = "coordinator"


@click.command("audit")
@click.argument("case_id", type=CASE_ID)
@click.option("--by", "by", default=None, help="who asks (the case's coordinator's e-mail)")
@click.option("--json", "as_json", is_flag=True)
def audit(case_id: int, by: str | None, as_json: bool) -> None:
    """List the reads of case CASE_ID, oldest first: when, who, what, via, os user."""
    asker = actor(by) if by is not None else None  # a malformed address says nothing of the case
    store = open_store()
    snapshot = store.snapshot(case_id)
    if asker is not None and AUDITOR_ROLE not in snapshot.roles_of(asker):
        # The same line as for a case that does not exist: nothing about this one.
        raise CaseNotFound(case_id)
    reads = [
        _row(read, snapshot, operator=asker is None)
        for read in access_log.reads_of(store.engine, case_id)
    ]
    if as_json:
        emit_json(reads)
        return
    from ._io import printable
    from .render import local

    columns = (("at", 16), ("who", 40), ("what", 5), ("via", 5))
    click.echo("  ".join(name.ljust(width) for name, width in columns) + "  os user")
    for read in reads:
        cells = (local(read["at"]), printable(read["who"]), read["what"], read["via"])
        line = "  ".join(cell.ljust(width) for cell, (_, width) in zip(cells, columns, strict=True))
        os_user = printable(read["os_user"] or "—")
        click.echo(f"{line}  {os_user}{' (simulated clock)' if read['simulated_clock'] else ''}")


def _row(read: access_log.Access, case: CaseSnapshot, *, operator: bool) -> dict[str, Any]:
    context = read.context or {}
    return {
        "at": read.at.astimezone(COPENHAGEN).isoformat(),
        "who": _who(read.who, case) if operator else read.who,
        "what": read.what,
        "via": read.via,
        "os_user": context.get("os_user"),
        "simulated_clock": bool(context.get("simulated_clock")),
    }


def _who(who: str, case: CaseSnapshot) -> str:
    """A participant as "role:key" (the operator's view names nobody on the case); anyone
    else (the operator, a desk admin) as recorded: they are staff, not the case's people."""
    wanted = who.strip().lower()
    for person in case.participants:
        if person.email and person.email.lower() == wanted:
            return f"{person.role}:{person.key}"
    return who
