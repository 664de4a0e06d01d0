"""``forloeb``: the operators' and coordinators' command line. Its command names, JSON shapes
and exit codes are a public contract.

Exit codes: 0 ok; 2 invalid input; 3 refused by the process; 4 conflict; 1 anything else.
Every failure is one line on stderr that says what to do (``errors.one_line``, the only
place that turns an exception into words for a person); a traceback only with
``FORLOEB_DEBUG=1``.

Each command's module is imported only when that command runs: ``forloeb case show`` must
not pay for Prefect, SMTP or iCalendar (DESIGN: commands start fast).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from ._io import printable
from .errors import one_line

#: command name -> "module:attribute" of its click command, relative to this package.
COMMANDS = {
    "case": ".case:case",
    "sweep": ".prefect:sweep",
    "capacity": ".case:capacity_command",
    "process": ".process:process",
    "server": ".prefect:server_group",
    "serve": ".prefect:serve",
    "db": ".admin:db",
    "demo": ".admin:demo",
    "outbox": ".outbox:outbox",
    "replies": ".replies:replies",
    "mailbox": ".outbox:mailbox",
    "absence": ".absence:absence",
    "calendar": ".absence:calendar",
    "schools": ".absence:schools",
    "desk": "desk.cli:desk",
    "retention": ".retention:retention",
    "audit": ".audit:audit",
    "rota": ".rota:rota",
    "consultation": ".consultation:consultation",
}


class ForloebCLI(click.Group):
    """The root group: loads a command's module on first use and is the one error boundary."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        package = __name__ if module_name.startswith(".") else None
        command = getattr(importlib.import_module(module_name, package), attribute)
        assert isinstance(command, click.Command)
        return command

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        **extra: Any,
    ) -> None:
        """Run a command; every failure becomes one line and an exit code (also under a
        test's ``CliRunner``, which calls this method)."""
        extra.pop("standalone_mode", None)
        try:
            super().main(
                args=args, prog_name=prog_name or "forloeb", standalone_mode=False, **extra
            )
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except BaseException as exc:
            if isinstance(exc, SystemExit | KeyboardInterrupt) and not isinstance(
                exc, click.exceptions.Abort
            ):
                raise
            if os.environ.get("FORLOEB_DEBUG") == "1" and not isinstance(exc, click.ClickException):
                raise
            message, code = one_line(exc)
            # One line, and nothing a terminal would act on (escape, bell, direction
            # overrides), whatever a message came to hold.
            click.echo(f"error: {printable(message)}", err=True)
            sys.exit(code)
        sys.exit(0)


@click.group(cls=ForloebCLI, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """forloeb — the municipality's meeting processes as state machines."""
    check_settings()


def check_settings() -> None:
    """Every FORLOEB_* setting that a command might read, checked before any command runs:
    a malformed one is one line and exit 2 for every command, not only for those that
    happen to read it today."""
    from flows import clock
    from machines import WorkingCalendar
    from notifications.settings import ImapSettings, SmtpSettings

    WorkingCalendar.from_env()
    clock.now()
    SmtpSettings.from_env()
    ImapSettings.from_env()


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="forloeb")


def console() -> None:
    """The ``forloeb`` command: ``main``, then out without the interpreter's teardown.

    Tearing down SQLAlchemy's, pydantic's and the definitions' modules took about 80 ms of
    `forloeb case show`'s 0.4 s (measured). Everything a command writes is committed
    before it returns and its output is flushed here, so nothing is lost by skipping it.
    A command that loaded Prefect exits the usual way: Prefect's exit hooks send its
    events. (Tests call ``main``, which only raises ``SystemExit``.)
    """
    try:
        main()
        code: int | str | None = 0
    except SystemExit as exit_:
        code = exit_.code
    if "prefect" in sys.modules or isinstance(code, str):
        sys.exit(code)
    import logging

    logging.shutdown()  # forloeb's own log, flushed and closed
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)
