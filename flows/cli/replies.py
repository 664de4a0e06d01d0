"""The ``replies`` command: read the organizer mailbox now (the sweep also does it)."""

from __future__ import annotations

import click

from flows.clock import now as clock_now
from flows.replies import counts, read_replies
from machines import ConfigurationError, ForloebError
from persistence import ensure_schema, make_engine

from ._io import emit_json


@click.group("replies")
def replies() -> None:
    """Participants' answers to invitations (iTIP REPLY) from the organizer mailbox."""


@replies.command("fetch")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
def replies_fetch(as_json: bool) -> None:
    """Read every new mail in FORLOEB_IMAP_FOLDER once, apply the answers, move the mails
    to FORLOEB_IMAP_PROCESSED_FOLDER; then queue reminders to who has not answered."""
    engine = make_engine()
    ensure_schema(engine)
    report, reminders = read_replies(engine, clock_now())
    if report is None:
        raise ConfigurationError(
            "FORLOEB_IMAP_HOST is not set; set FORLOEB_IMAP_HOST, FORLOEB_IMAP_USER and "
            "FORLOEB_IMAP_PASSWORD to the organizer mailbox"
        )
    if as_json:
        emit_json({**report.as_dict(), "reminders": reminders, **counts(report, reminders)})
    else:
        click.echo(f"replies: {report.summary()}; reminders queued {reminders}")
        for reason, count in sorted(report.reasons.items()):
            click.echo(f"  ignored {count}: {reason}")
    if report.error:
        raise ForloebError(f"{report.error}; nothing was changed, try again later")
