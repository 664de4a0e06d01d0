"""The CLI's one error boundary: an exception in, one line and an exit code out.

Lower layers raise the error tree of ``machines.errors`` with plain, structured messages;
this is the one place that adds what to type next (the hints name CLI commands, which
only the CLI knows), and the one place that translates library errors — by class, never
by matching words — into a line a person can act on. An exception's own text may quote
personal data (SQL parameters, a typed name), so an unexpected one is shown by its type.
"""

from __future__ import annotations

import click

from machines import CaseNotFound, Conflict, ForloebError, SchemaOutdated, StagedInputMissing

UNEXPECTED = "unexpected {name}; rerun with FORLOEB_DEBUG=1 for details"


def _hint(exc: ForloebError) -> str:
    """What to type next, for the errors whose remedy is a command."""
    match exc:
        case CaseNotFound():
            return "; list cases with: forloeb case list"
        case Conflict(case_id=case_id):
            return f" (forloeb case show {case_id})"
        case SchemaOutdated():
            return "; run: forloeb db upgrade"
        case StagedInputMissing():
            return "; stage it with: forloeb case stage"
    return ""


def one_line(exc: BaseException) -> tuple[str, int]:
    """The line (without "error: ") and the exit code for ``exc``."""
    if isinstance(exc, ForloebError):
        return f"{exc}{_hint(exc)}", exc.exit_code
    if isinstance(exc, click.exceptions.Abort):
        return "aborted", 1
    if isinstance(exc, click.UsageError):
        hint = f" (see: {exc.ctx.command_path} --help)" if exc.ctx else ""
        return f"{exc.format_message()}{hint}", 2
    if isinstance(exc, click.ClickException):
        return exc.format_message(), exc.exit_code
    library = _library_error(exc)
    if library is not None:
        return library
    return UNEXPECTED.format(name=type(exc).__name__), 1


def _library_error(exc: BaseException) -> tuple[str, int] | None:
    """Errors of the libraries under us, by class. Imported lazily: a command that never
    touched the database must not pay for importing its driver's errors."""
    import sys

    sqlalchemy_exc = sys.modules.get("sqlalchemy.exc")
    if sqlalchemy_exc is not None and isinstance(exc, sqlalchemy_exc.SQLAlchemyError):
        if isinstance(exc, sqlalchemy_exc.OperationalError | sqlalchemy_exc.InterfaceError):
            return (
                "the database cannot be reached or read; check FORLOEB_DATABASE_URL "
                "(and that the server is running)",
                1,
            )
        if isinstance(exc, sqlalchemy_exc.ProgrammingError):
            return (
                "the database refused a statement (is it a forloeb database?); check "
                "FORLOEB_DATABASE_URL and run: forloeb db upgrade",
                1,
            )
        return (
            f"the database refused ({type(exc).__name__}); rerun with FORLOEB_DEBUG=1 for details",
            1,
        )
    httpx = sys.modules.get("httpx")
    if httpx is not None and isinstance(exc, httpx.HTTPError):
        return (
            "the Prefect server did not answer; check PREFECT_API_URL, or unset it to use "
            "the embedded server (forloeb server status)",
            1,
        )
    return None
