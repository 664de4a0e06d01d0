"""``forloeb absence|calendar|schools``: import registrations, calendars and the school
directory; scan for worrying absence.

The file formats (all UTF-8, header line required, ``;`` or ``,`` separated):

``forloeb absence import FILE [--school S]``
    ``pupil_ref,school,grade,date,period,code`` — ``pupil_ref`` a pseudonymous reference
    (lower-case letters, digits, ``-``, ``_``; never a CPR number), ``grade`` 0–10,
    ``date`` YYYY-MM-DD, ``period`` ``morning``, ``end_of_day`` or ``lesson:N``, ``code``
    S (sick), L (lawful), U (unlawful), F (late), T (left early). With ``--school`` the
    ``school`` column may be left out or empty, and a row naming another school is an error.
``forloeb calendar import FILE``
    ``school,first_day,last_day[,name]`` — holiday periods, both days included; school
    ``*`` for every school. A school's own calendar wins over ``*``, which wins over the
    defaults, each for the span from its first to its last period.
``forloeb schools import FILE``
    ``school,name,leader_name,leader_email,coordinator_email`` and optionally
    ``coordinator_name``, ``grade,teacher_name,teacher_email`` (one row per grade with a
    teacher, the school's columns repeated).

Errors are one line on stderr that says what to do; exit 2 for bad input, 1 otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any, TextIO, TypeVar

import click
from sqlalchemy import Engine

from flows import absence as flow
from flows import absence_csv, clock
from machines import InvalidInput
from machines.absence import AbsenceRules
from persistence import absence as repo
from persistence import ensure_schema, make_engine

__all__ = ["absence", "calendar", "schools"]

F = TypeVar("F", bound=Callable[..., Any])


@contextmanager
def _engine() -> Iterator[Engine]:
    engine = make_engine()
    try:
        ensure_schema(engine)
        yield engine
    finally:
        engine.dispose()


@contextmanager
def _open(path: str) -> Iterator[TextIO]:
    try:
        # utf-8-sig: Excel's "CSV UTF-8" starts with a byte-order mark.
        stream = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}; check the path") from None
    with stream:
        yield stream


#: The options a file's own checks refer to, by the name ``flows.absence_csv`` gives them.
_OPTIONS = {"school": "--school"}


@contextmanager
def _options_named() -> Iterator[None]:
    """Say which option a bad given value or a contradicting row is about: the reader
    knows the value, only the command knows the option it came from."""
    try:
        yield
    except absence_csv.RefusedFile as exc:
        raise InvalidInput(exc.describe(_OPTIONS)) from None
    except absence_csv.InvalidGiven as exc:
        raise InvalidInput(f"{_OPTIONS.get(exc.given, exc.given)}: {exc}") from None


def _emit(payload: dict[str, Any], as_json: bool, line: str) -> None:
    click.echo(json.dumps(payload, ensure_ascii=False, indent=2) if as_json else line)


# ---------------------------------------------------------------- absence


@click.group("absence")
def absence() -> None:
    """Absence registrations: import them, scan them for worrying absence."""


@absence.command("import")
@click.argument("file")
@click.option("--school", help="the school the file is from; rows for another school are errors")
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
def import_absence(file: str, school: str | None, as_json: bool) -> None:
    """Import registrations (pupil_ref,school,grade,date,period,code). All or nothing."""
    size = Path(file).stat().st_size if Path(file).is_file() else 0
    with (
        _options_named(),
        _engine() as engine,
        _open(file) as stream,
        _progress(size) as progress,
    ):
        rows = absence_csv.read_registrations(
            stream, name=Path(file).name, school=school, progress=progress
        )
        report = repo.import_registrations(engine, rows)
    result = report.as_dict()
    span = f", {result['first_day']} … {result['last_day']}" if report.rows else ""
    _emit(
        result,
        as_json,
        f"imported {report.rows:,} rows from {Path(file).name}{span}: {report.changed:,} new "
        f"or changed, {result['unchanged']:,} unchanged; new pupils: {report.pupils_new:,}",
    )


@contextmanager
def _progress(total: int) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr, only for a person at a terminal and a large file."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    if not console.is_terminal or total < 5_000_000:
        yield None
        return
    with Progress(
        TextColumn("importing"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("import", total=total)
        yield lambda done: bar.update(task, completed=min(done, total))


@absence.command("scan")
@click.option("--school", help="scan only this school's pupils")
@click.option(
    "--since",
    help="look for threshold hits from this date (default: the previous quarter's first day)",
)
@click.option("--json", "as_json", is_flag=True, help="print what was found as JSON")
def scan_absence(school: str | None, since: str | None, as_json: bool) -> None:
    """Find worrying absence; open samråd cases and record the national-rule tasks.

    Thresholds come from FORLOEB_ABSENCE_THRESHOLDS, e.g.
    "streak=5,short=7/20,long=15/60,comes_goes=3/20,episode_gap=10".
    """
    rules = AbsenceRules.from_env()
    start = None
    if since is not None:
        try:
            start = date.fromisoformat(since)
        except ValueError:
            # Not repeated: what is there instead of a day may be a name or a CPR number.
            raise InvalidInput("--since is not a date; write e.g. 2026-01-01") from None
        # As every other day and time: 0001-01-01 overflowed the scan's date arithmetic
        # (exit 1, "unexpected ValueError") and 9999-12-31 was taken.
        if not 2000 <= start.year < 2100:
            raise InvalidInput("--since must lie between the years 2000 and 2099")
    now = clock.now()
    with _engine() as engine:
        report = flow.scan(engine, now, rules=rules, school=school, since=start)
    counts = report.counts()
    line = (
        f"scanned {report.pupils:,} pupils as of {report.as_of} (hits from {report.since}): "
        f"{report.episodes_new} new episodes, {counts['cases_opened']} samråd cases opened, "
        f"{counts['cases_joined']} joined an open case, {counts['tasks_new']} new tasks"
    )
    if not as_json:
        for case in report.cases:
            line += (
                f"\n  case {case['case_id']} ({case['status']}): {case['school']}, "
                f"{case['pupil_ref']}, {', '.join(case['thresholds'])} from {case['first_day']}"
            )
        for task in report.tasks:
            line += (
                f"\n  task {task['kind']} {task['quarter']}: {task['school']}, "
                f"{task['pupil_ref']}, U {task['u_days']:g} of {task['school_days']} school days"
            )
        for warning in report.warnings:
            click.echo(f"warning: {warning}", err=True)
    _emit(report.as_json(), as_json, line)


# ---------------------------------------------------------------- calendar


@click.group("calendar")
def calendar() -> None:
    """School calendars: the holiday periods that are not school days."""


@calendar.command("import")
@click.argument("file")
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
def import_calendar(file: str, as_json: bool) -> None:
    """Import holiday periods (school,first_day,last_day[,name]; school * for all)."""
    with _engine() as engine, _open(file) as stream:
        periods = absence_csv.read_calendar(stream, name=Path(file).name)
        report = repo.import_calendar(engine, periods)
    _emit(
        report.as_dict(),
        as_json,
        f"imported {report.periods} holiday periods for {', '.join(report.schools) or 'no school'}"
        f" ({report.replaced} stored periods replaced)",
    )


# ---------------------------------------------------------------- schools


@click.group("schools")
def schools() -> None:
    """The school directory: leaders, coordinators and teachers the scan invites."""


@schools.command("import")
@click.argument("file")
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
def import_schools(file: str, as_json: bool) -> None:
    """Import schools (school,name,leader_name,leader_email,coordinator_email[,...])."""
    now = clock.now()
    with _engine() as engine, _open(file) as stream:
        entries = absence_csv.read_schools(stream, name=Path(file).name)
        report = repo.import_schools(engine, entries, now=now)
    _emit(
        report.as_dict(),
        as_json,
        f"imported {report.schools} schools and {report.teachers} teachers",
    )
