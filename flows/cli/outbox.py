"""The ``outbox`` and ``mailbox`` commands, registered in the main ``forloeb`` CLI.

Failures are one line on stderr; exit code 2 for bad input, 1 for anything else (the
SMTP server cannot be reached, a message failed with nobody to tell).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click
from sqlalchemy import Engine

from flows.clock import now as clock_now
from machines import COPENHAGEN, ForloebError, InvalidInput
from notifications import Mailbox, deliver_outbox, list_outbox, outbox_counts, retry_failed
from notifications.capture import DEFAULT_HOST, DEFAULT_PORT, run_mailbox
from notifications.delivery import STATUSES
from persistence import ensure_schema, make_engine

from ._io import CASE_ID, emit_json


def _engine() -> Engine:
    engine = make_engine()
    ensure_schema(engine)
    return engine


@click.group("outbox")
def outbox() -> None:
    """The messages waiting to be sent, sent, and failed."""


@outbox.command("deliver")
@click.option("--batch", default=100, show_default=True, help="messages per SMTP connection")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
def outbox_deliver(batch: int, as_json: bool) -> None:
    """Send every due message (SMTP settings from FORLOEB_SMTP_*)."""
    if batch < 1:
        raise InvalidInput("--batch must be at least 1")
    report = deliver_outbox(_engine(), clock_now(), batch=batch)
    if as_json:
        emit_json(report.as_dict())
    else:
        click.echo(f"outbox: {report.summary()}")
    if report.transport_error:
        raise ForloebError(f"{report.transport_error}; the messages stay pending")
    if report.unescalated:
        raise ForloebError(
            f"outbox rows {report.unescalated} failed and no coordinator could be told; "
            "see: forloeb outbox list --status failed"
        )


def _local(iso: str | None) -> str:
    """Copenhagen wall-clock time for people; the JSON keeps the exact UTC value."""
    if not iso:
        return ""
    return datetime.fromisoformat(iso).astimezone(COPENHAGEN).strftime("%Y-%m-%d %H:%M")


_COLUMNS = ("id", "case", "template", "participant", "to", "status", "attempts", "when")


@outbox.command("list")
@click.option("--status", type=click.Choice(STATUSES), default=None)
@click.option("--case", "case_id", type=CASE_ID, default=None, help="only this case")
@click.option("--limit", type=click.IntRange(min=1), default=200, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def outbox_list(status: str | None, case_id: int | None, limit: int, as_json: bool) -> None:
    """Messages, newest first: pending, sent, failed (and superseded)."""
    engine = _engine()
    rows = list_outbox(engine, status=status, case_id=case_id, limit=limit)
    if as_json:
        emit_json(rows)
        return
    counts = outbox_counts(engine)
    click.echo(", ".join(f"{k}: {v}" for k, v in counts.items()))
    if not rows:
        return
    table = [_COLUMNS] + [
        (
            str(r["id"]),
            str(r["case"]),
            r["template"] + (f"/{r['topic']}" if r["topic"] else ""),
            f"{r['participant']} ({r['role']})",
            r["to"] or "",
            r["status"],
            str(r["attempts"]),
            _local(r["sent_at"] or r["next_attempt_at"]),
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(_COLUMNS))]
    for line in table:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
    for r in rows:
        if r["status"] in {"pending", "failed"} and r["last_error"]:
            click.echo(f"  #{r['id']}: {r['last_error']}")


@outbox.command("retry")
@click.argument("ids", nargs=-1, type=CASE_ID)
@click.option("--case", "case_id", type=CASE_ID, default=None, help="every failed row of this case")
def outbox_retry(ids: tuple[int, ...], case_id: int | None) -> None:
    """Queue failed messages again (after fixing an address or the server)."""
    if not ids and case_id is None:
        raise InvalidInput("name the outbox rows to retry, or --case N for all failed of a case")
    count = retry_failed(_engine(), clock_now(), ids, case_id)
    click.echo(f"outbox: {count} message(s) queued again")


@click.command("mailbox")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--dir", "directory", default="mailbox", show_default=True, type=click.Path(file_okay=False)
)
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="address to listen on")
def mailbox(port: int, directory: str, host: str) -> None:
    """A local mail server that saves each message as .eml and its invitation as .ics."""

    def ready(box: Mailbox) -> None:
        settings = " ".join(f"{k}={v}" for k, v in box.env().items())
        click.echo(f"mailbox: listening on {box.host}:{box.port}, saving to {box.directory}/")
        click.echo(f"send to it with: {settings}")
        click.echo("stop with Ctrl-C")

    run_mailbox(port=port, directory=Path(directory), host=host, on_ready=ready)
