"""``forloeb db upgrade`` and ``forloeb demo``."""

from __future__ import annotations

import click

from persistence import make_engine, upgrade


@click.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Bring the schema up to date; then refuse (exit 2) if a process definition would
    strand an open case (see: forloeb process migrate)."""
    upgrade(make_engine())
    click.echo("database schema is up to date")
    from .process import refuse_stranded

    refuse_stranded()


@click.command()
@click.option("--database", default=None, help="database URL (default: a fresh temporary one)")
@click.option("--mail-dir", default="demo-mail", show_default=True, help="where the mails land")
def demo(database: str | None, mail_dir: str) -> None:
    """samråd, handover and coaching on a simulated clock, printed as timelines."""
    from flows.demo import run_demo

    from .render import console

    run_demo(console(), database, mail_dir)
